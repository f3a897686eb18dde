package rules

import (
	"encoding/binary"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

var fuzzMetrics = []string{"hr", "spo2", "sys", "dia", "map", "rr", "temp", "glucose", "ecg_rr", "ecg_sqi",
	"ecg_irregularity", "event", "battery", "unknown", ""}
var fuzzEvents = []string{"fall", "sos", "motion", "no_motion", "apnea", "bed_exit", "", "weird"}

// FuzzObserve feeds arbitrary measurement sequences (any metric, NaN and
// infinite values, times going backwards, zero times, ticks, acks,
// snapshots) to every profile: the engine must never panic.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0x59, 5})
	f.Add([]byte{11, 3, 0xff, 0xf8, 0, 0, 0, 0, 0, 0, 200, 1, 2, 3})
	f.Add(make([]byte, 64))
	f.Fuzz(runFuzzBody)
}

var fuzzPack = sync.OnceValue(func() *Pack {
	p, err := LoadDir("../configs/rules")
	if err != nil {
		panic(err)
	}
	return p
})

func runFuzzBody(t *testing.T, data []byte) {
	{
		pack := fuzzPack()
		clock := &fakeClock{t: t0}
		eng := NewEngine(pack, clock, Options{})
		profiles := []string{"adult", "elderly", "infant", "unknown"}
		off := time.Duration(0)
		// 64 records are enough to reach every state; longer inputs only
		// slow the fuzzer down.
		for i := 0; i+11 <= len(data) && i < 64*11; i += 11 {
			rec := data[i : i+11]
			info := PatientInfo{Farm: "f", ID: "p", Profile: profiles[int(rec[0])%len(profiles)], BirthDate: t0.AddDate(0, -int(rec[0]%14), 0)}
			v := math.Float64frombits(binary.BigEndian.Uint64(rec[2:10]))
			off += time.Duration(int8(rec[10])) * time.Second
			ms := telemetry.Measurement{Time: t0.Add(off), Metric: fuzzMetrics[int(rec[1])%len(fuzzMetrics)], Value: v,
				Text: fuzzEvents[int(rec[1]>>4)%len(fuzzEvents)]}
			if rec[1]&0x80 != 0 {
				ms.Source = "ecg"
				ms.Time = time.Time{}
			}
			for _, e := range eng.Observe(info, []telemetry.Measurement{ms, ms}) {
				if e.ID == "" || e.Severity == "" {
					t.Fatalf("malformed event %+v", e)
				}
				if rec[0]&1 == 1 {
					_, _ = eng.Ack(e.Farm, e.Patient, e.ID, "c", e.TS)
				}
			}
			clock.Set(t0.Add(off))
			eng.Tick(t0.Add(off))
			switch rec[0] % 7 {
			case 3:
				eng.DeviceOffline(info, "d", t0.Add(off))
			case 4:
				eng.DeviceOnline(info, "d", t0.Add(off))
			case 5:
				b, err := eng.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if err := eng.Restore(b); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
