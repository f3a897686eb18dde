package telemetry

import (
	"slices"
	"strings"
)

// UnitSpelling is one way a device may write a metric's unit, with the
// conversion to the metric's canonical unit:
// canonical = (v + Add) * Mul / Div.
// The division is kept separate from the multiplication so that exact
// decimal factors (µV → mV is /1000) do not pick up binary rounding from a
// factor like 0.001.
type UnitSpelling struct {
	Name          string
	Add, Mul, Div float64
}

// ToCanonical converts v from this spelling's unit to the canonical unit.
func (u UnitSpelling) ToCanonical(v float64) float64 {
	return (v + u.Add) * u.Mul / u.Div
}

// Spec describes one metric of the vocabulary.
type Spec struct {
	// Name is the metric name used on the wire, in storage and in rules.
	Name string
	// Unit is the canonical unit as shown to users; every stored value is in
	// this unit. Empty for unitless metrics.
	Unit string
	// Min and Max bound what is physically possible (not what is healthy):
	// a value outside them is a device or unit error, never a patient state.
	Min, Max float64
	// Units are the accepted spellings; the canonical unit is always among
	// them, and a reading that names no unit is in the canonical unit.
	Units []UnitSpelling
	// Kinds lists the allowed text values of a text metric (only "event").
	Kinds []string
	// Derived metrics are produced by medbiz processors (for example from
	// ECG beats); devices may not send them.
	Derived bool
	// Waveform metrics arrive as sample frames (ECG), not as single values.
	// Min and Max then bound every sample.
	Waveform bool
}

// unit looks up a unit spelling for this metric. The empty spelling means
// the canonical unit.
func (s *Spec) unit(name string) (UnitSpelling, bool) {
	if name == "" || name == s.Unit {
		return same(s.Unit), true
	}
	for _, u := range s.Units {
		if u.Name == name {
			return u, true
		}
	}
	return UnitSpelling{}, false
}

// unitList is the "use …" hint of a bad-unit error.
func (s *Spec) unitList() string {
	names := make([]string, 0, len(s.Units))
	for _, u := range s.Units {
		names = append(names, u.Name)
	}
	return strings.Join(names, ", ")
}

func same(name string) UnitSpelling { return UnitSpelling{Name: name, Mul: 1, Div: 1} }
func scaled(name string, mul, div float64) UnitSpelling {
	return UnitSpelling{Name: name, Mul: mul, Div: div}
}

// mgdlPerMmol converts glucose mmol/L to mg/dL (molar mass of glucose,
// 180.16 g/mol, the factor clinical references use).
const mgdlPerMmol = 18.016

// ecgLimitMV bounds ECG samples. Real ECG amplitudes stay within ±10 mV,
// but a DC-coupled front end can carry electrode offsets of a few hundred
// mV, so only ±500 mV is treated as impossible; it still catches µV data
// labelled as mV.
const ecgLimitMV = 500

