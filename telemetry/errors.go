package telemetry

import "fmt"

// Reasons of a rejected payload. They are few and fixed so that they can be
// a Prometheus label (medbiz_ingest_rejected_total{reason}) and so that a
// device's firmware can switch on them.
const (
	// ReasonMalformed: not UTF-8, not JSON, or not one of the payload forms
	// (wrong JSON type for a field, SenML field medbiz does not support).
	ReasonMalformed = "malformed"
	// ReasonUnknownMetric: a metric name, or an event kind, that is not in
	// the vocabulary, or a derived metric that only medbiz may produce.
	ReasonUnknownMetric = "unknown_metric"
	// ReasonBadUnit: a unit the metric does not accept.
	ReasonBadUnit = "bad_unit"
	// ReasonOutOfRange: a value outside the metric's plausible range after
	// conversion to the canonical unit, or too large to be a number.
	ReasonOutOfRange = "out_of_range"
	// ReasonBadTimestamp: a ts / SenML time that cannot be a time.
	ReasonBadTimestamp = "bad_timestamp"
	// ReasonTooLarge: more bytes or more readings than DecodeOptions allow.
	ReasonTooLarge = "too_large"
	// ReasonEmpty: nothing to store (empty payload, object or array).
	ReasonEmpty = "empty"
	// ReasonBadECG: an ECG frame with a bad rate, sample count or sample.
	ReasonBadECG = "bad_ecg"
)

// Reasons lists every Reason, for pre-registering metric label values.
func Reasons() []string {
	return []string{ReasonMalformed, ReasonUnknownMetric, ReasonBadUnit, ReasonOutOfRange,
		ReasonBadTimestamp, ReasonTooLarge, ReasonEmpty, ReasonBadECG}
}

// Error is why a payload was rejected. The device receives Reason and
// Detail on its errors topic, so Detail is a sentence a firmware developer
// can act on: it names the field, the value and what would be accepted.
type Error struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string { return e.Reason + ": " + e.Detail }

func errorf(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// at prefixes the detail with where in the payload the error is
// ("payload[2]: ..."), so a device sending many readings finds the bad one.
func (e *Error) at(where string) *Error {
	if where != "" {
		e.Detail = where + ": " + e.Detail
	}
	return e
}
