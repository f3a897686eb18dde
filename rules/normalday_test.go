package rules

import (
	"math"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// dayGen builds 24 h of ordinary vitals for one profile, deterministically.
type dayGen struct {
	rng   *rand.Rand
	start time.Time
	ms    []telemetry.Measurement
}

func (g *dayGen) add(d time.Duration, metric string, v float64) {
	g.ms = append(g.ms, telemetry.Measurement{Time: g.start.Add(d), Metric: metric, Value: math.Round(v*10) / 10})
}

func (g *dayGen) event(d time.Duration, kind string) {
	g.ms = append(g.ms, telemetry.Measurement{Time: g.start.Add(d), Metric: telemetry.Event, Value: 1, Text: kind})
}

// circadian is 1 in the afternoon and -1 at night (peak 16:00).
func circadian(d time.Duration) float64 {
	return math.Cos(2 * math.Pi * (d.Hours() - 16) / 24)
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

func normalDay(profile string, seed int64) []telemetry.Measurement {
	g := &dayGen{rng: rand.New(rand.NewSource(seed)), start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}
	n := g.rng.NormFloat64
	day := 24 * time.Hour
	switch profile {
	case "elderly", "adult":
		every := 60 * time.Second
		if profile == "adult" {
			every = 30 * time.Second
		}
		for d := time.Duration(0); d < day; d += every {
			c := circadian(d)
			g.add(d, "hr", clamp(68+7*c+3*n(), 52, 98))
			g.add(d, "spo2", clamp(97+n(), 94, 100))
			g.add(d, "rr", clamp(15+c+1.2*n(), 12, 20))
		}
		// Blood pressure morning, noon and evening; temperature and glucose
		// a few times a day.
		for _, h := range []float64{7.5, 12, 19} {
			d := time.Duration(h * float64(time.Hour))
			g.add(d, "sys", clamp(134+8*n(), 112, 165))
			g.add(d, "dia", clamp(82+5*n(), 65, 98))
			g.add(d+time.Minute, "temp", clamp(36.6+0.25*circadian(d)+0.15*n(), 36.1, 37.1))
			if profile == "elderly" {
				g.add(d+2*time.Minute, "glucose", clamp(115+20*n(), 80, 180))
			}
		}
		// Moving about during the day, a bed exit in the morning.
		g.event(7*time.Hour, telemetry.EventBedExit)
		for d := 7 * time.Hour; d < 22*time.Hour; d += time.Duration(20+g.rng.Intn(40)) * time.Minute {
			g.event(d, telemetry.EventMotion)
		}
		if profile == "adult" {
			// One hour of ECG patch: a beat every ~0.85 s, quality mostly
			// good with two short dips, as a moving person produces.
			base := 10 * time.Hour
			var beats []time.Duration
			for t := time.Duration(0); t < time.Hour; {
				rr := clamp(850+40*n(), 700, 1000)
				t += time.Duration(rr) * time.Millisecond
				g.add(base+t, "ecg_rr", rr)
				beats = append(beats, t)
			}
			b := 0
			for t := time.Duration(0); t < time.Hour; t += time.Second {
				for b+1 < len(beats) && beats[b+1] <= t {
					b++
				}
				g.add(base+t, "ecg_since_beat", math.Max(0, (t-beats[b]).Seconds()))
				q := clamp(0.9+0.05*n(), 0.6, 1)
				if (t > 20*time.Minute && t < 20*time.Minute+3*time.Second) || (t > 41*time.Minute && t < 41*time.Minute+4*time.Second) {
					q = 0.3
				}
				g.add(base+t, "ecg_sqi", q)
			}
			for t := time.Duration(0); t < time.Hour; t += time.Second {
				g.ms = append(g.ms, telemetry.Measurement{Time: g.start.Add(base + t), Metric: "hr", Value: math.Round(clamp(71+2*n(), 60, 85)), Source: "ecg"})
			}
		}
	case "infant":
		// A 7-week-old: vitals every 2 s, crying bouts, SpO2 dips of a few
		// seconds (Hunt et al.), periodic breathing in sleep.
		cry := map[int]bool{}
		for i := 0; i < 6; i++ {
			cry[g.rng.Intn(24*20)] = true // 3-minute slots
		}
		dips := map[int]bool{}
		for i := 0; i < 12; i++ {
			dips[g.rng.Intn(24*3600/2)] = true
		}
		pb := map[int]bool{}
		for i := 0; i < 8; i++ {
			pb[g.rng.Intn(24*60)] = true // minutes with periodic breathing
		}
		spo2Dip := 0
		for i, d := 0, time.Duration(0); d < day; i, d = i+1, d+2*time.Second {
			c := circadian(d)
			hr := clamp(132+6*c+5*n(), 115, 148)
			rr := clamp(42+3*c+4*n(), 32, 58)
			if cry[int(d/(3*time.Minute))] {
				hr = clamp(168+5*n(), 155, 178)
				rr = clamp(55+4*n(), 45, 60)
			}
			if dips[i] {
				spo2Dip = 3 // 3 samples of 2 s: a 5–6 s dip
			}
			spo2 := clamp(98+0.7*n(), 95, 100)
			if spo2Dip > 0 {
				spo2 = 86
				spo2Dip--
			}
			if m := int(d / time.Minute); pb[m] {
				// pauses of 6 s with 8 s of breathing between
				if s := int(d/time.Second) % 14; s < 6 {
					rr = 0
				}
			}
			g.add(d, "hr", hr)
			g.add(d, "rr", rr)
			g.add(d, "spo2", spo2)
		}
		for _, h := range []float64{2, 8, 14, 20} {
			g.add(time.Duration(h*float64(time.Hour)), "temp", clamp(36.9+0.2*n(), 36.5, 37.4))
		}
	}
	sort.SliceStable(g.ms, func(i, j int) bool { return g.ms[i].Time.Before(g.ms[j].Time) })
	return g.ms
}

// TestNormalDayNoAlert replays a realistic day per profile: not a single
// alert may reach a caregiver.
func TestNormalDayNoAlert(t *testing.T) {
	pack, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, prof := range []string{"elderly", "adult", "infant"} {
		t.Run(prof, func(t *testing.T) {
			ms := normalDay(prof, 42)
			start := ms[0].Time.Truncate(24 * time.Hour)
			clock := &fakeClock{t: start}
			eng := NewEngine(pack, clock, Options{})
			info := PatientInfo{Farm: "f1", ID: "p1", Profile: prof, BirthDate: start.AddDate(0, 0, -50)}
			var events []Event
			nextTick := start
			for i := 0; i < len(ms); {
				j := i
				for j < len(ms) && ms[j].Time.Equal(ms[i].Time) {
					j++
				}
				now := ms[i].Time
				for !nextTick.After(now) {
					clock.Set(nextTick)
					events = append(events, eng.Tick(nextTick)...)
					nextTick = nextTick.Add(10 * time.Second)
				}
				clock.Set(now)
				events = append(events, eng.Observe(info, ms[i:j])...)
				i = j
			}
			for _, e := range events {
				t.Errorf("normal %s day raised %s %s %s at %s: %s (values %v)", prof, e.Rule, e.Severity, e.State, e.TS.Format("15:04:05"), e.Message, e.Values)
			}
			// Memory stays bounded by the longest window, not the day.
			eng.mu.Lock()
			defer eng.mu.Unlock()
			st := eng.patients["f1/p1"]
			for m, s := range st.Series {
				newest := s.Pts[len(s.Pts)-1].T
				// Only the oldest point may be older than the retention
				// (kept as the latest value when nothing newer exists).
				if len(s.Pts) > 1 && newest-s.Pts[1].T > eng.retention(m) || len(s.Pts) > maxPoints {
					t.Errorf("%s history holds %d points spanning %s, retention is %s", m, len(s.Pts),
						time.Duration(newest-s.Pts[0].T), time.Duration(eng.retention(m)))
				}
			}
			if len(st.Events) > maxEvents {
				t.Errorf("event history holds %d events", len(st.Events))
			}
		})
	}
}
