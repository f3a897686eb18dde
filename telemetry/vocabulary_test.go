package telemetry

import (
	"math"
	"slices"
	"testing"
)

func TestVocabularyMatchesInterfaces(t *testing.T) {
	// The table of docs/contract.md#metrics-and-units, as users see it.
	want := map[string]string{
		HR: "beat/min", RR: "breaths/min", Sys: "mmHg", Dia: "mmHg", MAP: "mmHg", SpO2: "%",
		Temp: "°C", Glucose: "mg/dL", ECG: "mV", Event: "", Battery: "%", Weight: "kg", Steps: "count",
	}
	for name, unit := range want {
		spec, ok := Lookup(name)
		if !ok {
			t.Errorf("metric %q missing", name)
			continue
		}
		if spec.Unit != unit || UnitOf(name) != unit {
			t.Errorf("unit of %q = %q / %q, want %q", name, spec.Unit, UnitOf(name), unit)
		}
		if spec.Derived {
			t.Errorf("%q marked derived", name)
		}
		if spec.Min > spec.Max {
			t.Errorf("%q range %v..%v", name, spec.Min, spec.Max)
		}
		if unit != "" && !slices.ContainsFunc(spec.Units, func(u UnitSpelling) bool { return u.Name == unit }) {
			t.Errorf("%q does not list its canonical unit among %v", name, spec.Units)
		}
	}
	for _, name := range []string{ECGRR, ECGIrregularity, ECGSQI, ECGSinceBeat} {
		spec, ok := Lookup(name)
		if !ok || !spec.Derived {
			t.Errorf("derived metric %q: %+v %v", name, spec, ok)
		}
	}
	if UnitOf(ECGRR) != "ms" || UnitOf("nope") != "" {
		t.Errorf("UnitOf(ecg_rr)=%q UnitOf(nope)=%q", UnitOf(ECGRR), UnitOf("nope"))
	}
	if _, ok := Lookup("pulse"); ok {
		t.Error("Lookup(pulse) found something")
	}
	if got := len(Metrics()); got != len(want)+4 {
		t.Errorf("Metrics() has %d entries, want %d", got, len(want)+3)
	}
	ev, _ := Lookup(Event)
	if !slices.Equal(ev.Kinds, []string{"fall", "sos", "motion", "no_motion", "apnea", "bed_exit"}) {
		t.Errorf("event kinds %v", ev.Kinds)
	}
	for _, k := range ev.Kinds {
		if !ValidEventKind(k) {
			t.Errorf("ValidEventKind(%q) = false", k)
		}
	}
}

// Callers get copies: changing what Lookup or Metrics return must not
// change what the decoder accepts.
func TestVocabularyIsNotMutableFromOutside(t *testing.T) {
	s, _ := Lookup(Temp)
	s.Units[0].Name = "K"
	for i := range Metrics() {
		Metrics()[i].Max = math.Inf(1)
	}
	all := Metrics()
	all[0].Units[0].Mul = 1000
	if _, err := Decode([]byte(`{"units": {"temp": "K"}, "temp": 36}`), recv, DecodeOptions{}); err == nil {
		t.Error("mutating Lookup's result made K acceptable")
	}
	d, err := Decode([]byte(`{"hr": 60}`), recv, DecodeOptions{})
	if err != nil || d.Measurements[0].Value != 60 {
		t.Errorf("mutating Metrics' result changed hr: %+v %v", d, err)
	}
}
