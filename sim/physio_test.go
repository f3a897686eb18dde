package sim

import (
	"crypto/sha256"
	"encoding/json"
	"math"
	"testing"
	"time"
)

var day0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// reading is a decoded flat payload.
type reading struct {
	TS    int64    `json:"ts"`
	HR    *float64 `json:"hr"`
	SpO2  *float64 `json:"spo2"`
	Sys   *float64 `json:"sys"`
	Dia   *float64 `json:"dia"`
	Temp  *float64 `json:"temp"`
	Gluc  *float64 `json:"glucose"`
	RR    *float64 `json:"rr"`
	Event string   `json:"event"`
	ECG   *struct {
		FS      float64   `json:"fs"`
		Unit    string    `json:"unit"`
		Samples []float64 `json:"samples"`
	} `json:"ecg"`
}

func decode(t *testing.T, m Msg) reading {
	t.Helper()
	var r reading
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("%s: bad payload %s: %v", m.Device.ID, m.Payload, err)
	}
	if r.TS != m.At.UnixMilli() {
		t.Fatalf("%s: ts %d != event time %d", m.Device.ID, r.TS, m.At.UnixMilli())
	}
	return r
}

func newTestFleet(t *testing.T, cfg FleetConfig) *Fleet {
	t.Helper()
	f, err := NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type stats struct {
	n        int
	min, max float64
	sum      float64
}

func (s *stats) add(x float64) {
	if s.n == 0 || x < s.min {
		s.min = x
	}
	if s.n == 0 || x > s.max {
		s.max = x
	}
	s.n++
	s.sum += x
}
func (s *stats) mean() float64 { return s.sum / float64(s.n) }

func TestNormalDayElderlyStaysNormal(t *testing.T) {
	f := newTestFleet(t, FleetConfig{Seed: 7, Elderly: 3, Start: day0, Duration: 24 * time.Hour})
	var sys, dia, hr, spo2, temp, gluc, rr stats
	var dayHR, nightHR stats
	perKind := map[DeviceKind]int{}
	motion := 0
	for m, ok := f.Next(); ok; m, ok = f.Next() {
		if m.Action != Publish {
			t.Fatalf("unexpected action %v on a normal day", m.Action)
		}
		perKind[m.Device.Kind]++
		r := decode(t, m)
		if r.Sys != nil {
			sys.add(*r.Sys)
			dia.add(*r.Dia)
		}
		if r.HR != nil && m.Device.Kind == PulseOximeter {
			hr.add(*r.HR)
			if h := m.At.Hour(); h >= 1 && h < 5 {
				nightHR.add(*r.HR)
			} else if h >= 14 && h < 18 {
				dayHR.add(*r.HR)
			}
		}
		if r.SpO2 != nil {
			spo2.add(*r.SpO2)
		}
		if r.Temp != nil {
			temp.add(*r.Temp)
		}
		if r.Gluc != nil {
			gluc.add(*r.Gluc)
		}
		if r.RR != nil {
			rr.add(*r.RR)
		}
		if r.Event == "motion" {
			motion++
		} else if r.Event != "" {
			t.Errorf("event %q on a normal day", r.Event)
		}
	}
	if got := perKind[PulseOximeter]; got != 3*86400 {
		t.Errorf("pulse oximeter messages = %d, want one per second (%d)", got, 3*86400)
	}
	for _, k := range []DeviceKind{BPMonitor, Thermometer, GlucoseMeter} {
		if got := perKind[k]; got < 3*2 || got > 3*4 {
			t.Errorf("%s readings = %d, want a few a day per person", k, got)
		}
	}
	if perKind[SOSButton] != 0 {
		t.Errorf("SOS button pressed %d times on a normal day", perKind[SOSButton])
	}
	if motion < 3*30 {
		t.Errorf("motion events = %d, want regular activity", motion)
	}
	check := func(name string, s stats, lo, hi float64) {
		t.Helper()
		if s.n == 0 || s.min < lo || s.max > hi {
			t.Errorf("%s: n=%d range [%.1f, %.1f], want within [%g, %g]", name, s.n, s.min, s.max, lo, hi)
		}
	}
	check("sys", sys, 100, 170)
	check("dia", dia, 55, 100)
	check("hr", hr, 50, 110)
	check("spo2", spo2, 94, 100)
	check("temp", temp, 35.5, 37.8)
	check("glucose", gluc, 70, 250)
	check("rr", rr, 11, 21)
	t.Logf("sys %.0f–%.0f hr %.0f–%.0f (day %.1f night %.1f) spo2 %.0f–%.0f temp %.1f–%.1f glucose %.0f–%.0f rr %.0f–%.0f motion %d", sys.min, sys.max, hr.min, hr.max, dayHR.mean(), nightHR.mean(), spo2.min, spo2.max, temp.min, temp.max, gluc.min, gluc.max, rr.min, rr.max, motion)
	// A day-night rhythm a caregiver would see on a chart.
	if dayHR.mean()-nightHR.mean() < 4 {
		t.Errorf("afternoon mean hr %.1f vs night %.1f: want a day–night rhythm", dayHR.mean(), nightHR.mean())
	}
	if hr.max-hr.min < 10 || sys.max-sys.min < 8 {
		t.Errorf("values barely vary (hr %.0f–%.0f, sys %.0f–%.0f): want activity and noise", hr.min, hr.max, sys.min, sys.max)
	}
}

func TestNormalDayInfantStaysNormal(t *testing.T) {
	f := newTestFleet(t, FleetConfig{Seed: 11, Infants: 4, Start: day0, Duration: 24 * time.Hour})
	lowRun := map[string]int{} // current run of spo2 < 90, in seconds
	dips := 0
	var temp stats
	for m, ok := f.Next(); ok; m, ok = f.Next() {
		r := decode(t, m)
		p := m.Device.Person
		hrLo, hrHi, rrLo, rrHi := 111.0, 149.0, 30.0, 60.0
		if p.AgeMonths >= 3 {
			hrLo, hrHi, rrLo, rrHi = 101, 149, 25, 50
		}
		if r.HR != nil && (*r.HR < hrLo || *r.HR > hrHi) {
			t.Fatalf("%s at %s: hr %.0f outside %g–%g (PEWS normal, %d months)", p.ID, m.At, *r.HR, hrLo, hrHi, p.AgeMonths)
		}
		if r.RR != nil && (*r.RR < rrLo || *r.RR > rrHi) {
			t.Fatalf("%s at %s: rr %.0f outside %g–%g", p.ID, m.At, *r.RR, rrLo, rrHi)
		}
		if r.Temp != nil {
			temp.add(*r.Temp)
		}
		if r.Event != "" {
			t.Errorf("event %q on a normal day", r.Event)
		}
		if r.SpO2 != nil {
			if *r.SpO2 < 94 && lowRun[p.ID] == 0 {
				dips++
			}
			if *r.SpO2 < 90 {
				lowRun[p.ID]++
				if lowRun[p.ID] >= 5 {
					t.Fatalf("%s at %s: spo2 below 90 for %d s on a normal day", p.ID, m.At, lowRun[p.ID])
				}
			} else {
				lowRun[p.ID] = 0
			}
			if *r.SpO2 < 85 {
				t.Fatalf("%s: spo2 %.0f on a normal day", p.ID, *r.SpO2)
			}
		}
	}
	if temp.n < 4*2 || temp.max >= 38 || temp.min < 36 {
		t.Errorf("infant temperature n=%d [%.1f, %.1f], want a few readings a day in 36–38", temp.n, temp.min, temp.max)
	}
	// Healthy infants do have brief dips (Hunt 1999); a model with none
	// would hide a rule that fires on them.
	t.Logf("dips=%d temp %.1f–%.1f", dips, temp.min, temp.max)
	if dips < 4*10 {
		t.Errorf("only %d brief desaturation dips in a day for 4 infants", dips)
	}
}

func fleetDigest(t *testing.T, seed uint64) [32]byte {
	f := newTestFleet(t, FleetConfig{Seed: seed, Elderly: 2, Infants: 2, ECG: true, Start: day0, Duration: 20 * time.Minute, AllScenarios: true})
	h := sha256.New()
	for m, ok := f.Next(); ok; m, ok = f.Next() {
		h.Write([]byte(m.Device.ID))
		h.Write(m.Payload)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestFleetIsDeterministic(t *testing.T) {
	a, b, c := fleetDigest(t, 42), fleetDigest(t, 42), fleetDigest(t, 43)
	if a != b {
		t.Error("same seed gave different messages")
	}
	if a == c {
		t.Error("different seeds gave the same messages")
	}
}

func TestECGLooksLikeECG(t *testing.T) {
	f := newTestFleet(t, FleetConfig{Seed: 3, Elderly: 1, ECG: true, Start: day0.Add(15 * time.Hour), Duration: time.Minute})
	var samples []float64
	var hr stats
	for m, ok := f.Next(); ok; m, ok = f.Next() {
		r := decode(t, m)
		switch m.Device.Kind {
		case ECGPatch:
			if r.ECG == nil || r.ECG.FS != 250 || r.ECG.Unit != "mV" || len(r.ECG.Samples) != 250 {
				t.Fatalf("bad ECG frame %s", m.Payload[:80])
			}
			samples = append(samples, r.ECG.Samples...)
		case PulseOximeter:
			hr.add(*r.HR)
		}
	}
	if len(samples) != 60*250 {
		t.Fatalf("got %d samples in a minute, want %d", len(samples), 60*250)
	}
	// Count R peaks: local maxima above 0.6 mV at least 250 ms apart.
	var peaks []int
	for i := 1; i+1 < len(samples); i++ {
		if samples[i] > 0.6 && samples[i] >= samples[i-1] && samples[i] > samples[i+1] {
			if len(peaks) == 0 || i-peaks[len(peaks)-1] > 62 {
				peaks = append(peaks, i)
			}
		}
	}
	bpm := float64(len(peaks)-1) / (float64(peaks[len(peaks)-1]-peaks[0]) / 250) * 60
	if math.Abs(bpm-hr.mean()) > 0.12*hr.mean() {
		t.Errorf("ECG rate %.1f bpm, pulse oximeter %.1f: want the same heart", bpm, hr.mean())
	}
	// Heart-rate variability: RR intervals are not all equal.
	var rr stats
	for i := 1; i < len(peaks); i++ {
		rr.add(float64(peaks[i]-peaks[i-1]) * 4)
	}
	if rr.max-rr.min < 20 {
		t.Errorf("RR intervals %0.f–%0.f ms: want beat-to-beat variability", rr.min, rr.max)
	}
	// P and T waves: between beats the signal rises above the baseline
	// but stays well below the R peak; S dips below zero.
	minv, maxv := 0.0, 0.0
	for _, x := range samples {
		minv, maxv = math.Min(minv, x), math.Max(maxv, x)
	}
	if maxv < 0.9 || maxv > 1.6 || minv > -0.2 {
		t.Errorf("amplitude range [%.2f, %.2f] mV, want R ≈ 1.2 mV and negative S", minv, maxv)
	}
}

// BenchmarkFleetHour generates an hour of a four-person fleet with ECG:
// the simulator must outrun the broker it feeds.
func BenchmarkFleetHour(b *testing.B) {
	n := 0
	for b.Loop() {
		f, err := NewFleet(FleetConfig{Seed: 1, Elderly: 2, Infants: 2, ECG: true, Start: day0, Duration: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		for _, ok := f.Next(); ok; _, ok = f.Next() {
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
