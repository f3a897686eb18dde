package telemetry

import (
	"bytes"
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"
)

// field is one value of a flat/values object. Decoding into it instead of
// json.RawMessage parses numbers and strings in place, so a reading costs
// one allocation per key (the map key) rather than two; only object values
// ("values", "units", "ecg") are copied for a second decode.
type field struct {
	kind byte
	num  float64 // kindNumber
	str  string  // kindString; kindBadNumber: the literal, truncated
	raw  []byte  // kindObject: a copy of the object
}

const (
	kindNumber    = iota + 1
	kindBadNumber // a number literal float64 cannot hold
	kindString
	kindObject
	kindArray
	kindBool
	kindNull
)

func (f *field) UnmarshalJSON(b []byte) error {
	*f = field{}
	switch c := b[0]; {
	case c == '"':
		f.kind = kindString
		return unquote(b, &f.str)
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			f.kind, f.str = kindBadNumber, string(b[:min(len(b), 30)])
			return nil
		}
		f.kind, f.num = kindNumber, n
	case c == '{':
		f.kind, f.raw = kindObject, bytes.Clone(b)
	case c == '[':
		f.kind = kindArray
	case c == 't' || c == 'f':
		f.kind = kindBool
	default:
		f.kind = kindNull
	}
	return nil
}

// describe names the JSON type of a field for error messages.
func (f *field) describe() string {
	switch f.kind {
	case kindNumber, kindBadNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindBool:
		return "a boolean"
	}
	return "null"
}

// interned holds the strings a device sends over and over (metric names,
// units, event kinds), so that decoding them allocates nothing.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, s := range vocabulary {
		m[s.Name] = s.Name
		m[s.Unit] = s.Unit
		for _, u := range s.Units {
			m[u.Name] = u.Name
		}
		for _, k := range s.Kinds {
			m[k] = k
		}
	}
	return m
}()

// unquote decodes a JSON string literal into *s. Literals without escapes,
// the usual case, skip the JSON decoder.
func unquote(b []byte, s *string) error {
	if len(b) < 2 || b[0] != '"' {
		return errFieldType
	}
	if bytes.IndexByte(b, '\\') < 0 {
		inner := b[1 : len(b)-1]
		if v, ok := interned[string(inner)]; ok {
			*s = v
		} else {
			*s = string(inner)
		}
		return nil
	}
	if err := json.Unmarshal(b, s); err != nil {
		return errFieldType
	}
	return nil
}

// entry is one metric key of an object, sorted into vocabulary order.
type entry struct {
	name string
	f    field
	spec *Spec
	pos  int // vocabulary index; -1 for unknown names
}

// object decodes one flat/values object (a whole payload or an element of
// an array).
func (d *decoder) object(m map[string]field, where string) *Error {
	ts, skewed, err := d.timestamp(m["ts"])
	if err != nil {
		return err.at(where)
	}
	var units map[string]string
	if f, ok := m["units"]; ok {
		if units, err = parseUnits(&f); err != nil {
			return err.at(where)
		}
	}
	var vm map[string]field
	if f, ok := m["values"]; ok {
		if vm, err = parseValues(&f); err != nil {
			return err.at(where)
		}
	}
	var buf [16]entry
	entries := buf[:0]
	for k := range m {
		switch k {
		case "ts", "units", "values":
			continue
		}
		entries = appendEntry(entries, k, m)
	}
	for k := range vm {
		entries = appendEntry(entries, k, vm)
	}
	if len(entries) == 0 {
		return errorf(ReasonEmpty, "no metrics in the reading").at(where)
	}
	// Unknown names sort first (and by name), so the error a device gets for
	// a payload with several problems is always the same one.
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmp.Compare(a.pos, b.pos); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	if d.out.Measurements == nil {
		d.out.Measurements = make([]Measurement, 0, len(entries))
	}
	for _, e := range entries {
		if err := d.metric(e, units, ts, skewed); err != nil {
			return err.at(where)
		}
	}
	return nil
}

func appendEntry(entries []entry, name string, m map[string]field) []entry {
	spec, pos, ok := lookup(name)
	if !ok {
		pos = -1
	}
	return append(entries, entry{name: name, f: m[name], spec: spec, pos: pos})
}

// checkSendable rejects names a device may not send.
func checkSendable(name string, spec *Spec) *Error {
	if spec == nil {
		return errorf(ReasonUnknownMetric, "unknown metric %q", name)
	}
	if spec.Derived {
		return errorf(ReasonUnknownMetric, "unknown metric %q: it is derived by medbiz and not accepted from devices", name)
	}
	return nil
}

// metric decodes one key: value of an object.
func (d *decoder) metric(e entry, units map[string]string, ts time.Time, skewed bool) *Error {
	if err := checkSendable(e.name, e.spec); err != nil {
		return err
	}
	unit := units[e.name]
	if e.spec.Waveform {
		if e.f.kind != kindObject {
			return errorf(ReasonBadECG, `metric "ecg": value must be a frame object {"fs": Hz, "samples": [...]}, not %s`, e.f.describe())
		}
		return d.ecgFrame(e.f.raw, unit, ts, skewed)
	}
	if err := d.count(1); err != nil {
		return err
	}
	if e.spec.Name == Event {
		if unit != "" {
			return badUnit(e.spec, unit)
		}
		if e.f.kind != kindString {
			return errorf(ReasonMalformed, `metric "event": value must be an event kind string, for example "fall", not %s`, e.f.describe())
		}
		return d.event(e.f.str, ts, skewed)
	}
	switch e.f.kind {
	case kindNumber:
		return d.value(e.spec, e.f.num, unit, ts, skewed)
	case kindBadNumber:
		return errorf(ReasonOutOfRange, "metric %q: value %s is too large to be a number", e.name, e.f.str)
	}
	return errorf(ReasonMalformed, "metric %q: value must be a number, not %s", e.name, e.f.describe())
}

