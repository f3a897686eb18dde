package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/testkit"
)

// provision makes farm f1 with elderly patient p1 and device d1, and a read token.
func provision(t *testing.T, h *testkit.HTTP) (testkit.Creds, string) {
	t.Helper()
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	dev := h.Device("f1", "d1", "p1", "pulse_oximeter")
	return dev, h.FarmToken("f1", "read")
}

func reader(t *testing.T, h *testkit.HTTP, token string) *testkit.HTTP {
	return &testkit.HTTP{T: t, Base: h.Base, Bearer: token, Client: h.Client}
}

// waitSeries polls the series API until it has n points.
func waitSeries(t *testing.T, r *testkit.HTTP, farm, patient, query string, n int) testkit.Series {
	t.Helper()
	var s testkit.Series
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("%d points of %s", n, query), func() bool {
		code, got, body := r.Series(farm, patient, query)
		if code != http.StatusOK {
			t.Fatalf("series %s: %d %s", query, code, body)
		}
		s = got
		return len(s.Points) >= n
	})
	return s
}

func TestEveryPayloadFormIsStoredExactly(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	cl := testkit.MQTT(t, a.MQTTAddr(), dev)
	topic := testkit.TelemetryTopic("f1", "d1")

	base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond).UTC()
	at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	ms := func(s int) int64 { return at(s).UnixMilli() }

	testkit.Publish(t, cl, topic, 1, fmt.Sprintf(`{"ts": %d, "hr": 72, "spo2": 97}`, ms(0)))
	testkit.Publish(t, cl, topic, 1, fmt.Sprintf(`{"ts": %q, "values": {"sys": 128, "dia": 84}}`, at(1).Format(time.RFC3339Nano)))
	testkit.Publish(t, cl, topic, 1, fmt.Sprintf(`[{"ts": %d, "hr": 74}, {"ts": %d, "hr": 75.5}]`, ms(2), ms(3)))
	testkit.Publish(t, cl, topic, 1, fmt.Sprintf(
		`[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":%.3f,"n":"hr","u":"beat/min","v":76},{"n":"temp","u":"Cel","v":36.6,"t":1}]`,
		float64(ms(4))/1000))
	testkit.Publish(t, cl, topic, 1, fmt.Sprintf(`{"ts": %d, "glucose": 5.5, "temp": 98.6, "units": {"glucose": "mmol/L", "temp": "°F"}}`, ms(10)))

	r := reader(t, h, token)
	q := func(metric string) string {
		return fmt.Sprintf("metric=%s&start=%s&stop=now", metric, base.Add(-time.Second).Format(time.RFC3339))
	}
	type pt struct {
		t time.Time
		v float64
	}
	want := map[string][]pt{
		"hr":      {{at(0), 72}, {at(2), 74}, {at(3), 75.5}, {at(4), 76}},
		"spo2":    {{at(0), 97}},
		"sys":     {{at(1), 128}},
		"dia":     {{at(1), 84}},
		"temp":    {{at(5), 36.6}, {at(10), 37}},
		"glucose": {{at(10), 5.5 * 18.016}},
	}
	units := map[string]string{"hr": "beat/min", "spo2": "%", "sys": "mmHg", "dia": "mmHg", "temp": "°C", "glucose": "mg/dL"}
	for metric, points := range want {
		s := waitSeries(t, r, "f1", "p1", q(metric), len(points))
		if s.Unit != units[metric] || s.Metric != metric {
			t.Errorf("%s: metric %q unit %q, want %q", metric, s.Metric, s.Unit, units[metric])
		}
		if len(s.Points) != len(points) {
			t.Fatalf("%s: %d points %+v, want %d", metric, len(s.Points), s.Points, len(points))
		}
		for i, p := range points {
			got := s.Points[i]
			gt, err := time.Parse(time.RFC3339Nano, got.T)
			if err != nil || !gt.Equal(p.t) {
				t.Errorf("%s[%d]: t=%s, want %s", metric, i, got.T, p.t.Format(time.RFC3339Nano))
			}
			if diff := got.V - p.v; diff > 0.01 || diff < -0.01 {
				t.Errorf("%s[%d]: v=%v, want %v", metric, i, got.V, p.v)
			}
		}
	}

	// Aggregation and CSV read the same points.
	code, body := r.Do(http.MethodGet, "/api/v1/farms/f1/patients/p1/series?"+q("hr")+"&every=1h&fn=count", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"v":4`) {
		t.Errorf("count of hr: %d %s, want one window with 4", code, body)
	}
	code, body = r.Do(http.MethodGet, "/api/v1/farms/f1/patients/p1/series?"+q("spo2"), nil, "Accept", "text/csv")
	wantCSV := "t,v\n" + at(0).Format("2006-01-02T15:04:05.000Z07:00") + ",97\n"
	if code != http.StatusOK || string(body) != wantCSV {
		t.Errorf("csv: %d %q, want %q", code, body, wantCSV)
	}
}

func TestOpenAPIAndHealth(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := &testkit.HTTP{T: t, Base: "http://" + a.HTTPAddr()}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if code, body := h.Do(http.MethodGet, path, nil); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	code, body := h.Do(http.MethodGet, "/openapi.json", nil)
	if code != http.StatusOK {
		t.Fatalf("openapi: %d", code)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	for path, method := range map[string]string{
		"/api/v1/farms": "post", "/api/v1/farms/{farm}/patients": "post", "/api/v1/farms/{farm}/devices": "post",
		"/api/v1/farms/{farm}/caregivers": "post", "/api/v1/farms/{farm}/tokens": "post",
		"/api/v1/farms/{farm}/patients/{patient}/series": "get", "/api/v1/farms/{farm}/alerts": "get",
		"/api/v1/farms/{farm}/alerts/{id}/ack": "post",
	} {
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("openapi lacks %s %s", strings.ToUpper(method), path)
		}
	}
}

func TestProvisioningErrors(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	cases := []struct {
		name, path string
		body       any
		code       int
		mention    string
	}{
		{"duplicate farm", "/api/v1/farms", map[string]any{"id": "f1"}, 409, "f1"},
		{"bad farm id", "/api/v1/farms", map[string]any{"id": "F 1"}, 400, "id"},
		{"malformed body", "/api/v1/farms", "{\"id\": ", 400, "body"},
		{"missing farm", "/api/v1/farms/nope/patients", map[string]any{"id": "p2", "profile": "adult"}, 404, "nope"},
		{"bad profile", "/api/v1/farms/f1/patients", map[string]any{"id": "p2", "profile": "teen"}, 400, "profile"},
		{"infant without birth date", "/api/v1/farms/f1/patients", map[string]any{"id": "p3", "profile": "infant"}, 400, "birth_date"},
		{"duplicate patient", "/api/v1/farms/f1/patients", map[string]any{"id": "p1", "profile": "adult"}, 409, "p1"},
		{"device of missing patient", "/api/v1/farms/f1/devices", map[string]any{"id": "d1", "patient": "px", "kind": "bp_monitor"}, 404, "px"},
		{"bad device kind", "/api/v1/farms/f1/devices", map[string]any{"id": "d1", "patient": "p1", "kind": "toaster"}, 400, "kind"},
		{"bad scope", "/api/v1/farms/f1/tokens", map[string]any{"scopes": []string{"everything"}}, 400, "scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.T = t
			code, body := h.Do(http.MethodPost, tc.path, tc.body)
			if code != tc.code || !strings.Contains(string(body), tc.mention) {
				t.Errorf("%d %s, want %d naming %q", code, body, tc.code, tc.mention)
			}
		})
	}
	h.T = t
	noAuth := &testkit.HTTP{T: t, Base: h.Base}
	if code, _ := noAuth.Do(http.MethodPost, "/api/v1/farms", map[string]any{"id": "f2"}); code != 401 {
		t.Errorf("farm without admin token: %d, want 401", code)
	}
	dev := h.Device("f1", "d1", "p1", "bp_monitor")
	if dev.Password == "" || !strings.Contains(dev.Username, "d1") {
		t.Errorf("device credentials %+v", dev)
	}
	if code, _ := h.Do(http.MethodPost, "/api/v1/farms/f1/devices", map[string]any{"id": "d1", "patient": "p1", "kind": "bp_monitor"}); code != 409 {
		t.Errorf("duplicate device: %d, want 409", code)
	}
}

// subscribeErrors collects what medbiz says on a device's errors topic.
func subscribeErrors(t *testing.T, cl paho.Client, farm, device string) chan map[string]string {
	ch := make(chan map[string]string, 16)
	tok := cl.Subscribe("farms/"+farm+"/devices/"+device+"/errors", 1, func(_ paho.Client, m paho.Message) {
		var e map[string]string
		_ = json.Unmarshal(m.Payload(), &e)
		ch <- e
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe errors: %v", tok.Error())
	}
	return ch
}
