package ecg

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/processors/ecg/ec57"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// resample linearly interpolates x from fs to fs2; enough for a detector
// whose band ends at 15 Hz.
func resample(x []float32, fs, fs2 float64) []float32 {
	n := int(float64(len(x)) * fs2 / fs)
	out := make([]float32, n)
	for i := range out {
		p := float64(i) * fs / fs2
		k := int(p)
		if k+1 >= len(x) {
			out[i] = x[len(x)-1]
			continue
		}
		f := float32(p - float64(k))
		out[i] = x[k]*(1-f) + x[k+1]*f
	}
	return out
}

// TestEvalOtherRates: the same records resampled to other device rates
// must score like the originals (no tuning is rate-specific).
func TestEvalOtherRates(t *testing.T) {
	if testing.Short() {
		t.Skip("several full passes over the database")
	}
	dir := mitdbtest.Dir(t)
	heads, _ := filepath.Glob(filepath.Join(dir, "*.hea"))
	for _, fs2 := range []float64{128, 500} {
		gross := ec57.Result{Record: "gross"}
		worst := ec57.Result{TP: 1}
		for _, hp := range heads {
			h, err := wfdb.ReadHeader(hp)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := h.ReadSignals()
			if err != nil {
				t.Fatal(err)
			}
			x := resample(h.Physical(0, sig[0]), h.FS, fs2)
			det := DetectSamples(x, fs2, int(fs2))
			for i, d := range det {
				det[i] = int64(math.Round(float64(d) * h.FS / fs2))
			}
			ref, err := wfdb.ReadAnnotations(strings.TrimSuffix(hp, ".hea") + ".atr")
			if err != nil {
				t.Fatal(err)
			}
			r := ec57.Compare(ref, det, h.FS, ec57.Options{})
			r.Record = h.Record
			gross = gross.Add(r)
			if min(r.Se(), r.PPV()) < min(worst.Se(), worst.PPV()) {
				worst = r
			}
		}
		t.Logf("%v Hz: %s; worst %s", fs2, gross, worst)
		if gross.Se() < 99.3 || gross.PPV() < 99.3 || min(worst.Se(), worst.PPV()) < 97 {
			t.Errorf("%v Hz: %s, worst %s", fs2, gross, worst)
		}
	}
}
