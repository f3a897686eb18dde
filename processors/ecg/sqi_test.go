package ecg

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
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
		h, err := wfdb.ReadHeader(filepath.Join(dir, rec+".hea"))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := h.ReadSignals()
		if err != nil {
			t.Fatal(err)
		}
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
