package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// SenML JSON (RFC 8428). A pack is an array of records; base fields (bn,
// bt, bu, bv) apply to the record that carries them and to every later one
// until changed. Times are seconds; a time below 2^28 is relative to the
// receive time (RFC 8428 §4.5.3).

// senmlRelative is the RFC's threshold between relative and absolute time.
const senmlRelative = 1 << 28

// senmlVersion is the SenML version this decoder understands (RFC 8428).
const senmlVersion = 10

// optFloat and optString remember whether a field was present, which
// SenML needs (an absent v is not v=0) without a pointer allocation per
// field on the hot path.
type optFloat struct {
	v   float64
	set bool
}

var errFieldType = errors.New("wrong JSON type")

func (o *optFloat) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errFieldType
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errFieldType
	}
	o.v, o.set = f, true
	return nil
}

type optString struct {
	v   string
	set bool
}

func (o *optString) UnmarshalJSON(b []byte) error {
	if err := unquote(b, &o.v); err != nil {
		return err
	}
	o.set = true
	return nil
}

// present records only that a field was there (fields medbiz rejects).
type present bool

func (p *present) UnmarshalJSON([]byte) error { *p = true; return nil }

type senmlRecord struct {
	BN   optString `json:"bn"`
	BT   optFloat  `json:"bt"`
	BU   optString `json:"bu"`
	BV   optFloat  `json:"bv"`
	BVer optFloat  `json:"bver"`
	N    optString `json:"n"`
	U    optString `json:"u"`
	V    optFloat  `json:"v"`
	VS   optString `json:"vs"`
	T    optFloat  `json:"t"`
	VB   present   `json:"vb"`
	VD   present   `json:"vd"`
	S    present   `json:"s"`
}

// isSenML reports whether a record has one of the fields that make an
// array SenML (n, bn, bt, v, u, vs).
func (r *senmlRecord) isSenML() bool {
	return r.N.set || r.BN.set || r.BT.set || r.V.set || r.U.set || r.VS.set
}

// empty reports whether a record has no field medbiz reads (an empty
// object, or null).
func (r *senmlRecord) empty() bool {
	return !r.isSenML() && !r.BU.set && !r.BV.set && !r.BVer.set && !r.T.set && !bool(r.VB) && !bool(r.VD) && !bool(r.S)
}

// senml decodes a SenML pack.
func (d *decoder) senml(recs []senmlRecord) *Error {
	var (
		bn, bu string
		bt, bv float64
	)
	if d.out.Measurements == nil {
		d.out.Measurements = make([]Measurement, 0, len(recs))
	}
	for i := range recs {
		r := &recs[i]
		if r.empty() {
			return errorf(ReasonMalformed, "SenML record %d is null or has no SenML field", i)
		}
		if r.BVer.set && r.BVer.v > senmlVersion {
			return errorf(ReasonMalformed, "SenML record %d: SenML version %s is not supported (only up to %d)", i, fmtFloat(r.BVer.v), senmlVersion)
		}
		if r.BN.set {
			bn = r.BN.v
		}
		if r.BT.set {
			bt = r.BT.v
		}
		if r.BU.set {
			bu = r.BU.v
		}
		if r.BV.set {
			bv = r.BV.v
		}
		hasValue := r.V.set || r.VS.set || bool(r.VB) || bool(r.VD) || bool(r.S)
		if !r.N.set && !hasValue {
			// A record of base fields only, as RFC 8428 allows.
			continue
		}
		if err := d.senmlRecord(r, bn, bu, bt, bv); err != nil {
			return err.at("SenML record " + strconv.Itoa(i))
		}
	}
	return nil
}

