package rules

import (
	"math"
	"time"
)

// news2Metrics are the NEWS2 parameters a home system can see. Consciousness
// and supplemental oxygen are unknown, so every score here is partial.
var news2Metrics = []string{"rr", "spo2", "sys", "hr", "temp"}

// NEWS2 is a partial National Early Warning Score 2 (Royal College of
// Physicians, 2017): respiration, SpO2 scale 1, systolic pressure, pulse and
// temperature. Consciousness and oxygen use are never known at home.
type NEWS2 struct {
	Total int `json:"total"`
	// Scores holds the points of every parameter that was used.
	Scores map[string]int `json:"scores"`
	// Used lists the parameters that had a fresh value, in NEWS2 order.
	Used []string `json:"used"`
	// AgeSeconds is how old each used value was.
	AgeSeconds map[string]float64 `json:"age_s"`
	// AnyThree is true when a single parameter scored 3, which NEWS2 treats
	// like a total of 5–6.
	AnyThree bool `json:"any_three"`
}

// ComputeNEWS2 scores the given latest values; a metric absent from values
// (or NaN) is left out. ages gives each value's age and may be nil.
func ComputeNEWS2(values map[string]float64, ages map[string]time.Duration) NEWS2 {
	out := NEWS2{Scores: map[string]int{}, AgeSeconds: map[string]float64{}}
	for _, m := range news2Metrics {
		v, ok := values[m]
		if !ok || math.IsNaN(v) {
			continue
		}
		s := news2Points(m, v)
		out.Scores[m] = s
		out.Used = append(out.Used, m)
		out.AgeSeconds[m] = ages[m].Seconds()
		out.Total += s
		if s == 3 {
			out.AnyThree = true
		}
	}
	return out
}

// news2Points is the NEWS2 chart for one parameter.
func news2Points(metric string, v float64) int {
	switch metric {
	case "rr":
		switch {
		case v <= 8:
			return 3
		case v <= 11:
			return 1
		case v <= 20:
			return 0
		case v <= 24:
			return 2
		default:
			return 3
		}
	case "spo2":
		switch {
		case v <= 91:
			return 3
		case v <= 93:
			return 2
		case v <= 95:
			return 1
		default:
			return 0
		}
	case "sys":
		switch {
		case v <= 90:
			return 3
		case v <= 100:
			return 2
		case v <= 110:
			return 1
		case v <= 219:
			return 0
		default:
			return 3
		}
	case "hr":
		switch {
		case v <= 40:
			return 3
		case v <= 50:
			return 1
		case v <= 90:
			return 0
		case v <= 110:
			return 1
		case v <= 130:
			return 2
		default:
			return 3
		}
	case "temp":
		// The chart's bands are to one decimal; compare against the
		// boundaries so 38.05 counts as above 38.0.
		switch {
		case v <= 35.0:
			return 3
		case v <= 36.0:
			return 1
		case v <= 38.0:
			return 0
		case v <= 39.0:
			return 1
		default:
			return 2
		}
	}
	return 0
}

// pewsBand returns the bedside PEWS band (Parshuram et al. 2009) of an
// infant's heart or respiration rate, signed: negative below normal,
// positive above, 0 normal, ±1, ±2 or ±4. NaN when the age is outside
// 0–12 months or the value is missing.
func pewsBand(metric string, v, ageMonths float64) float64 {
	if math.IsNaN(v) || math.IsNaN(ageMonths) || ageMonths < 0 || ageMonths >= 12 {
		return math.NaN()
	}
	young := ageMonths < 3
	// high4, high2, high1 (≥) and low1, low2, low4 (≤)
	var t [6]float64
	switch {
	case metric == "hr" && young:
		t = [6]float64{190, 180, 150, 110, 90, 80}
	case metric == "hr":
		t = [6]float64{180, 170, 150, 100, 80, 70}
	case metric == "rr" && young:
		t = [6]float64{91, 81, 61, 29, 19, 15}
	case metric == "rr":
		t = [6]float64{81, 71, 51, 24, 19, 15}
	default:
		return math.NaN()
	}
	switch {
	case v >= t[0]:
		return 4
	case v >= t[1]:
		return 2
	case v >= t[2]:
		return 1
	case v <= t[5]:
		return -4
	case v <= t[4]:
		return -2
	case v <= t[3]:
		return -1
	}
	return 0
}

// PEWSBand is the exported form of the infant band lookup, for callers that
// show the band next to a value. ageMonths is the age in months.
func PEWSBand(metric string, v, ageMonths float64) float64 { return pewsBand(metric, v, ageMonths) }

// ageMonths uses the mean month length; the 3-month band boundary does not
// need calendar precision.
func ageAt(birth time.Time, at time.Time) (days, months float64) {
	if birth.IsZero() || at.Before(birth) {
		return math.NaN(), math.NaN()
	}
	d := at.Sub(birth).Hours() / 24
	return d, d / 30.436875
}

// NEWS2 returns the patient's partial NEWS2 from the values that are fresh
// at event time at (the API and the caregiver app show it next to alerts).
// ok is false for an unknown patient.
func (e *Engine) NEWS2(farm, patient string, at time.Time) (score NEWS2, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.patients[patientKey(farm, patient)]
	if st == nil {
		return NEWS2{}, false
	}
	st.now = at.UnixNano()
	vals := map[string]float64{}
	ages := map[string]time.Duration{}
	for _, m := range news2Metrics {
		if p, fresh := st.fresh(m); fresh {
			vals[m] = p.V
			ages[m] = time.Duration(st.now - p.T)
		}
	}
	return ComputeNEWS2(vals, ages), true
}
