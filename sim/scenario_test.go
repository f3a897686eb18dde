package sim

import (
	"math"
	"testing"
	"time"
)

// scenarioRun simulates one person for two hours with one scenario at the
// one-hour mark and returns the decoded messages by device kind.
type obs struct {
	m Msg
	r reading
}

func scenarioRun(t *testing.T, kind string, profile Profile) (*Fleet, map[DeviceKind][]obs) {
	t.Helper()
	cfg := FleetConfig{Seed: 5, Start: day0.Add(9 * time.Hour), Duration: 2 * time.Hour, ECG: true}
	who := "e01"
	if profile == Infant {
		cfg.Infants, who = 1, "i01"
	} else {
		cfg.Elderly = 1
	}
	cfg.Scenarios = []ScenarioSpec{{Kind: kind, Person: who, Offset: time.Hour}}
	f := newTestFleet(t, cfg)
	out := map[DeviceKind][]obs{}
	for m, ok := f.Next(); ok; m, ok = f.Next() {
		var r reading
		if m.Action == Publish {
			r = decode(t, m)
		}
		out[m.Device.Kind] = append(out[m.Device.Kind], obs{m, r})
	}
	return f, out
}

// between returns the observations with onset+from <= At < onset+to.
func between(os []obs, onset time.Time, from, to time.Duration) []obs {
	var out []obs
	for _, o := range os {
		if !o.m.At.Before(onset.Add(from)) && o.m.At.Before(onset.Add(to)) {
			out = append(out, o)
		}
	}
	return out
}

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func TestScenarioSignals(t *testing.T) {
	cases := []struct {
		kind    string
		profile Profile
		check   func(t *testing.T, onset time.Time, by map[DeviceKind][]obs)
	}{
		{"shock", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			bp := between(by[BPMonitor], on, 2*time.Minute, 20*time.Minute)
			if len(bp) < 2 {
				t.Fatalf("want repeated cuff readings during shock, got %d", len(bp))
			}
			for _, o := range bp {
				if sys := val(o.r.Sys); sys > 90 || val(o.r.HR)/sys < 1 {
					t.Errorf("shock reading sys=%v hr=%v: want sys ≤ 90 and shock index ≥ 1", sys, val(o.r.HR))
				}
			}
		}},
		{"sepsis", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			temps := between(by[Thermometer], on, 10*time.Minute, 40*time.Minute)
			if len(temps) == 0 || val(temps[0].r.Temp) < 38.3 {
				t.Fatalf("want a febrile reading once sepsis has developed, got %v", temps)
			}
			var hr, rr []float64
			for _, o := range between(by[PulseOximeter], on, 10*time.Minute, 40*time.Minute) {
				hr = append(hr, val(o.r.HR))
				if o.r.RR != nil {
					rr = append(rr, *o.r.RR)
				}
			}
			if minOf(hr) < 100 || len(rr) == 0 || minOf(rr) < 21 {
				t.Errorf("sepsis: min hr %.0f, min rr %.0f: want tachycardia and tachypnoea", minOf(hr), minOf(rr))
			}
			// A screen, not shock: the pressure holds.
			for _, o := range between(by[BPMonitor], on, 10*time.Minute, 40*time.Minute) {
				if si := val(o.r.HR) / val(o.r.Sys); si >= 1 {
					t.Errorf("sepsis cuff reading %v/%v hr %v: shock index %.2f, want < 1", val(o.r.Sys), val(o.r.Dia), val(o.r.HR), si)
				}
			}
		}},
		{"hypertensive_crisis", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			bp := between(by[BPMonitor], on, 0, 20*time.Minute)
			if len(bp) < 2 {
				t.Fatalf("want a reading and a confirming re-measurement, got %d", len(bp))
			}
			for _, o := range bp {
				if val(o.r.Sys) <= 180 || val(o.r.Dia) <= 120 {
					t.Errorf("crisis reading %v/%v: want > 180 / > 120", val(o.r.Sys), val(o.r.Dia))
				}
			}
		}},
		{"hypoglycemia", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			g := between(by[GlucoseMeter], on, 10*time.Minute, 40*time.Minute)
			if len(g) == 0 || val(g[0].r.Gluc) >= 54 {
				t.Fatalf("want a level-2 glucose reading (< 54), got %v", g)
			}
		}},
		{"fever", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			before := between(by[Thermometer], on, -time.Hour, 0)
			after := between(by[Thermometer], on, 15*time.Minute, time.Hour)
			for _, o := range before {
				if val(o.r.Temp) > 37.2 {
					t.Errorf("temp %.1f before onset", val(o.r.Temp))
				}
			}
			if len(after) == 0 || val(after[0].r.Temp) < 38.3 {
				t.Errorf("want fever > 37.8 after onset, got %v", after)
			}
		}},
		{"fever", Infant, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			after := between(by[Thermometer], on, 15*time.Minute, time.Hour)
			if len(after) == 0 || val(after[0].r.Temp) < 39 {
				t.Errorf("want infant fever ≥ 39 after onset, got %v", after)
			}
		}},
		{"fall", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			ev := between(by[MotionSensor], on, 0, 30*time.Minute)
			if len(ev) == 0 || ev[0].r.Event != "fall" || !ev[0].m.At.Equal(on) {
				t.Fatalf("want a fall event at onset, got %v", ev)
			}
			for _, o := range ev[1:] {
				if o.r.Event == "motion" {
					t.Errorf("motion at %s after the fall", o.m.At.Sub(on))
				}
			}
			if n := len(between(by[MotionSensor], on, -time.Hour, 0)); n == 0 {
				t.Error("no motion before the fall: the fall would not stand out")
			}
		}},
		{"sos", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			ev := by[SOSButton]
			if len(ev) != 1 || ev[0].r.Event != "sos" || !ev[0].m.At.Equal(on) {
				t.Fatalf("want exactly one SOS press at onset, got %v", ev)
			}
		}},
		{"apnea", Infant, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			var zeroFrom, zeroTo time.Time
			sawEvent := false
			for _, o := range between(by[BreathingMonitor], on, -time.Minute, time.Minute) {
				if o.r.Event == "apnea" {
					sawEvent = true
					if d := o.m.At.Sub(on); d < 20*time.Second {
						t.Errorf("apnea event %s after onset, want at 20 s", d)
					}
					continue
				}
				if val(o.r.RR) == 0 {
					if zeroFrom.IsZero() {
						zeroFrom = o.m.At
					}
					zeroTo = o.m.At
				} else if o.m.At.Before(on) && val(o.r.RR) < 25 {
					t.Errorf("rr %.0f before onset", val(o.r.RR))
				}
			}
			if !sawEvent || zeroTo.Sub(zeroFrom) < 20*time.Second || zeroFrom.Before(on) {
				t.Errorf("want rr = 0 for ≥ 20 s from onset and an apnea event: zero %s..%s event %v", zeroFrom.Sub(on), zeroTo.Sub(on), sawEvent)
			}
		}},
		{"bradycardia", Infant, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			for _, o := range between(by[PulseOximeter], on, time.Minute, 5*time.Minute) {
				if val(o.r.HR) >= 80 {
					t.Fatalf("hr %.0f at %s: want sustained bradycardia < 80", val(o.r.HR), o.m.At.Sub(on))
				}
			}
		}},
		{"desaturation", Infant, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			for _, o := range between(by[PulseOximeter], on, time.Minute, 5*time.Minute) {
				if val(o.r.SpO2) > 88 {
					t.Fatalf("spo2 %.0f at %s: want sustained desaturation", val(o.r.SpO2), o.m.At.Sub(on))
				}
			}
		}},
		{"desaturation", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			for _, o := range between(by[PulseOximeter], on, time.Minute, 5*time.Minute) {
				if val(o.r.SpO2) > 91 {
					t.Fatalf("spo2 %.0f at %s: want sustained desaturation ≤ 91", val(o.r.SpO2), o.m.At.Sub(on))
				}
			}
		}},
		{"device_offline", Infant, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			ox := by[PulseOximeter]
			last := ox[len(ox)-1]
			if last.m.Action != Disconnect || !last.m.At.Equal(on) || last.m.Scenario == nil {
				t.Fatalf("want the oximeter's last action to be a disconnect at onset, got %v at %s", last.m.Action, last.m.At.Sub(on))
			}
			if n := len(between(ox, on, 0, time.Hour)); n != 1 {
				t.Errorf("%d oximeter messages after going offline", n-1)
			}
			if n := len(between(by[BreathingMonitor], on, time.Minute, time.Hour)); n == 0 {
				t.Error("other devices stopped too")
			}
		}},
		{"lead_off", Elderly, func(t *testing.T, on time.Time, by map[DeviceKind][]obs) {
			span := func(o obs) float64 {
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, x := range o.r.ECG.Samples {
					lo, hi = math.Min(lo, x), math.Max(hi, x)
				}
				return hi - lo
			}
			for _, o := range between(by[ECGPatch], on, -10*time.Second, 0) {
				if span(o) < 0.8 {
					t.Errorf("ECG frame before lead off spans %.2f mV, want beats", span(o))
				}
			}
			during := between(by[ECGPatch], on, 0, 10*time.Minute)
			if len(during) < 590 {
				t.Fatalf("ECG frames during lead off: %d, want frames to keep coming", len(during))
			}
			for _, o := range during {
				if span(o) > 0.1 || o.m.Scenario == nil {
					t.Fatalf("frame at %s spans %.2f mV: want a flat line marked as the scenario", o.m.At.Sub(on), span(o))
				}
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.kind+"/"+string(tc.profile), func(t *testing.T) {
			f, by := scenarioRun(t, tc.kind, tc.profile)
			sc := f.Scenarios[0]
			if sc.Rule == "" || sc.Rule != ExpectedRule[tc.kind] {
				t.Errorf("scenario rule %q, want %q from the table", sc.Rule, ExpectedRule[tc.kind])
			}
			// Nothing carries the scenario before its onset, and
			// something does from it.
			marked := 0
			for _, os := range by {
				for _, o := range os {
					if o.m.Scenario != nil {
						marked++
						if o.m.At.Before(sc.Onset) {
							t.Errorf("%s message at %s marked before onset", o.m.Device.ID, o.m.At)
						}
					}
				}
			}
			if marked == 0 {
				t.Error("no message carries the scenario")
			}
			tc.check(t, sc.Onset, by)
		})
	}
}

