package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The alert message is a contract with caregivers' apps: these goldens are
// its bytes, and an Event must encode to them exactly and decode from them
// without loss.
var alertGoldens = map[string]Event{
	"active": {
		ID: "f1-p1-spo2_low-1764214800000", Farm: "f1", Patient: "p1", Rule: "spo2_low",
		Severity: "critical", State: StateActive,
		Started: time.Date(2026, 11, 27, 3, 40, 0, 123_000_000, time.UTC),
		TS:      time.Date(2026, 11, 27, 3, 40, 30, 0, time.UTC),
		Message: "SpO2 below 90 % for 30 s", Values: map[string]float64{"spo2": 88, "hr": 97.5},
	},
	// No values still writes "values": {}; times in another zone and with
	// sub-millisecond digits are written in UTC, to the millisecond.
	"no_values": {
		ID: "f1-p2-sos-1", Farm: "f1", Patient: "p2", Rule: "sos",
		Severity: "warning", State: StateResolved,
		Started: time.Date(2026, 11, 27, 5, 40, 0, 999_999_999, time.FixedZone("CET", 3600)),
		TS:      time.Date(2026, 11, 27, 4, 41, 0, 1_500_000, time.UTC),
		Message: "SOS button pressed",
	},
	"acknowledged": {
		ID: "f1-p1-hr_high-2", Farm: "f1", Patient: "p1", Rule: "hr_high",
		Severity: "critical", State: StateAcknowledged,
		Started: time.Date(2026, 11, 27, 3, 40, 0, 0, time.UTC),
		TS:      time.Date(2026, 11, 27, 3, 50, 0, 0, time.UTC),
		Message: "Heart rate above 130 /min", Values: map[string]float64{"hr": 141},
		Escalation: 2, AckedBy: "c1",
	},
}

func TestAlertMessageGolden(t *testing.T) {
	for name, ev := range alertGoldens {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "alert", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			want = bytes.TrimSpace(want)
			got, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded:\n%s\nwant:\n%s", got, want)
			}
			var back Event
			if err := json.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			again, err := json.Marshal(back)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, want) {
				t.Fatalf("decoded and encoded again:\n%s\nwant:\n%s", again, want)
			}
			if !back.TS.Equal(ev.TS.Truncate(time.Millisecond)) || back.AckedBy != ev.AckedBy || back.Escalation != ev.Escalation {
				t.Fatalf("decoded %+v, want %+v", back, ev)
			}
		})
	}
}

func TestAlertMessageRejectsBadTime(t *testing.T) {
	for _, in := range []string{`{"id":"a","ts":"yesterday"}`, `{"id":"a","started":1764214800000}`} {
		var ev Event
		if err := json.Unmarshal([]byte(in), &ev); err == nil {
			t.Errorf("%s decoded without error: %+v", in, ev)
		}
	}
}

// TestEventJSONMatchesSchemaFields keeps Event's tags (which the OpenAPI
// schema is generated from) and its encoding struct the same, in order.
func TestEventJSONMatchesSchemaFields(t *testing.T) {
	pub, enc := reflect.TypeOf(Event{}), reflect.TypeOf(eventJSON{})
	if pub.NumField() != enc.NumField() {
		t.Fatalf("Event has %d fields, eventJSON %d", pub.NumField(), enc.NumField())
	}
	for i := range pub.NumField() {
		if p, e := pub.Field(i).Tag.Get("json"), enc.Field(i).Tag.Get("json"); p != e || pub.Field(i).Name != enc.Field(i).Name {
			t.Errorf("field %d: Event %s %q, eventJSON %s %q", i, pub.Field(i).Name, p, enc.Field(i).Name, e)
		}
	}
}
