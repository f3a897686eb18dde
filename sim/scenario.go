package sim

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Scenario is one injected event for one person: what happens, when its
// onset is, how long it lasts and which alert rule it should raise.
type Scenario struct {
	Kind     string
	Person   string
	Offset   time.Duration // onset relative to the fleet start
	Onset    time.Time     // event time of the onset
	Duration time.Duration
	Rule     string
	// Devices are the kinds whose messages carry the scenario's signal;
	// those messages are the ones alert latency is measured from.
	Devices []DeviceKind

	def *scenarioDef
}

// String is the spec form name@person@offset.
func (s *Scenario) String() string { return fmt.Sprintf("%s@%s@%s", s.Kind, s.Person, s.Offset) }

// Active reports whether the scenario's signal is present at t.
func (s *Scenario) Active(t time.Time) bool {
	return !t.Before(s.Onset) && t.Before(s.Onset.Add(s.Duration))
}

// End is the event time the scenario stops acting (recovery follows).
func (s *Scenario) End() time.Time { return s.Onset.Add(s.Duration) }

// Affects reports whether messages of device kind k carry this scenario.
func (s *Scenario) Affects(k DeviceKind) bool { return slices.Contains(s.Devices, k) }

// scenarioDef is the table entry behind a scenario kind.
type scenarioDef struct {
	profiles []Profile
	duration time.Duration
	// ramp is how long the change takes to develop and to recover.
	ramp    time.Duration
	devices []DeviceKind
	// forced are sparse devices (cuff, thermometer, glucose meter) that
	// measure at onset+ramp and then every forcedEvery while the scenario
	// lasts, as a caregiver asked to re-measure would.
	forced      []DeviceKind
	forcedEvery time.Duration
	// effect changes the state; r is the ramp factor in [0, 1], since the
	// time from onset.
	effect func(p *Person, v *Vitals, r float64, since, dur time.Duration)
}

var both = []Profile{Elderly, Infant}
var elderlyOnly = []Profile{Elderly}
var infantOnly = []Profile{Infant}