func minOf(xs []float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, x)
	}
	return m
}

func TestParseScenarioSpec(t *testing.T) {
	s, err := ParseScenarioSpec("shock@e01@2h30m")
	if err != nil || s.Kind != "shock" || s.Person != "e01" || s.Offset != 150*time.Minute {
		t.Fatalf("got %+v, %v", s, err)
	}
	for _, bad := range []string{"shock@e01", "nope@e01@1h", "shock@e01@soon", "shock@e01@-1h"} {
		if _, err := ParseScenarioSpec(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	if _, err := NewFleet(FleetConfig{Elderly: 1, Infants: 1, Start: day0, Duration: time.Hour,
		Scenarios: []ScenarioSpec{{Kind: "apnea", Person: "e01"}}}); err == nil {
		t.Error("apnea on an elderly person: want an error")
	}
}

func TestAllScenariosCoverEveryRule(t *testing.T) {
	f := newTestFleet(t, FleetConfig{Seed: 1, Elderly: 2, Infants: 2, Start: day0, Duration: 6 * time.Hour, AllScenarios: true})
	rules := map[string]bool{}
	for _, s := range f.Scenarios {
		rules[s.Rule] = true
	}
	if len(f.Scenarios) != len(ExpectedRule) || len(rules) != len(ExpectedRule) {
		t.Errorf("--scenarios all gave %d scenarios covering %d rules, want %d", len(f.Scenarios), len(rules), len(ExpectedRule))
	}
	// The device that goes offline stays offline: nothing may come after
	// it, or that scenario would miss the device.
	last := f.Scenarios[0]
	for _, s := range f.Scenarios {
		if s.Onset.After(last.Onset) {
			last = s
		}
	}
	if last.Kind != "device_offline" {
		t.Errorf("last scenario is %s, want device_offline", last)
	}
}
