package ecg

import (
	"strings"
	"testing"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// TestIrregularityOnRecords checks the AF screen against the rhythm
// annotations: values taken where the rhythm label has been AF for the
// whole of the last 30 s must nearly all be flagged, values taken in
// other rhythms mostly not.
func TestIrregularityOnRecords(t *testing.T) {
	dir := mitdbtest.Dir(t)
	var afHi, afN, nHi, nN int
	for _, rec := range mitdbtest.Records(t, dir) {
		h, sig := readRecord(t, dir, rec)
		ann := readAnnotations(t, dir, rec)
		// rhythm label in force at each rhythm change
		var at []int64
		var label []string
		for _, a := range ann {
			if a.Code == wfdb.Rhythm {
				at, label = append(at, a.Sample), append(label, a.Aux)
			}
		}
		rhythm := func(s int64) (string, int64) {
			l, since := "", int64(0)
			for i := range at {
				if at[i] > s {
					break
				}
				l, since = label[i], at[i]
			}
			return l, since
		}
		m := NewMonitor(h.FS, MonitorOptions{})
		for _, v := range feed(m, t0, h.Physical(0, sig[0]), h.FS) {
			if v.Metric != MetricIrregularity {
				continue
			}
			s := int64(v.Time.Sub(t0).Seconds() * h.FS)
			l, since := rhythm(s)
			if s-since < int64(30*h.FS) {
				continue // the 32 RR may straddle a rhythm change
			}
			hi := v.Value >= IrregularThreshold
			if strings.HasPrefix(l, "(AF") && !strings.HasPrefix(l, "(AFL") {
				afN++
				if hi {
					afHi++
				}
			} else {
				nN++
				if hi {
					nHi++
				}
			}
		}
	}
	if afN < 500 {
		t.Fatalf("only %d values in AF: too few to judge", afN)
	}
	se, fp := float64(afHi)/float64(afN), float64(nHi)/float64(nN)
	t.Logf("AF flagged %d/%d (%.1f %%), other rhythms flagged %d/%d (%.1f %%)", afHi, afN, 100*se, nHi, nN, 100*fp)
	if se < 0.95 || fp > 0.12 {
		t.Errorf("AF screen: %.1f %% of AF flagged (want ≥ 95), %.1f %% of other rhythms (want ≤ 12)", 100*se, 100*fp)
	}
}