var scenarioDefs = map[string]*scenarioDef{
	"shock": {elderlyOnly, 20 * time.Minute, 2 * time.Minute,
		[]DeviceKind{PulseOximeter, BPMonitor}, []DeviceKind{BPMonitor}, 5 * time.Minute,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			v.HR = lerp(v.HR, math.Max(v.HR, 128), r)
			v.Sys = lerp(v.Sys, 82, r)
			v.Dia = lerp(v.Dia, 50, r)
			v.SpO2 = lerp(v.SpO2, v.SpO2-2, r)
			v.RR = lerp(v.RR, 24, r)
		}},
	"sepsis": {elderlyOnly, 40 * time.Minute, 10 * time.Minute,
		[]DeviceKind{PulseOximeter, Thermometer, BPMonitor}, []DeviceKind{Thermometer, BPMonitor}, 5 * time.Minute,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			// Fever, tachycardia and fast breathing with the pressure
			// still held (shock index under 1): a screen, not yet shock.
			v.Temp = lerp(v.Temp, 38.9, r)
			v.HR = lerp(v.HR, 112, r)
			v.RR = lerp(v.RR, 25, r)
			v.SpO2 = lerp(v.SpO2, 93, r)
			v.Sys = lerp(v.Sys, 124, r)
			v.Dia = lerp(v.Dia, 70, r)
		}},
	"hypertensive_crisis": {elderlyOnly, 20 * time.Minute, time.Minute,
		[]DeviceKind{BPMonitor}, []DeviceKind{BPMonitor}, 5 * time.Minute,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			v.Sys = lerp(v.Sys, 198, r)
			v.Dia = lerp(v.Dia, 124, r)
			v.HR = lerp(v.HR, 104, r)
		}},
	"hypoglycemia": {elderlyOnly, 40 * time.Minute, 10 * time.Minute,
		[]DeviceKind{GlucoseMeter}, []DeviceKind{GlucoseMeter}, 10 * time.Minute,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			v.Glucose = lerp(v.Glucose, 45, r)
			v.HR = lerp(v.HR, v.HR+15, r)
		}},
	"fever": {both, 60 * time.Minute, 15 * time.Minute,
		[]DeviceKind{Thermometer}, []DeviceKind{Thermometer}, 10 * time.Minute,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			if p.Profile == Infant {
				// ≥39 °C so it is a red or amber flag at any infant age.
				v.Temp = lerp(v.Temp, 39.4, r)
				v.HR = lerp(v.HR, math.Min(v.HR+18, 165), r)
			} else {
				v.Temp = lerp(v.Temp, 38.7, r)
				v.HR = lerp(v.HR, v.HR+12, r)
			}
			v.RR = lerp(v.RR, v.RR+3, r)
		}},
	"fall": {elderlyOnly, 30 * time.Minute, 0,
		[]DeviceKind{MotionSensor}, nil, 0,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			v.Moving = false
			v.Activity = 0
			v.HR += 8 * r
		}},
	"sos": {elderlyOnly, time.Minute, 0, []DeviceKind{SOSButton}, nil, 0, nil},
	"apnea": {infantOnly, 40 * time.Second, 0,
		[]DeviceKind{BreathingMonitor, PulseOximeter}, nil, 0,
		func(p *Person, v *Vitals, r float64, since, dur time.Duration) {
			v.RR = 0
			v.HR = lerp(v.HR, 90, math.Min(1, since.Seconds()/10))
			v.SpO2 = lerp(v.SpO2, 86, since.Seconds()/dur.Seconds())
		}},
	"bradycardia": {infantOnly, 5 * time.Minute, 30 * time.Second,
		[]DeviceKind{PulseOximeter}, nil, 0,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			v.HR = lerp(v.HR, 65, r)
		}},
	"desaturation": {both, 5 * time.Minute, 30 * time.Second,
		[]DeviceKind{PulseOximeter}, nil, 0,
		func(p *Person, v *Vitals, r float64, _, _ time.Duration) {
			v.SpO2 = lerp(v.SpO2, 85, r)
			v.HR = lerp(v.HR, v.HR+10, r)
		}},
	// A device that drops off the network stays off; the pulse oximeter is
	// the one whose silence matters most.
	"device_offline": {both, 0, 0, []DeviceKind{PulseOximeter}, nil, 0, nil},
	"lead_off":       {elderlyOnly, 10 * time.Minute, 0, []DeviceKind{ECGPatch}, nil, 0, nil},
}