// event appends an event measurement after checking its kind.
func (d *decoder) event(kind string, ts time.Time, skewed bool) *Error {
	if !ValidEventKind(kind) {
		return errorf(ReasonUnknownMetric, `metric "event": unknown event kind %q (use fall, sos, motion, no_motion, apnea, bed_exit)`, kind)
	}
	d.out.Measurements = append(d.out.Measurements, Measurement{Time: ts, Metric: Event, Value: 1, Text: kind, Skewed: skewed})
	return nil
}

// value converts v from unit to the canonical unit, checks the range and
// appends the measurement.
func (d *decoder) value(spec *Spec, v float64, unit string, ts time.Time, skewed bool) *Error {
	u, ok := spec.unit(unit)
	if !ok {
		return badUnit(spec, unit)
	}
	c := u.ToCanonical(v)
	if math.IsNaN(c) || c < spec.Min || c > spec.Max {
		from := ""
		if u.Name != spec.Unit {
			from = " (from " + fmtFloat(v) + " " + u.Name + ")"
		}
		return errorf(ReasonOutOfRange, "metric %q: value %s%s%s outside the plausible range %s..%s%s",
			spec.Name, fmtFloat(c), unitSuffix(spec.Unit), from, fmtFloat(spec.Min), fmtFloat(spec.Max), unitSuffix(spec.Unit))
	}
	d.out.Measurements = append(d.out.Measurements, Measurement{Time: ts, Metric: spec.Name, Value: c, Skewed: skewed})
	return nil
}

func badUnit(spec *Spec, unit string) *Error {
	if len(spec.Units) == 0 {
		return errorf(ReasonBadUnit, "metric %q: unit %q not accepted (the metric has no unit)", spec.Name, unit)
	}
	return errorf(ReasonBadUnit, "metric %q: unit %q not accepted (use %s)", spec.Name, unit, spec.unitList())
}

// parseValues reads the "values" object. (A function of its own so that
// the map escapes to the heap only when there is one.)
func parseValues(f *field) (map[string]field, *Error) {
	if f.kind != kindObject {
		return nil, errorf(ReasonMalformed, `"values" must be a JSON object of metric: value, not %s`, f.describe())
	}
	var vm map[string]field
	if err := json.Unmarshal(f.raw, &vm); err != nil {
		return nil, jsonError(err)
	}
	return vm, nil
}

// parseUnits reads the "units" object.
func parseUnits(f *field) (map[string]string, *Error) {
	if f.kind != kindObject {
		return nil, errorf(ReasonMalformed, `"units" must be a JSON object of metric: unit, not %s`, f.describe())
	}
	var units map[string]string
	if err := json.Unmarshal(f.raw, &units); err != nil {
		return nil, errorf(ReasonMalformed, `"units" must map metric names to unit strings`)
	}
	// A unit for a known metric that this reading does not carry is
	// harmless (firmware often sends one fixed units map); a unit for a name
	// that is not a metric is a typo the device should hear about.
	for name := range units {
		spec, _, _ := lookup(name)
		if err := checkSendable(name, spec); err != nil {
			err.Detail = `"units": ` + err.Detail
			return nil, err
		}
	}
	return units, nil
}

// Bounds of accepted times: the Unix epoch to the end of year 9999. Inside
// them a time is a time (perhaps skewed); outside, it is garbage.
const (
	maxUnixSeconds = 253402300799
	maxUnixMillis  = maxUnixSeconds*1000 + 999
)

// timestamp reads an object's "ts" (absent: the zero field) and applies
// the clock-skew window.
func (d *decoder) timestamp(f field) (time.Time, bool, *Error) {
	var t time.Time
	switch f.kind {
	case 0:
		return d.recv, false, nil
	case kindString:
		p, err := time.Parse(time.RFC3339Nano, f.str)
		if err != nil {
			return time.Time{}, false, errorf(ReasonBadTimestamp, `"ts": %q is not an RFC 3339 time`, f.str)
		}
		t = p
	case kindNumber:
		ms := f.num
		if ms < 0 || ms > maxUnixMillis {
			return time.Time{}, false, errorf(ReasonBadTimestamp, `"ts": %s is not epoch milliseconds between 1970 and 9999`, fmtFloat(ms))
		}
		whole := math.Floor(ms)
		t = time.UnixMilli(int64(whole)).Add(time.Duration(math.Round((ms - whole) * 1e6)))
	case kindBadNumber:
		return time.Time{}, false, errorf(ReasonBadTimestamp, `"ts": %s is not epoch milliseconds between 1970 and 9999`, f.str)
	default:
		return time.Time{}, false, errorf(ReasonBadTimestamp, `"ts" must be epoch milliseconds or an RFC 3339 string, not %s`, f.describe())
	}
	t, skewed := d.skew(t)
	return t, skewed, nil
}

// skew replaces a device time outside the clock-skew window by the receive
// time.
func (d *decoder) skew(t time.Time) (time.Time, bool) {
	if t.After(d.recv.Add(d.opt.MaxFuture)) || t.Before(d.recv.Add(-d.opt.MaxPast)) {
		return d.recv, true
	}
	return t.UTC(), false
}