func (d *decoder) senmlRecord(r *senmlRecord, bn, bu string, bt, bv float64) *Error {
	full := bn + r.N.v
	metric := full[strings.LastIndexAny(full, ":/")+1:]
	if metric == "" {
		return errorf(ReasonMalformed, "record has no name (n or bn)")
	}
	spec, _, _ := lookup(metric)
	if err := checkSendable(metric, spec); err != nil {
		return err
	}
	if spec.Waveform {
		return errorf(ReasonBadECG, `metric "ecg": send waveforms as ECG frames ({"ecg": {"fs", "samples"}}), not as SenML records`)
	}
	if r.VB || r.VD || r.S {
		return errorf(ReasonMalformed, "metric %q: SenML vb, vd and s are not supported; use v (vs for events)", metric)
	}
	if err := d.count(1); err != nil {
		return err
	}
	ts, skewed, err := d.senmlTime(bt, r.T)
	if err != nil {
		return err
	}
	unit := bu
	if r.U.set {
		unit = r.U.v
	}
	if spec.Name == Event {
		if !r.VS.set || r.V.set {
			return errorf(ReasonMalformed, `metric "event": the event kind goes in "vs" (for example "vs": "fall"), with no "v"`)
		}
		// Only the record's own u counts: a pack's bu is meant for its
		// numeric records and should not make an event in it invalid.
		if r.U.set && r.U.v != "" {
			return badUnit(spec, r.U.v)
		}
		return d.event(r.VS.v, ts, skewed)
	}
	if r.VS.set {
		return errorf(ReasonMalformed, `metric %q: "vs" is only for metric "event"; send the number in "v"`, metric)
	}
	if !r.V.set {
		return errorf(ReasonMalformed, `metric %q: record has no value "v"`, metric)
	}
	v := bv + r.V.v
	if math.IsInf(v, 0) || math.IsInf(r.V.v, 0) {
		return errorf(ReasonOutOfRange, "metric %q: value is too large to be a number", metric)
	}
	return d.value(spec, v, unit, ts, skewed)
}

// senmlTime resolves bt + t. No time at all means "now", the receive time,
// which is not skew.
func (d *decoder) senmlTime(bt float64, t optFloat) (time.Time, bool, *Error) {
	sec := bt + t.v
	if sec == 0 {
		return d.recv, false, nil
	}
	if math.IsNaN(sec) || math.IsInf(sec, 0) {
		return time.Time{}, false, errorf(ReasonBadTimestamp, "time bt+t is not a number")
	}
	var ts time.Time
	if sec < senmlRelative {
		// Relative to the receive time, negative into the past. Offsets
		// beyond ±2^62 ns cannot be durations, and are before 1970 anyway.
		off := math.Round(sec * 1e6)
		if off < -(1 << 52) {
			return time.Time{}, false, errorf(ReasonBadTimestamp, "time bt+t = %s is too far in the past", fmtFloat(sec))
		}
		ts = d.recv.Add(time.Duration(off) * time.Microsecond)
		if ts.Unix() < 0 {
			return time.Time{}, false, errorf(ReasonBadTimestamp, "time bt+t = %s is before 1970", fmtFloat(sec))
		}
	} else {
		if sec > maxUnixSeconds {
			return time.Time{}, false, errorf(ReasonBadTimestamp, "time bt+t = %s is after year 9999", fmtFloat(sec))
		}
		whole := math.Floor(sec)
		// float64 seconds near 2^31 carry about 0.2 µs of rounding noise;
		// rounding to the microsecond keeps 1764200000.123 at .123000.
		ts = time.Unix(int64(whole), int64(math.Round((sec-whole)*1e9))).Round(time.Microsecond)
	}
	ts, skewed := d.skew(ts)
	return ts, skewed, nil
}

// mandatoryFields enforces RFC 8428 §4.4: a field whose name ends in "_"
// must be understood or the pack rejected. medbiz understands none. The
// byte test is only a cheap filter; the map decode decides.
func mandatoryFields(raw []byte) *Error {
	if !bytes.Contains(raw, []byte(`_"`)) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return jsonError(err)
	}
	for k := range m {
		if strings.HasSuffix(k, "_") {
			return errorf(ReasonMalformed, "SenML field %q must be understood, and medbiz does not support it", k)
		}
	}
	return nil
}

// senmlFieldError finds which field of a record has the wrong JSON type
// (the fast decode only knows that one did).
func senmlFieldError(raw []byte) *Error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return jsonError(err)
	}
	for _, f := range []struct{ name, want string }{
		{"bn", "a string"}, {"bu", "a string"}, {"n", "a string"}, {"u", "a string"}, {"vs", "a string"},
		{"bt", "a number"}, {"bv", "a number"}, {"bver", "a number"}, {"t", "a number"}, {"v", "a number"},
	} {
		raw, ok := m[f.name]
		if !ok {
			continue
		}
		var probe any
		if f.want == "a string" {
			probe = new(optString)
		} else {
			probe = new(optFloat)
		}
		if err := json.Unmarshal(raw, probe); err != nil {
			if f.want == "a number" && len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
				return errorf(ReasonOutOfRange, "field %q: %.30s is too large to be a number", f.name, raw)
			}
			return errorf(ReasonMalformed, "field %q must be %s, not %s", f.name, f.want, describe(raw))
		}
	}
	return errorf(ReasonMalformed, "record is not a valid SenML record")
}
