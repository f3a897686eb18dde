package telemetry

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// recv is the receive time of every test payload: 100 s after the
// The example ts of docs/contract.md#telemetry-payloads, 1764200000000
// (2025-11-26T23:33:20Z).
var recv = time.Date(2025, 11, 26, 23, 35, 0, 0, time.UTC)

var exampleTS = time.Date(2025, 11, 26, 23, 33, 20, 0, time.UTC)

func m(t time.Time, metric string, v float64) Measurement {
	return Measurement{Time: t, Metric: metric, Value: v}
}

func TestDecodeForms(t *testing.T) {
	at := func(d time.Duration) time.Time { return exampleTS.Add(d) }
	tests := []struct {
		name    string
		payload string
		want    []Measurement
	}{
		{"flat with ms ts", `{"ts": 1764200000000, "hr": 72, "spo2": 97}`,
			[]Measurement{m(exampleTS, HR, 72), m(exampleTS, SpO2, 97)}},
		{"flat vocabulary order, not key order", `{"spo2": 97, "ts": 1764200000000, "hr": 72}`,
			[]Measurement{m(exampleTS, HR, 72), m(exampleTS, SpO2, 97)}},
		{"flat without ts uses receive time", `{"temp": 36.6}`,
			[]Measurement{m(recv, Temp, 36.6)}},
		{"fractional ms", `{"ts": 1764200000000.5, "hr": 72}`,
			[]Measurement{m(at(500*time.Microsecond), HR, 72)}},
		{"RFC 3339 ts with offset", `{"ts": "2025-11-27T00:33:20.25+01:00", "rr": 16}`,
			[]Measurement{m(at(250*time.Millisecond), RR, 16)}},
		{"values form", `{"ts": "2025-11-26T23:33:20Z", "values": {"sys": 128, "dia": 84, "map": 99}}`,
			[]Measurement{m(exampleTS, Sys, 128), m(exampleTS, Dia, 84), m(exampleTS, MAP, 99)}},
		{"values plus flat keys", `{"values": {"sys": 128}, "hr": 70}`,
			[]Measurement{m(recv, HR, 70), m(recv, Sys, 128)}},
		{"event", `{"event": "fall"}`,
			[]Measurement{{Time: recv, Metric: Event, Value: 1, Text: EventFall}}},
		{"every event kind in an array",
			`[{"event":"fall"},{"event":"sos"},{"event":"motion"},{"event":"no_motion"},{"event":"apnea"},{"event":"bed_exit"}]`,
			[]Measurement{
				{Time: recv, Metric: Event, Value: 1, Text: "fall"}, {Time: recv, Metric: Event, Value: 1, Text: "sos"},
				{Time: recv, Metric: Event, Value: 1, Text: "motion"}, {Time: recv, Metric: Event, Value: 1, Text: "no_motion"},
				{Time: recv, Metric: Event, Value: 1, Text: "apnea"}, {Time: recv, Metric: Event, Value: 1, Text: "bed_exit"},
			}},
		{"array keeps element order", `[{"ts": 1764200001000, "hr": 80}, {"ts": 1764200000000, "hr": 70}]`,
			[]Measurement{m(at(time.Second), HR, 80), m(exampleTS, HR, 70)}},
		{"array of values objects", `[{"values": {"weight": 70.5}}, {"values": {"battery": 88, "steps": 1200}}]`,
			[]Measurement{m(recv, Weight, 70.5), m(recv, Battery, 88), m(recv, Steps, 1200)}},
		{"units override", `{"units": {"glucose": "mmol/L"}, "glucose": 5.5}`,
			[]Measurement{m(recv, Glucose, 5.5*18.016)}},
		{"units for an absent metric is harmless", `{"units": {"temp": "°F"}, "hr": 60}`,
			[]Measurement{m(recv, HR, 60)}},
		{"leading whitespace", " \n\t{\"hr\": 60}",
			[]Measurement{m(recv, HR, 60)}},
		{"range edges are inclusive", `{"spo2": 100, "rr": 0, "battery": 0}`,
			[]Measurement{m(recv, RR, 0), m(recv, SpO2, 100), m(recv, Battery, 0)}},
		{"SenML contract example",
			`[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1764200000,"n":"hr","u":"beat/min","v":72}]`,
			[]Measurement{m(exampleTS, HR, 72)}},
		{"SenML base fields carry over, t adds to bt",
			`[{"bn":"dev1/","bt":1764200000,"bu":"%","n":"spo2","v":97},{"n":"battery","t":1,"v":50},{"n":"hr","u":"bpm","t":2.5,"v":61}]`,
			[]Measurement{m(exampleTS, SpO2, 97), m(at(time.Second), Battery, 50), m(at(2500*time.Millisecond), HR, 61)}},
		{"SenML base-only record and base value",
			`[{"bn":"urn:dev:x:","bt":1764200000,"bv":100},{"n":"sys","u":"mm[Hg]","v":20},{"n":"dia","v":-20}]`,
			[]Measurement{m(exampleTS, Sys, 120), m(exampleTS, Dia, 80)}},
		{"SenML name without base", `[{"n":"steps","u":"count","v":10}]`,
			[]Measurement{m(recv, Steps, 10)}},
		{"SenML event in vs", `[{"n":"event","vs":"sos","bt":1764200000}]`,
			[]Measurement{{Time: exampleTS, Metric: Event, Value: 1, Text: EventSOS}}},
		{"SenML event ignores the pack's base unit", `[{"bu":"%","n":"spo2","v":97},{"n":"event","vs":"apnea"}]`,
			[]Measurement{m(recv, SpO2, 97), {Time: recv, Metric: Event, Value: 1, Text: EventApnea}}},
		{"SenML ignores unknown optional fields", `[{"n":"hr","v":60,"ut":30,"foo":"bar","bver":10}]`,
			[]Measurement{m(recv, HR, 60)}},
		{"SenML subsecond time", `[{"bt":1764200000.123,"n":"hr","v":60}]`,
			[]Measurement{m(at(123*time.Millisecond), HR, 60)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, DecodeOptions{})
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.payload, err)
			}
			assertMeasurements(t, got.Measurements, tt.want)
			if len(got.ECG) != 0 {
				t.Errorf("unexpected ECG frames: %+v", got.ECG)
			}
		})
	}
}

