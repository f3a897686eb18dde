package telemetry

import (
	"runtime"
	"strings"
	"testing"
)

// A device (or an attacker with a device's credentials) can send up to
// MaxBytes of tiny elements. Decoding must reject such a flood without
// turning 256 KiB into hundreds of MiB: the ingest hook runs one Decode per
// connected client at a time.
func TestDecodeFloodMemory(t *testing.T) {
	fill := func(elem string) []byte {
		n := (DefaultMaxBytes - 2) / (len(elem) + 1)
		return []byte("[" + strings.TrimSuffix(strings.Repeat(elem+",", n), ",") + "]")
	}
	floods := map[string][]byte{
		"empty objects": fill(`{}`),
		"numbers":       fill(`1`),
		"nulls":         fill(`null`),
		"flat readings": fill(`{"hr":1}`),
		"SenML records": fill(`{"v":1}`),
		"base records":  fill(`{"bt":1}`),
		"unknown keys":  []byte(`{` + strings.TrimSuffix(strings.Repeat(`"a":1,`, DefaultMaxBytes/7), ",") + `}`),
		"ECG commas":    []byte(`{"ecg":{"fs":250,"samples":[` + strings.TrimSuffix(strings.Repeat(`0,`, DefaultMaxBytes/2-30), ",") + `]}}`),
	}
	for name, p := range floods {
		t.Run(name, func(t *testing.T) {
			if len(p) > DefaultMaxBytes {
				t.Fatalf("flood is %d bytes", len(p))
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decode(p, recv, DecodeOptions{})
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("flood accepted")
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes in, %d bytes allocated (%.1fx): %v", len(p), alloc, float64(alloc)/float64(len(p)), err)
			if alloc > 16*uint64(len(p)) {
				t.Errorf("decoding a %d-byte flood allocated %d bytes", len(p), alloc)
			}
		})
	}
}
