package rules

import (
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// BenchmarkObserve measures one heart-rate measurement through the full
// elderly pack, on a patient with a warm history.
func BenchmarkObserve(b *testing.B) {
	pack := shipped(b)
	clock := &fakeClock{t: t0}
	eng := NewEngine(pack, clock, Options{})
	info := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly"}
	eng.Observe(info, []telemetry.Measurement{m(0, "sys", 130), m(0, "dia", 80), m(0, "temp", 36.6), m(0, "glucose", 110)})
	for s := 1; s <= 600; s++ {
		eng.Observe(info, []telemetry.Measurement{m(time.Duration(s)*time.Second, "hr", 70), m(time.Duration(s)*time.Second, "spo2", 97), m(time.Duration(s)*time.Second, "rr", 15)})
	}
	batch := make([]telemetry.Measurement, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch[0] = m(time.Duration(601+i)*time.Second, "hr", 70+float64(i%5))
		if evs := eng.Observe(info, batch); len(evs) != 0 {
			b.Fatalf("normal heart rate raised %+v", evs)
		}
	}
}
