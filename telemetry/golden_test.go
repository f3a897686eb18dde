package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.json from the decoder's output (review the diff!)")

// golden is what expected.json holds: the decoded payload, or the error a
// device would see on its errors topic.
type golden struct {
	Measurements []Measurement `json:"measurements,omitempty"`
	ECG          []ECGFrame    `json:"ecg,omitempty"`
	Error        *goldenError  `json:"error,omitempty"`
}

type goldenError struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// TestGolden decodes testdata/<case>/input.json, received at recv, and
// compares with testdata/<case>/expected.json.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "input.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases found")
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			payload, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var g golden
			d, derr := Decode(payload, recv, DecodeOptions{})
			if derr != nil {
				var e *Error
				if !errors.As(derr, &e) {
					t.Fatalf("error %T is not *Error", derr)
				}
				g.Error = &goldenError{Reason: e.Reason, Detail: e.Detail}
			}
			g.Measurements, g.ECG = d.Measurements, d.ECG
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join(dir, "expected.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update and review the result)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("decoded %s differs from %s:\n got: %s\nwant: %s", in, path, got, want)
			}
		})
	}
}
