package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Alert states (docs/contract.md#alert-message).
const (
	StateActive       = "active"
	StateAcknowledged = "acknowledged"
	StateResolved     = "resolved"
)

// Errors Ack returns; callers decide on them (an MQTT ack of an unknown id
// is a caregiver's mistake, not a server error).
var (
	ErrUnknownAlert = errors.New("unknown or resolved alert")
	ErrAlreadyAcked = errors.New("alert already acknowledged")
)

// Clock is the wall clock, used for deadman and escalation only.
type Clock interface{ Now() time.Time }

// PatientInfo is what the engine needs to know about a patient.
type PatientInfo struct {
	Farm, ID, Profile string
	BirthDate         time.Time
	// Region selects the public context (weather, air quality) the
	// patient's rules read; empty means none.
	Region string
	// Overrides replace rule parameters: "<rule id>.<param>" for one rule,
	// "<param>" for every rule with a param of that name.
	Overrides map[string]float64
}

// Event is one alert state change, and the one definition of the alert
// message on the wire (docs/contract.md#alert-message): the engine writes
// it, the ALERTS stream and the active-alerts bucket carry it, caregivers
// receive it over MQTT, the store keeps it, the HTTP API answers with it
// (its tags are the OpenAPI schema) and the simulator's verifier reads it. MarshalJSON writes both times in
// RFC 3339 UTC with milliseconds, values always (an empty object when
// there are none), escalation and acked_by only when set.
//
// Events returned by the engine share their Values map with the engine's
// copy: treat it as read-only.
type Event struct {
	ID       string    `json:"id" doc:"the alert's id; every state change of one alert carries it"`
	Farm     string    `json:"farm"`
	Patient  string    `json:"patient"`
	Rule     string    `json:"rule" doc:"the rule that raised it"`
	Severity string    `json:"severity" enum:"info,warning,critical"`
	State    string    `json:"state" enum:"active,acknowledged,resolved"`
	Started  time.Time `json:"started" doc:"when the condition began (event time); RFC 3339 UTC with milliseconds"`
	TS       time.Time `json:"ts" doc:"when this state change happened; RFC 3339 UTC with milliseconds"`
	Message  string    `json:"message"`
	// Values are the measurements behind the alert; always present.
	Values     map[string]float64 `json:"values" doc:"the measurements behind the alert, by metric; {} when none"`
	Escalation int                `json:"escalation,omitempty" doc:"how often an unacknowledged critical alert was re-sent; absent when 0"`
	AckedBy    string             `json:"acked_by,omitempty" doc:"who acknowledged it; absent until then"`
}

// jsonTime writes RFC 3339 in UTC with milliseconds, as the alert message
// promises.
type jsonTime time.Time

func (t jsonTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("alert time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("alert time: %w", err)
	}
	*t = jsonTime(v)
	return nil
}

// eventJSON is Event's encoding, field for field in the same order, with the
// millisecond time format; TestEventJSONMatchesSchemaFields keeps the two
// equal.
type eventJSON struct {
	ID         string             `json:"id"`
	Farm       string             `json:"farm"`
	Patient    string             `json:"patient"`
	Rule       string             `json:"rule"`
	Severity   string             `json:"severity"`
	State      string             `json:"state"`
	Started    jsonTime           `json:"started"`
	TS         jsonTime           `json:"ts"`
	Message    string             `json:"message"`
	Values     map[string]float64 `json:"values"`
	Escalation int                `json:"escalation,omitempty"`
	AckedBy    string             `json:"acked_by,omitempty"`
}

// MarshalJSON writes the alert message of docs/contract.md#alert-message.
func (e Event) MarshalJSON() ([]byte, error) {
	v := e.Values
	if v == nil {
		v = map[string]float64{}
	}
	return json.Marshal(eventJSON{e.ID, e.Farm, e.Patient, e.Rule, e.Severity, e.State,
		jsonTime(e.Started), jsonTime(e.TS), e.Message, v, e.Escalation, e.AckedBy})
}

// UnmarshalJSON reads the alert message back.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event{j.ID, j.Farm, j.Patient, j.Rule, j.Severity, j.State,
		time.Time(j.Started), time.Time(j.TS), j.Message, j.Values, j.Escalation, j.AckedBy}
	return nil
}
