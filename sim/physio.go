package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Profile is the kind of person a model simulates; the names match the
// patient profiles of the provisioning API.
type Profile string

const (
	Elderly Profile = "elderly"
	Infant  Profile = "infant"
)

// Vitals is a person's true physiological state at one instant, before any
// device adds its own measurement noise.
type Vitals struct {
	HR      float64 // beat/min
	SpO2    float64 // %
	Sys     float64 // mmHg
	Dia     float64 // mmHg
	Temp    float64 // °C
	Glucose float64 // mg/dL
	RR      float64 // breaths/min
	// Activity is 0 (asleep, still) to 1 (walking, crying).
	Activity float64
	Asleep   bool
	// Moving is false while a person lies still after a fall.
	Moving bool
}

// Person is one simulated patient: an age, a baseline drawn from the
// age-appropriate normal ranges, and the scenarios injected for them.
type Person struct {
	ID      string
	Profile Profile
	// AgeYears for the elderly; AgeMonths for infants (0–12).
	AgeYears  int
	AgeMonths int
	Base      Vitals
	Scenarios []*Scenario

	seed uint64
}

// NewPerson draws a person's baseline from the ranges of their profile. The
// same seed and id always give the same person.
func NewPerson(seed uint64, id string, p Profile) *Person {
	s := hashString(seed, id)
	r := rand.New(rand.NewPCG(s, s>>1|1))
	u := func(lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }
	per := &Person{ID: id, Profile: p, seed: s}
	switch p {
	case Infant:
		per.AgeMonths = r.IntN(12)
		if per.AgeMonths < 3 {
			per.Base = Vitals{HR: u(122, 138), RR: u(38, 48)}
		} else {
			per.Base = Vitals{HR: u(112, 130), RR: u(30, 38)}
		}
		per.Base.SpO2 = u(97.5, 99)
		per.Base.Temp = u(36.6, 37.0)
		per.Base.Glucose = u(75, 95)
		per.Base.Sys, per.Base.Dia = u(75, 90), u(45, 55)
	default:
		per.Profile = Elderly
		per.AgeYears = 70 + r.IntN(23)
		per.Base = Vitals{
			HR:      u(60, 76),
			SpO2:    u(96.5, 98),
			Sys:     u(118, 132),
			Dia:     u(70, 82),
			Temp:    u(36.1, 36.5),
			Glucose: u(90, 115),
			RR:      u(13, 17),
		}
	}
	return per
}

// BirthDate is the infant's birth date relative to the simulation start,
// as the provisioning API wants it (YYYY-MM-DD); empty for adults.
func (p *Person) BirthDate(start time.Time) string {
	if p.Profile != Infant {
		return ""
	}
	// Mid-month so the age in months is unambiguous.
	return start.AddDate(0, -p.AgeMonths, -15).Format("2006-01-02")
}

// normalRange is the band a healthy person of this profile stays inside;
// the model clamps its normal (non-scenario) state to it so a normal day
// never crosses an alert threshold of docs/clinical.md.
type normalRange struct{ lo, hi float64 }

func (p *Person) ranges() map[string]normalRange {
	if p.Profile == Infant {
		hr := normalRange{111, 149}
		rr := normalRange{31, 58}
		if p.AgeMonths >= 3 {
			hr = normalRange{102, 148}
			rr = normalRange{26, 48}
		}
		return map[string]normalRange{
			"hr": hr, "rr": rr, "spo2": {96, 100}, "temp": {36.3, 37.5},
			"glucose": {65, 110}, "sys": {70, 100}, "dia": {40, 65},
		}
	}
	return map[string]normalRange{
		// Inside NEWS2's 0-point bands except for a brisk walk's heart
		// rate, so a normal day never adds up to a partial NEWS2 alert.
		"hr": {55, 95}, "rr": {12, 20}, "spo2": {96, 100}, "temp": {36.1, 37.1},
		"glucose": {80, 175}, "sys": {112, 150}, "dia": {62, 92},
	}
}

// hourOf is the local hour of day in [0, 24); the fleet lives in UTC.
func hourOf(t time.Time) float64 {
	t = t.UTC()
	return float64(t.Hour()) + float64(t.Minute())/60 + float64(t.Second())/3600
}

