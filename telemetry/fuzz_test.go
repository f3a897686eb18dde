package telemetry

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// FuzzDecode: whatever a device sends, Decode does not panic, rejects with
// a known reason, or accepts only what the vocabulary allows.
func FuzzDecode(f *testing.F) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*", "input.json"))
	for _, in := range inputs {
		b, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"hr": 72}`, `{"event": "sos"}`, `[{"n":"hr","v":60,"t":-1}]`, `[{"bn":"a:","bv":1e308,"n":"hr","v":1e308}]`,
		`{"ecg": {"fs": 250, "gain": 1e-30, "samples": [1e30]}}`, `{"units": {"temp": "°F"}, "temp": 100}`,
		`[{"bt": 1e300, "n": "hr", "v": 60}]`, `{"ts": 9e15, "hr": 60}`, `[{"n":"event","vs":"fall","a_":1}]`,
	} {
		f.Add([]byte(s))
	}
	reasons := Reasons()
	opt := DecodeOptions{MaxBytes: 64 << 10, MaxReadings: 500}
	f.Fuzz(func(t *testing.T, payload []byte) {
		d, err := Decode(payload, recv, opt)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !slices.Contains(reasons, e.Reason) || e.Detail == "" {
				t.Fatalf("error %#v is not an *Error with a known reason and a detail", err)
			}
			if len(d.Measurements) != 0 || len(d.ECG) != 0 {
				t.Fatalf("rejected payload returned data")
			}
			return
		}
		if len(d.Measurements)+len(d.ECG) == 0 {
			t.Fatal("accepted an empty payload")
		}
		if len(d.Measurements)+len(d.ECG) > opt.MaxReadings {
			t.Fatalf("accepted %d readings", len(d.Measurements)+len(d.ECG))
		}
		checkWindow := func(tm time.Time, skewed bool) {
			if skewed && !tm.Equal(recv) {
				t.Fatalf("skewed time %v is not the receive time", tm)
			}
			if tm.After(recv.Add(DefaultMaxFuture)) || tm.Before(recv.Add(-DefaultMaxPast)) {
				t.Fatalf("time %v outside the skew window", tm)
			}
		}
		for _, m := range d.Measurements {
			spec, ok := Lookup(m.Metric)
			if !ok || spec.Derived || spec.Waveform {
				t.Fatalf("accepted metric %q", m.Metric)
			}
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || m.Value < spec.Min || m.Value > spec.Max {
				t.Fatalf("accepted %s = %v outside %v..%v", m.Metric, m.Value, spec.Min, spec.Max)
			}
			if (m.Metric == Event) != (m.Text != "") || (m.Text != "" && !ValidEventKind(m.Text)) {
				t.Fatalf("bad event text %q on %s", m.Text, m.Metric)
			}
			checkWindow(m.Time, m.Skewed)
		}
		for _, fr := range d.ECG {
			if fr.FS < DefaultMinECGRate || fr.FS > DefaultMaxECGRate || len(fr.Samples) < 1 || len(fr.Samples) > DefaultMaxECGSamples {
				t.Fatalf("accepted frame fs %v with %d samples", fr.FS, len(fr.Samples))
			}
			for _, s := range fr.Samples {
				if x := float64(s); math.IsNaN(x) || math.IsInf(x, 0) || x < -ecgLimitMV || x > ecgLimitMV {
					t.Fatalf("accepted sample %v", s)
				}
			}
			checkWindow(fr.Start, fr.Skewed)
		}
	})
}