// vocabulary is the metric table of docs/contract.md#metrics-and-units, in
// the order that measurements of one JSON object are emitted (JSON objects
// have no order of their own).
var vocabulary = []Spec{
	{Name: HR, Unit: "beat/min", Min: 10, Max: 350,
		Units: []UnitSpelling{same("beat/min"), same("beats/min"), same("bpm"), same("/min"), same("1/min")}},
	{Name: RR, Unit: "breaths/min", Min: 0, Max: 150,
		Units: []UnitSpelling{same("breaths/min"), same("breath/min"), same("/min"), same("1/min")}},
	{Name: Sys, Unit: "mmHg", Min: 40, Max: 300, Units: []UnitSpelling{same("mmHg"), same("mm[Hg]")}},
	{Name: Dia, Unit: "mmHg", Min: 10, Max: 200, Units: []UnitSpelling{same("mmHg"), same("mm[Hg]")}},
	{Name: MAP, Unit: "mmHg", Min: 20, Max: 250, Units: []UnitSpelling{same("mmHg"), same("mm[Hg]")}},
	{Name: SpO2, Unit: "%", Min: 40, Max: 100, Units: []UnitSpelling{same("%")}},
	{Name: Temp, Unit: "°C", Min: 25, Max: 45,
		Units: []UnitSpelling{same("°C"), same("Cel"),
			{Name: "°F", Add: -32, Mul: 5, Div: 9}, {Name: "degF", Add: -32, Mul: 5, Div: 9}}},
	{Name: Glucose, Unit: "mg/dL", Min: 10, Max: 1000,
		Units: []UnitSpelling{same("mg/dL"), scaled("mmol/L", mgdlPerMmol, 1)}},
	{Name: ECG, Unit: "mV", Min: -ecgLimitMV, Max: ecgLimitMV, Waveform: true,
		Units: []UnitSpelling{same("mV"), scaled("uV", 1, 1000), scaled("µV", 1, 1000), scaled("μV", 1, 1000)}},
	{Name: Event, Unit: "", Min: 1, Max: 1,
		Kinds: []string{EventFall, EventSOS, EventMotion, EventNoMotion, EventApnea, EventBedExit}},
	// SenML registers "%EL" for remaining battery energy level.
	{Name: Battery, Unit: "%", Min: 0, Max: 100, Units: []UnitSpelling{same("%"), same("%EL")}},
	{Name: Weight, Unit: "kg", Min: 0.3, Max: 400, Units: []UnitSpelling{same("kg")}},
	{Name: Steps, Unit: "count", Min: 0, Max: 1e6, Units: []UnitSpelling{same("count")}},

	// Derived by the ECG processor from beats; a device sending them is
	// rejected, so stored values of these names always come from medbiz.
	{Name: ECGRR, Unit: "ms", Min: 100, Max: 6000, Units: []UnitSpelling{same("ms")}, Derived: true},
	{Name: ECGIrregularity, Unit: "", Min: 0, Max: 1, Derived: true},
	{Name: ECGSQI, Unit: "", Min: 0, Max: 1, Derived: true},
	// Seconds since the last detected beat, once a second: with a good
	// ecg_sqi, 4 s or more is asystole.
	{Name: ECGSinceBeat, Unit: "s", Min: 0, Max: 86400, Units: []UnitSpelling{same("s")}, Derived: true},
}

// Derived metric names (produced by processors, never accepted from devices).
const (
	ECGRR           = "ecg_rr"
	ECGIrregularity = "ecg_irregularity"
	ECGSQI          = "ecg_sqi"
	ECGSinceBeat    = "ecg_since_beat"
)

// vocabIndex maps a metric name to its position in vocabulary. Built once;
// read-only afterwards, so safe for concurrent use.
var vocabIndex = func() map[string]int {
	m := make(map[string]int, len(vocabulary))
	for i, s := range vocabulary {
		if _, dup := m[s.Name]; dup {
			panic("telemetry: duplicate metric " + s.Name)
		}
		m[s.Name] = i
	}
	return m
}()

// Lookup returns the spec of a metric, derived ones included.
func Lookup(metric string) (Spec, bool) {
	i, ok := vocabIndex[metric]
	if !ok {
		return Spec{}, false
	}
	return cloneSpec(vocabulary[i]), true
}

// cloneSpec copies a spec's slices so that callers cannot change the
// vocabulary through them.
func cloneSpec(s Spec) Spec {
	s.Units = slices.Clone(s.Units)
	s.Kinds = slices.Clone(s.Kinds)
	return s
}

// lookup is Lookup without the copy, for the decoder.
func lookup(metric string) (*Spec, int, bool) {
	i, ok := vocabIndex[metric]
	if !ok {
		return nil, 0, false
	}
	return &vocabulary[i], i, true
}

// UnitOf returns the canonical unit of a metric, or "" when the metric is
// unknown or unitless.
func UnitOf(metric string) string {
	if i, ok := vocabIndex[metric]; ok {
		return vocabulary[i].Unit
	}
	return ""
}

// Metrics returns every metric of the vocabulary, derived ones included.
// The slice is a copy; changing it changes nothing here.
func Metrics() []Spec {
	out := make([]Spec, len(vocabulary))
	for i, s := range vocabulary {
		out[i] = cloneSpec(s)
	}
	return out
}

// ValidEventKind reports whether kind is one of the event kinds.
func ValidEventKind(kind string) bool {
	switch kind {
	case EventFall, EventSOS, EventMotion, EventNoMotion, EventApnea, EventBedExit:
		return true
	}
	return false
}