func assertMeasurements(t *testing.T, got, want []Measurement) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d measurements %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if !g.Time.Equal(w.Time) || g.Metric != w.Metric || math.Abs(g.Value-w.Value) > 1e-9 ||
			g.Text != w.Text || g.Skewed != w.Skewed || g.Source != "" {
			t.Errorf("measurement %d = %+v, want %+v", i, g, w)
		}
		if g.Time.Location() != time.UTC {
			t.Errorf("measurement %d time %v is not UTC", i, g.Time)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	big := `{"hr": 60, "pad": "` + strings.Repeat("x", DefaultMaxBytes) + `"}`
	many := "[" + strings.Repeat(`{"hr":60},`, DefaultMaxReadings) + `{"hr":60}]`
	manyInOne := `{"ecg": {"fs": 250, "samples": [0]}, "hr": 60}`
	tests := []struct {
		name    string
		payload string
		opt     DecodeOptions
		reason  string
		detail  []string // substrings the detail must contain
	}{
		{"invalid JSON", `{"hr": 72`, DecodeOptions{}, ReasonMalformed, []string{"JSON"}},
		{"trailing garbage", `{"hr": 72} x`, DecodeOptions{}, ReasonMalformed, []string{"JSON"}},
		{"not UTF-8", "{\"event\": \"fa\xffll\"}", DecodeOptions{}, ReasonMalformed, []string{"UTF-8"}},
		{"scalar payload", `72`, DecodeOptions{}, ReasonMalformed, []string{"object or array"}},
		{"string payload", `"hr"`, DecodeOptions{}, ReasonMalformed, []string{"object or array"}},
		{"empty payload", ``, DecodeOptions{}, ReasonEmpty, []string{"empty"}},
		{"blank payload", " \n", DecodeOptions{}, ReasonEmpty, []string{"empty"}},
		{"empty object", `{}`, DecodeOptions{}, ReasonEmpty, []string{"no metrics"}},
		{"only ts", `{"ts": 1764200000000}`, DecodeOptions{}, ReasonEmpty, []string{"no metrics"}},
		{"empty values", `{"values": {}}`, DecodeOptions{}, ReasonEmpty, []string{"no metrics"}},
		{"empty array", `[]`, DecodeOptions{}, ReasonEmpty, []string{"empty array"}},
		{"empty element", `[{"hr": 60}, {}]`, DecodeOptions{}, ReasonEmpty, []string{"payload[1]", "no metrics"}},
		{"SenML base records only", `[{"bn":"x:","bt":1764200000}]`, DecodeOptions{}, ReasonEmpty, []string{"no measurements"}},
		{"unknown metric", `{"hrx": 72}`, DecodeOptions{}, ReasonUnknownMetric, []string{`"hrx"`}},
		{"seq is not reserved", `{"hr": 72, "seq": 5}`, DecodeOptions{}, ReasonUnknownMetric, []string{`"seq"`}},
		{"unknown metric in values", `{"values": {"hr": 60, "pulse": 60}}`, DecodeOptions{}, ReasonUnknownMetric, []string{`"pulse"`}},
		{"unknown metric in array element", `[{"hr": 60}, {"heart": 60}]`, DecodeOptions{}, ReasonUnknownMetric, []string{"payload[1]", `"heart"`}},
		{"unknown metric in units", `{"units": {"pulse": "bpm"}, "hr": 60}`, DecodeOptions{}, ReasonUnknownMetric, []string{"units", `"pulse"`}},
		{"derived metric", `{"ecg_rr": 800}`, DecodeOptions{}, ReasonUnknownMetric, []string{`"ecg_rr"`, "derived"}},
		{"derived metric SenML", `[{"n":"ecg_sqi","v":0.9}]`, DecodeOptions{}, ReasonUnknownMetric, []string{`"ecg_sqi"`}},
		{"unknown SenML name", `[{"bn":"urn:dev:mac:1:","n":"pulse","v":60}]`, DecodeOptions{}, ReasonUnknownMetric, []string{"record 0", `"pulse"`}},
		{"unknown event kind", `{"event": "trip"}`, DecodeOptions{}, ReasonUnknownMetric, []string{`"event"`, `"trip"`}},
		{"unknown SenML event kind", `[{"n":"event","vs":"explode"}]`, DecodeOptions{}, ReasonUnknownMetric, []string{`"explode"`}},
		{"string value", `{"hr": "72"}`, DecodeOptions{}, ReasonMalformed, []string{`"hr"`, "number"}},
		{"null value", `{"spo2": null}`, DecodeOptions{}, ReasonMalformed, []string{`"spo2"`, "number"}},
		{"bool value", `{"temp": true}`, DecodeOptions{}, ReasonMalformed, []string{`"temp"`, "number"}},
		{"object value", `{"weight": {"v": 70}}`, DecodeOptions{}, ReasonMalformed, []string{`"weight"`, "number"}},
		{"numeric event", `{"event": 1}`, DecodeOptions{}, ReasonMalformed, []string{`"event"`}},
		{"overflowing number", `{"hr": 1e999}`, DecodeOptions{}, ReasonOutOfRange, []string{`"hr"`, "too large"}},
		{"values not an object", `{"values": [1]}`, DecodeOptions{}, ReasonMalformed, []string{`"values"`}},
		{"units not an object", `{"units": "mmol/L", "glucose": 5}`, DecodeOptions{}, ReasonMalformed, []string{`"units"`}},
		{"units value not a string", `{"units": {"glucose": 1}, "glucose": 5}`, DecodeOptions{}, ReasonMalformed, []string{`"units"`}},
		{"array of scalars", `[1, 2]`, DecodeOptions{}, ReasonMalformed, []string{"payload[0]", "objects"}},
		{"nested array", `[[{"hr": 60}]]`, DecodeOptions{}, ReasonMalformed, []string{"payload[0]"}},
		{"bad unit", `{"units": {"temp": "K"}, "temp": 310}`, DecodeOptions{}, ReasonBadUnit, []string{`"temp"`, `"K"`, "°C", "Cel", "°F"}},
		{"%RH is not %", `[{"n":"spo2","u":"%RH","v":97}]`, DecodeOptions{}, ReasonBadUnit, []string{`"spo2"`, `"%RH"`}},
		{"SenML bad base unit", `[{"bu":"mmol/L","n":"hr","v":5}]`, DecodeOptions{}, ReasonBadUnit, []string{`"hr"`, `"mmol/L"`}},
		{"unit on event", `[{"n":"event","u":"count","vs":"fall"}]`, DecodeOptions{}, ReasonBadUnit, []string{`"event"`, `"count"`}},
		{"out of range", `{"hr": 400}`, DecodeOptions{}, ReasonOutOfRange, []string{`"hr"`, "400", "10..350"}},
		{"negative steps", `{"steps": -1}`, DecodeOptions{}, ReasonOutOfRange, []string{`"steps"`, "-1", "0..1000000"}},
		{"out of range after °F", `{"units": {"temp": "°F"}, "temp": 37}`, DecodeOptions{}, ReasonOutOfRange, []string{`"temp"`, "2.7778 °C", "37 °F", "25..45 °C"}},
		{"Celsius sent as °C but is Fahrenheit", `{"temp": 98.6}`, DecodeOptions{}, ReasonOutOfRange, []string{`"temp"`, "98.6"}},
		{"mg/dL sent as mmol/L", `[{"n":"glucose","u":"mmol/L","v":100}]`, DecodeOptions{}, ReasonOutOfRange, []string{`"glucose"`, "100 mmol/L"}},
		{"SenML out of range", `[{"n":"spo2","v":101}]`, DecodeOptions{}, ReasonOutOfRange, []string{`"spo2"`, "101"}},
		{"ts string not RFC 3339", `{"ts": "yesterday", "hr": 60}`, DecodeOptions{}, ReasonBadTimestamp, []string{`"ts"`, "yesterday"}},
		{"ts bool", `{"ts": true, "hr": 60}`, DecodeOptions{}, ReasonBadTimestamp, []string{`"ts"`}},
		{"ts null", `{"ts": null, "hr": 60}`, DecodeOptions{}, ReasonBadTimestamp, []string{`"ts"`}},
		{"ts negative", `{"ts": -5, "hr": 60}`, DecodeOptions{}, ReasonBadTimestamp, []string{`"ts"`}},
		{"ts after 9999", `{"ts": 1e20, "hr": 60}`, DecodeOptions{}, ReasonBadTimestamp, []string{`"ts"`}},
		{"ts in array element", `[{"hr": 60}, {"ts": "x", "hr": 60}]`, DecodeOptions{}, ReasonBadTimestamp, []string{"payload[1]", `"ts"`}},
		{"SenML absolute time after 9999", `[{"bt":1e12,"n":"hr","v":60}]`, DecodeOptions{}, ReasonBadTimestamp, []string{"bt+t"}},
		{"SenML relative time before 1970", `[{"t":-2e9,"n":"hr","v":60}]`, DecodeOptions{}, ReasonBadTimestamp, []string{"bt+t"}},
		{"SenML t not a number", `[{"t":"now","n":"hr","v":60}]`, DecodeOptions{}, ReasonMalformed, []string{`"t"`}},
		{"SenML v string", `[{"n":"hr","v":"60"}]`, DecodeOptions{}, ReasonMalformed, []string{`"v"`, "number"}},
		{"SenML v null", `[{"n":"hr","v":null}]`, DecodeOptions{}, ReasonMalformed, []string{`"v"`, "null"}},
		{"SenML n null", `[{"n":null,"v":60}]`, DecodeOptions{}, ReasonMalformed, []string{`"n"`, "null"}},
		{"SenML n not a string", `[{"n":5,"v":60}]`, DecodeOptions{}, ReasonMalformed, []string{`"n"`}},
		{"SenML vs for a number metric", `[{"n":"hr","vs":"60"}]`, DecodeOptions{}, ReasonMalformed, []string{`"hr"`, `"vs"`}},
		{"SenML event with v", `[{"n":"event","v":1}]`, DecodeOptions{}, ReasonMalformed, []string{`"event"`, `"vs"`}},
		{"SenML no value", `[{"n":"hr","u":"bpm"}]`, DecodeOptions{}, ReasonMalformed, []string{`"hr"`, `"v"`}},
		{"SenML boolean value", `[{"n":"hr","vb":true}]`, DecodeOptions{}, ReasonMalformed, []string{`"hr"`, "vb"}},
		{"SenML no name", `[{"v":60}]`, DecodeOptions{}, ReasonMalformed, []string{"record 0", "name"}},
		{"SenML name ends in separator", `[{"bn":"urn:dev:","v":60}]`, DecodeOptions{}, ReasonMalformed, []string{"name"}},
		{"SenML mandatory field", `[{"n":"hr","v":60,"ts_":1}]`, DecodeOptions{}, ReasonMalformed, []string{`"ts_"`}},
		{"SenML newer version", `[{"bver":11,"n":"hr","v":60}]`, DecodeOptions{}, ReasonMalformed, []string{"version"}},
		{"SenML ecg record", `[{"n":"ecg","u":"mV","v":0.5}]`, DecodeOptions{}, ReasonBadECG, []string{`"ecg"`, "frames"}},
		{"SenML element not an object", `[{"n":"hr","v":60}, 5]`, DecodeOptions{}, ReasonMalformed, []string{"payload[1]"}},
		{"too large", big, DecodeOptions{}, ReasonTooLarge, []string{"bytes", "262144"}},
		{"too large custom", `{"hr": 60, "spo2": 97}`, DecodeOptions{MaxBytes: 10}, ReasonTooLarge, []string{"10"}},
		{"too many readings in array", many, DecodeOptions{}, ReasonTooLarge, []string{"10000"}},
		{"too many readings in objects", `[{"hr": 60, "spo2": 97}, {"hr": 61}]`, DecodeOptions{MaxReadings: 2}, ReasonTooLarge, []string{"2 readings"}},
		{"ECG frame counts as a reading", manyInOne, DecodeOptions{MaxReadings: 1}, ReasonTooLarge, []string{"1 readings"}},
		{"too many SenML records", `[{"n":"hr","v":60},{"n":"hr","v":61},{"n":"hr","v":62}]`, DecodeOptions{MaxReadings: 2}, ReasonTooLarge, []string{"2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, tt.opt)
			assertReject(t, got, err, tt.reason, tt.detail...)
		})
	}
}