// asleep follows a plain daily routine: the elderly sleep 22:30–06:30,
// infants 19:30–06:30 plus two naps.
func (p *Person) asleep(h float64) bool {
	if p.Profile == Infant {
		return h >= 19.5 || h < 6.5 || (h >= 9.5 && h < 10.75) || (h >= 13 && h < 14.75)
	}
	return h >= 22.5 || h < 6.5
}

// circadian is +1 in the late afternoon and -1 in the early morning, the
// shape of the daily rhythm of heart rate, blood pressure and temperature.
func circadian(h float64) float64 { return math.Cos(2 * math.Pi * (h - 16) / 24) }

// State is the person's true state at t: baseline, day–night rhythm,
// activity, then the effect of any scenario under way. It is a pure
// function of t.
func (p *Person) State(t time.Time) Vitals {
	v := p.Normal(t)
	for _, s := range p.Scenarios {
		s.apply(p, &v, t)
	}
	return v
}

// Normal is State without scenarios.
func (p *Person) Normal(t time.Time) Vitals {
	h := hourOf(t)
	c := circadian(h)
	mins := float64(t.Unix()) / 60
	v := p.Base
	v.Moving = true
	v.Asleep = p.asleep(h)
	// Slow drift of a few units so two days are not identical.
	drift := valueNoise(p.seed^0xd1, mins/180) - 0.5
	if v.Asleep {
		v.Activity = 0.03 * valueNoise(p.seed^0xa1, mins/7)
	} else {
		v.Activity = 0.15 + 0.7*valueNoise(p.seed^0xa2, mins/15)
	}
	a := v.Activity
	if p.Profile == Infant {
		// Crying or feeding bursts raise heart and breathing rates.
		v.HR += 4*c + 14*a + 4*drift
		v.RR += 2*c + 6*a + 2*drift
		v.Temp += 0.15*c + 0.1*drift
		v.SpO2 += 0.4*drift - 0.3*b2f(v.Asleep)
		v.Sys += 4*c + 6*a
		v.Dia += 2*c + 4*a
	} else {
		v.HR += 3*c + 14*a + 4*drift
		v.RR += 1*c + 2*a + drift
		v.Temp += 0.25*c + 0.1*drift
		v.SpO2 += 0.5*drift - 0.6*b2f(v.Asleep)
		v.Sys += 6*c + 7*a + 5*drift
		v.Dia += 3*c + 4*a + 3*drift
		v.Glucose += meals(h)
	}
	rg := p.ranges()
	v.HR = clamp(v.HR, rg["hr"].lo, rg["hr"].hi)
	v.RR = clamp(v.RR, rg["rr"].lo, rg["rr"].hi)
	v.SpO2 = clamp(v.SpO2, rg["spo2"].lo, rg["spo2"].hi)
	v.Temp = clamp(v.Temp, rg["temp"].lo, rg["temp"].hi)
	v.Glucose = clamp(v.Glucose, rg["glucose"].lo, rg["glucose"].hi)
	v.Sys = clamp(v.Sys, rg["sys"].lo, rg["sys"].hi)
	v.Dia = clamp(v.Dia, rg["dia"].lo, rg["dia"].hi)
	return v
}

// meals is the post-prandial glucose rise (mg/dL) after breakfast, lunch
// and dinner: a quick rise and a slow fall over about two hours.
func meals(h float64) float64 {
	total := 0.0
	for _, m := range []float64{7.5, 12.5, 18.5} {
		d := h - m
		if d < 0 {
			d += 24
		}
		if d < 3 {
			total += 45 * (d / 0.75) * math.Exp(1-d/0.75)
		}
	}
	return total
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// clampNormal keeps a measured normal value (true state plus device noise)
// inside the person's normal band. Devices call it only when no scenario is
// acting, so injected abnormal values pass through untouched.
func (p *Person) clampNormal(metric string, x float64) float64 {
	r, ok := p.ranges()[metric]
	if !ok {
		return x
	}
	return clamp(x, r.lo, r.hi)
}

func (p *Person) String() string {
	if p.Profile == Infant {
		return fmt.Sprintf("%s (infant, %d months)", p.ID, p.AgeMonths)
	}
	return fmt.Sprintf("%s (elderly, %d years)", p.ID, p.AgeYears)
}
