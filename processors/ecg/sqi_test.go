package ecg

import (
	"math"
	"math/rand"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
)

func rate(x []float32, fs float64) []Quality {
	var out []Quality
	NewSQI(fs, 0).Process(x, func(q Quality) { out = append(out, q) })
	return out
}

func TestSQICases(t *testing.T) {
	const fs = 250
	clean, _ := synth(fs, 10, 0.8, 1, 0.01, 10)
	constant := make([]float32, 10*fs)
	rail := make([]float32, 10*fs)
	for i := range rail {
		rail[i] = 10.235
	}
	// An amplifier driven into its upper rail: everything above the
	// rail reads as the rail.
	clipped, _ := synth(fs, 10, 0.8, 1, 0.02, 11)
	for i, v := range clipped {
		wander := 0.2 * math.Sin(2*math.Pi*0.3*float64(i)/fs)
		clipped[i] = float32(math.Min(float64(v)-wander, 0))
	}
	flat := baseline(fs, 10, 0.002, 12)
	for i := range flat {
		flat[i] = float32(0.002 * rand.New(rand.NewSource(int64(i))).NormFloat64())
	}
	noisy, _ := synth(fs, 10, 0.8, 1, 0.3, 13)
	cases := []struct {
		name   string
		x      []float32
		good   bool
		reason string
	}{
		{"clean", clean, true, ReasonOK},
		{"constant", constant, false, ReasonLeadOff},
		{"rail", rail, false, ReasonLeadOff},
		{"clipped", clipped, false, ReasonSaturated},
		{"flat", flat, false, ReasonFlat},
		{"noisy", noisy, false, ReasonNoise},
	}
	for _, c := range cases {
		qs := rate(c.x, fs)
		if len(qs) != 10 {
			t.Fatalf("%s: %d windows in 10 s", c.name, len(qs))
		}
		for i, q := range qs {
			if (q.Index >= 0.5) != c.good || q.Reason != c.reason {
				t.Errorf("%s window %d: %.2f %s, want good=%v %s", c.name, i, q.Index, q.Reason, c.good, c.reason)
			}
			if q.Index < 0 || q.Index > 1 {
				t.Errorf("%s: index %v outside 0..1", c.name, q.Index)
			}
		}
	}
}

// TestSQIOnRecords: the MIT-BIH recordings are clinical-quality; nearly
// all of their seconds must rate usable.
func TestSQIOnRecords(t *testing.T) {
	dir := mitdbtest.Dir(t)
	for _, rec := range mitdbtest.Records(t, dir) {
		h, sig := readRecord(t, dir, rec)
		qs := rate(h.Physical(0, sig[0]), h.FS)
		bad := map[string]int{}
		nbad := 0
		for _, q := range qs {
			if q.Index < 0.5 {
				bad[q.Reason]++
				nbad++
			}
		}
		t.Logf("%s: %d of %d windows bad %v", rec, nbad, len(qs), bad)
		if float64(nbad) > 0.01*float64(len(qs)) {
			t.Errorf("%s: %d of %d windows rated bad %v", rec, nbad, len(qs), bad)
		}
	}
}

// TestSQIBaseline: a front end recovering from an overload slides back
// with no ECG on it and is unusable while the slide is steep and for as
// long as it goes on the same way; baseline wander under beats, and
// breathing on the flat line of an asystole, are not that.
func TestSQIBaseline(t *testing.T) {
	const fs = 360
	rng := rand.New(rand.NewSource(21))
	slide := make([]float32, 10*fs)
	breathing := make([]float32, 10*fs)
	for i := range slide {
		tt := float64(i) / fs
		slide[i] = float32(4*math.Exp(-tt/2) + 0.01*rng.NormFloat64())
		breathing[i] = float32(0.25*math.Sin(2*math.Pi*0.3*tt) + 0.025*rng.NormFloat64())
	}
	for i, q := range rate(slide, fs) {
		// The slide per window is 1.6, 0.95, 0.58, 0.35, 0.21, 0.13 mV,
		// ...: the first three are steep, the fourth continues them,
		// the fifth and sixth are about the 0.2 mV tail floor, and the
		// rest is a flat line again.
		if i == 4 || i == 5 {
			continue
		}
		want := i < 4
		if got := q.Reason == ReasonBaseline && q.Index < 0.5; got != want {
			t.Errorf("slide window %d: %.2f %s, want baseline %v", i, q.Index, q.Reason, want)
		}
	}
	for i, q := range rate(breathing, fs) {
		if q.Index < 0.5 || q.Reason != ReasonOK {
			t.Errorf("breathing on a flat line, window %d: %.2f %s, want ok", i, q.Index, q.Reason)
		}
	}
	// Beats on a baseline wandering 1 mV at 0.5 Hz: fast for respiration,
	// and still an ECG.
	beats, _ := synth(fs, 10, 0.8, 1, 0.01, 22)
	for i := range beats {
		beats[i] += float32(math.Sin(2 * math.Pi * 0.5 * float64(i) / fs))
	}
	for i, q := range rate(beats, fs) {
		if q.Index < 0.5 || q.Reason != ReasonOK {
			t.Errorf("beats on a wandering baseline, window %d: %.2f %s, want ok", i, q.Index, q.Reason)
		}
	}
}
