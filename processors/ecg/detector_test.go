package ecg

import (
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// synth makes a simple ECG at fs: a QRS-like biphasic spike of amp mV
// every rr seconds, a T wave, baseline wander and white noise.
func synth(fs float64, seconds, rr, amp, noise float64, seed int64) ([]float32, []int64) {
	rng := rand.New(rand.NewSource(seed))
	n := int(seconds * fs)
	x := make([]float32, n)
	var peaks []int64
	for t := 0.5; t < seconds-0.5; t += rr {
		peaks = append(peaks, int64(math.Round(t*fs)))
	}
	for i := range x {
		t := float64(i) / fs
		v := 0.2*math.Sin(2*math.Pi*0.3*t) + noise*rng.NormFloat64()
		for _, p := range peaks {
			dt := t - float64(p)/fs
			if dt < -0.3 || dt > 0.6 {
				continue
			}
			v += amp * math.Exp(-dt*dt/(2*0.01*0.01))                        // R
			v -= 0.25 * amp * math.Exp(-(dt-0.03)*(dt-0.03)/(2*0.008*0.008)) // S
			v += 0.3 * amp * math.Exp(-(dt-0.3)*(dt-0.3)/(2*0.04*0.04))      // T
		}
		x[i] = float32(v)
	}
	return x, peaks
}

func TestDetectorSynthetic(t *testing.T) {
	for _, fs := range []float64{100, 128, 250, 360, 500, 1000} {
		for _, rr := range []float64{0.27, 0.35, 0.8, 1.5, 2.5} {
			x, want := synth(fs, 60, rr, 1, 0.02, 1)
			got := DetectSamples(x, fs, int(fs))
			// Beats after the 2 s learning must all be found within 20 ms.
			tol := int64(math.Ceil(0.02 * fs))
			j, found, extra := 0, 0, 0
			for _, g := range got {
				for j < len(want) && want[j] < g-tol {
					j++
				}
				if j < len(want) && abs64(want[j]-g) <= tol {
					found++
					j++
				} else {
					extra++
				}
			}
			if found != len(want) || extra != 0 {
				t.Errorf("fs %v rr %v: found %d of %d beats, %d extra", fs, rr, found, len(want), extra)
			}
		}
	}
}

// TestStreamingEquivalence: frames of 1, 7, 250 and 5000 samples must give
// exactly the beats of one whole-record call.
func TestStreamingEquivalence(t *testing.T) {
	var x []float32
	fs := 360.0
	if dir, ok := mitdbtest.Find(); ok {
		h, err := wfdb.ReadHeader(filepath.Join(dir, "203.hea"))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := h.ReadSignals()
		if err != nil {
			t.Fatal(err)
		}
		x = h.Physical(0, sig[0][:360*300])
	} else {
		x, _ = synth(fs, 300, 0.7, 1, 0.05, 2)
	}
	whole := DetectSamples(x, fs, len(x))
	if len(whole) < 200 {
		t.Fatalf("only %d beats in 5 minutes", len(whole))
	}
	for _, frame := range []int{1, 7, 250, 5000} {
		got := DetectSamples(x, fs, frame)
		if len(got) != len(whole) {
			t.Fatalf("frame %d: %d beats, whole record %d", frame, len(got), len(whole))
		}
		for i := range got {
			if got[i] != whole[i] {
				t.Fatalf("frame %d: beat %d at %d, whole record at %d", frame, i, got[i], whole[i])
			}
		}
	}
}

// TestResetRestarts: after Reset the detector behaves as a new one.
func TestResetRestarts(t *testing.T) {
	x, _ := synth(250, 30, 0.8, 1, 0.02, 3)
	fresh := DetectSamples(x, 250, 250)
	d := NewDetector(250)
	d.Process(x[:5000], func(Beat) {})
	d.Reset()
	var got []int64
	d.Process(x, func(b Beat) { got = append(got, b.Index) })
	if len(got) != len(fresh) {
		t.Fatalf("after reset %d beats, fresh detector %d", len(got), len(fresh))
	}
	for i := range got {
		if got[i] != fresh[i] {
			t.Fatalf("beat %d: %d after reset, %d fresh", i, got[i], fresh[i])
		}
	}
}

func BenchmarkDetector(b *testing.B) {
	dir := mitdbtest.Dir(b)
	h, err := wfdb.ReadHeader(filepath.Join(dir, "208.hea"))
	if err != nil {
		b.Fatal(err)
	}
	sig, err := h.ReadSignals()
	if err != nil {
		b.Fatal(err)
	}
	x := h.Physical(0, sig[0])
	frame := int(h.FS)
	d := NewDetector(h.FS)
	beats := 0
	emit := func(Beat) { beats++ }
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Reset()
		for i := 0; i < len(x); i += frame {
			d.Process(x[i:min(i+frame, len(x))], emit)
		}
	}
	b.StopTimer()
	perRecord := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(len(x))/h.FS/perRecord, "x_realtime")
	b.ReportMetric(float64(beats)/float64(b.N), "beats/record")
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
