package ecg

import (
	"sort"
	"testing"
	"time"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// TestMonitorSinceBeatOnRecords runs a Monitor over every MIT-BIH record
// here in 1 s frames, as the processor does, and holds ecg_since_beat to
// the reference annotations: a window that reports 4 s or more without a
// beat on good signal (what ecg_asystole raises on) must have no annotated
// beat in that time, except in the last second, where a beat may not be
// confirmed yet. Before the baseline reason, 116 at 1359 s and 208 at
// 1388 s reported 4–8 s through beats the overloaded lead did not carry.
func TestMonitorSinceBeatOnRecords(t *testing.T) {
	dir := mitdbtest.Dir(t)
	for _, rec := range mitdbtest.Records(t, dir) {
		h, sig := readRecord(t, dir, rec)
		ann := readAnnotations(t, dir, rec)
		var beats []float64 // seconds
		for _, a := range ann {
			if wfdb.IsBeat(a.Code) {
				beats = append(beats, float64(a.Sample)/h.FS)
			}
		}
		start := time.Unix(0, 0).UTC()
		ts := ticks(t, feed(NewMonitor(h.FS, MonitorOptions{}), start, h.Physical(0, sig[0]), h.FS))
		worst := 0.0
		for _, k := range ts {
			if k.sqi < 0.5 {
				continue
			}
			worst = max(worst, k.since)
			if k.since < 4 {
				continue
			}
			at := k.t.Sub(start).Seconds()
			// Annotated beats strictly inside (at-since, at-1], with the
			// EC57 150 ms match window at the start.
			lo, hi := at-k.since+0.15, at-1
			i := sort.SearchFloat64s(beats, lo)
			if i < len(beats) && beats[i] <= hi {
				t.Errorf("record %s at %.0f s: ecg_since_beat %.1f on good signal (sqi %.2f %s), annotated beat at %.2f s",
					rec, at, k.since, k.sqi, k.reason, beats[i])
			}
		}
		t.Logf("record %s: longest ecg_since_beat on good signal %.2f s", rec, worst)
	}
}
