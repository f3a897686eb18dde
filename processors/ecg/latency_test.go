package ecg

import (
	"sort"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
)

// TestEmissionDelay: every beat is emitted at most MaxDelay after its R
// peak, and in order.
func TestEmissionDelay(t *testing.T) {
	dir := mitdbtest.Dir(t)
	for _, rec := range mitdbtest.Records(t, dir) {
		h, sig := readRecord(t, dir, rec)
		x := h.Physical(0, sig[0])
		d := NewDetector(h.FS)
		var delays []float64
		last := int64(-1)
		for i := range x {
			d.Process(x[i:i+1], func(b Beat) {
				delays = append(delays, float64(int64(i)-b.Index)/h.FS)
				if b.Index <= last {
					t.Fatalf("%s: beat %d emitted after beat %d", rec, b.Index, last)
				}
				last = b.Index

			})
		}
		sort.Float64s(delays)
		p50, mx := delays[len(delays)/2], delays[len(delays)-1]
		t.Logf("%s: delay median %.3f s, max %.3f s", rec, p50, mx)
		if mx > MaxDelay {
			t.Errorf("%s: a beat emitted %.3f s after its R peak, MaxDelay is %.3f s", rec, mx, MaxDelay)
		}
	}
}
