package ecg

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/medbiz/medbiz/processors/ecg/ec57"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// DetectRecord runs a fresh Detector over the first signal of a WFDB
// record, fed in frames of the given duration (1 s when zero) as a device
// would send them, and returns the R-peak sample indices.
func DetectRecord(headerPath string, frame time.Duration) ([]int64, *wfdb.Header, error) {
	h, err := wfdb.ReadHeader(headerPath)
	if err != nil {
		return nil, nil, err
	}
	sig, err := h.ReadSignals()
	if err != nil {
		return nil, nil, fmt.Errorf("record %s: %w", h.Record, err)
	}
	x := h.Physical(0, sig[0])
	n := 0
	if frame > 0 {
		n = max(1, int(frame.Seconds()*h.FS))
	}
	return DetectSamples(x, h.FS, n), h, nil
}

// DetectSamples runs a fresh Detector over x in frames of frame samples
// (one second's worth when zero).
func DetectSamples(x []float32, fs float64, frame int) []int64 {
	if frame <= 0 {
		frame = max(1, int(fs))
	}
	d := NewDetector(fs)
	beats := make([]int64, 0, len(x)/int(fs)*3)
	emit := func(b Beat) { beats = append(beats, b.Index) }
	for i := 0; i < len(x); i += frame {
		d.Process(x[i:min(i+frame, len(x))], emit)
	}
	return beats
}

// EvalRecord detects beats on a record and scores them with EC57 against
// its reference annotations (RECORD.atr next to the header).
func EvalRecord(headerPath string, frame time.Duration) (ec57.Result, error) {
	beats, h, err := DetectRecord(headerPath, frame)
	if err != nil {
		return ec57.Result{}, err
	}
	atr := strings.TrimSuffix(headerPath, filepath.Ext(headerPath)) + ".atr"
	ref, err := wfdb.ReadAnnotations(atr)
	if err != nil {
		return ec57.Result{}, err
	}
	r := ec57.Compare(ref, beats, h.FS, ec57.Options{})
	r.Record = h.Record
	return r, nil
}

// EvalDB scores every record (every .hea with a matching .atr) in dir and
// returns the per-record results in name order and their gross sum.
func EvalDB(dir string, frame time.Duration) ([]ec57.Result, ec57.Result, error) {
	heads, err := filepath.Glob(filepath.Join(dir, "*.hea"))
	if err != nil {
		return nil, ec57.Result{}, fmt.Errorf("list records in %s: %w", dir, err)
	}
	if len(heads) == 0 {
		return nil, ec57.Result{}, fmt.Errorf("no .hea records in %s", dir)
	}
	var out []ec57.Result
	gross := ec57.Result{Record: "gross"}
	for _, hp := range heads {
		r, err := EvalRecord(hp, frame)
		if err != nil {
			return nil, ec57.Result{}, err
		}
		out = append(out, r)
		gross = gross.Add(r)
	}
	return out, gross, nil
}