// assertReject checks that a payload was rejected whole with the reason
// and a detail naming what is wrong.
func assertReject(t *testing.T, got Decoded, err error, reason string, detail ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want %s; got %+v", reason, got)
	}
	if len(got.Measurements) != 0 || len(got.ECG) != 0 {
		t.Errorf("rejected payload still returned data: %+v", got)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v is not *Error", err, err)
	}
	if e.Reason != reason {
		t.Errorf("reason %q (%s), want %q", e.Reason, e.Detail, reason)
	}
	for _, s := range detail {
		if !strings.Contains(e.Detail, s) {
			t.Errorf("detail %q does not mention %q", e.Detail, s)
		}
	}
	if !strings.Contains(err.Error(), e.Detail) {
		t.Errorf("Error() %q lacks the detail", err.Error())
	}
}

// A payload with one bad reading among good ones is rejected whole.
func TestDecodeRejectsWhole(t *testing.T) {
	for _, p := range []string{
		`[{"hr": 60}, {"spo2": 97}, {"hr": 999}]`,
		`[{"n":"hr","v":60},{"n":"spo2","v":97},{"n":"bogus","v":1}]`,
		`{"hr": 60, "spo2": 97, "ecg": {"fs": 5, "samples": [0.1]}}`,
	} {
		got, err := Decode([]byte(p), recv, DecodeOptions{})
		if err == nil || len(got.Measurements) != 0 || len(got.ECG) != 0 {
			t.Errorf("Decode(%s) = %+v, %v; want rejected whole", p, got, err)
		}
	}
}