// ScenarioKinds lists every scenario name, sorted.
func ScenarioKinds() []string {
	out := make([]string, 0, len(scenarioDefs))
	for k := range scenarioDefs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ScenarioSpec asks for one scenario: a kind, a person id and an onset
// offset from the fleet start.
type ScenarioSpec struct {
	Kind   string
	Person string
	Offset time.Duration
}

// ParseScenarioSpec reads name@person@offset, for example shock@e01@2h.
func ParseScenarioSpec(s string) (ScenarioSpec, error) {
	parts := strings.Split(s, "@")
	if len(parts) != 3 {
		return ScenarioSpec{}, fmt.Errorf("scenario %q: want name@person@offset", s)
	}
	if _, ok := scenarioDefs[parts[0]]; !ok {
		return ScenarioSpec{}, fmt.Errorf("scenario %q: unknown name %q (known: %s)", s, parts[0], strings.Join(ScenarioKinds(), ", "))
	}
	off, err := time.ParseDuration(parts[2])
	if err != nil || off < 0 {
		return ScenarioSpec{}, fmt.Errorf("scenario %q: offset %q is not a non-negative duration", s, parts[2])
	}
	return ScenarioSpec{Kind: parts[0], Person: parts[1], Offset: off}, nil
}

// AllScenarios spreads one of every scenario kind over the people it
// applies to (round robin per profile) and over the run: onsets at equal
// steps, so `--scenarios all` exercises every rule once.
func AllScenarios(people []*Person, duration time.Duration) []ScenarioSpec {
	// A device that went offline stays offline: put that scenario last so
	// no later scenario on the same person misses its pulse oximeter.
	var kinds []string
	for _, k := range ScenarioKinds() {
		if k != "device_offline" {
			kinds = append(kinds, k)
		}
	}
	kinds = append(kinds, "device_offline")
	next := map[Profile]int{}
	byProfile := map[Profile][]*Person{}
	for _, p := range people {
		byProfile[p.Profile] = append(byProfile[p.Profile], p)
	}
	var specs []ScenarioSpec
	for _, k := range kinds {
		def := scenarioDefs[k]
		var who *Person
		for _, pr := range def.profiles {
			if ps := byProfile[pr]; len(ps) > 0 {
				who = ps[next[pr]%len(ps)]
				next[pr]++
				break
			}
		}
		if who == nil {
			continue
		}
		specs = append(specs, ScenarioSpec{Kind: k, Person: who.ID})
	}
	step := duration / time.Duration(len(specs)+1)
	for i := range specs {
		specs[i].Offset = step * time.Duration(i+1)
	}
	return specs
}

// newScenario resolves a spec against a person and the run's window. The
// duration is shortened when scenarios follow each other closely so that
// one has recovered before the next starts.
func newScenario(spec ScenarioSpec, p *Person, start time.Time, maxDur time.Duration) (*Scenario, error) {
	def := scenarioDefs[spec.Kind]
	if def == nil {
		return nil, fmt.Errorf("unknown scenario %q", spec.Kind)
	}
	if !slices.Contains(def.profiles, p.Profile) {
		return nil, fmt.Errorf("scenario %s does not apply to %s", spec.Kind, p)
	}
	dur := def.duration
	if dur == 0 {
		// Lasts for the rest of the run (a device that went offline).
		dur = 100 * 365 * 24 * time.Hour
	} else if maxDur > 0 && dur > maxDur {
		dur = max(maxDur, 3*time.Minute, 2*def.ramp)
		dur = min(dur, def.duration)
	}
	return &Scenario{
		Kind: spec.Kind, Person: p.ID, Offset: spec.Offset,
		Onset: start.Add(spec.Offset), Duration: dur,
		Rule: ExpectedRule[spec.Kind], Devices: def.devices, def: def,
	}, nil
}

// apply adds the scenario's effect to v at t: a ramp up from onset, a
// plateau, and a ramp back down after the end.
func (s *Scenario) apply(p *Person, v *Vitals, t time.Time) {
	if s.def == nil || s.def.effect == nil || t.Before(s.Onset) {
		return
	}
	since := t.Sub(s.Onset)
	ramp := s.def.ramp
	var r float64
	switch {
	case since < s.Duration:
		r = 1
		if ramp > 0 && since < ramp {
			r = since.Seconds() / ramp.Seconds()
		}
	case ramp > 0 && since < s.Duration+ramp:
		r = 1 - (since-s.Duration).Seconds()/ramp.Seconds()
	default:
		return
	}
	s.def.effect(p, v, r, since, s.Duration)
}

// forcedTimes are the extra readings a sparse device of kind k takes
// because of this scenario.
func (s *Scenario) forcedTimes(k DeviceKind) []time.Time {
	if s.def == nil || !slices.Contains(s.def.forced, k) {
		return nil
	}
	var out []time.Time
	first := s.Onset.Add(s.def.ramp)
	if s.def.ramp == 0 {
		first = s.Onset.Add(time.Second)
	}
	for t := first; t.Before(s.End()); t = t.Add(s.def.forcedEvery) {
		out = append(out, t)
	}
	if len(out) == 0 {
		out = append(out, first)
	}
	return out
}