// With several problems, the same one is always reported (map order must
// not leak into what a device sees).
func TestDecodeErrorIsDeterministic(t *testing.T) {
	p := []byte(`{"zz": 1, "aa": 2, "hr": 999, "mm": 3, "spo2": "x"}`)
	first := ""
	for i := 0; i < 50; i++ {
		_, err := Decode(p, recv, DecodeOptions{})
		if err == nil {
			t.Fatal("accepted")
		}
		if i == 0 {
			first = err.Error()
			if !strings.Contains(first, `"aa"`) {
				t.Errorf("first error %q, want the alphabetically first unknown name", first)
			}
		} else if err.Error() != first {
			t.Fatalf("error changed between runs: %q then %q", first, err.Error())
		}
	}
}

// The ingest hook may reuse its buffer after Decode returns: nothing in the
// result may point into the payload.
func TestDecodeDoesNotRetainPayload(t *testing.T) {
	for _, p := range []string{
		`[{"bn":"urn:dev:mac:1:","n":"event","vs":"bed_exit"},{"n":"hr","v":60}]`,
		`{"event": "no_motion", "ecg": {"fs": 250, "samples": [0.25]}}`,
	} {
		buf := []byte(p)
		d, err := Decode(buf, recv, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before := fmt.Sprintf("%+v", d)
		for i := range buf {
			buf[i] = 'x'
		}
		if after := fmt.Sprintf("%+v", d); after != before {
			t.Errorf("result changed with the payload buffer:\n%s\n%s", before, after)
		}
	}
}
