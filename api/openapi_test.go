package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIDocumentsTheAlertMessage checks that /openapi.json describes
// the alert answers with the fields, formats and enums of the message
// caregivers receive (rules.Event, the one alert wire type).
func TestOpenAPIDocumentsTheAlertMessage(t *testing.T) {
	h := New(Deps{Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Required   []string `json:"required"`
				Properties map[string]struct {
					Type   any      `json:"type"`
					Format string   `json:"format"`
					Enum   []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	alert, ok := doc.Components.Schemas["Alert"]
	if !ok {
		t.Fatalf("no Alert schema; schemas: %v", reflect.ValueOf(doc.Components.Schemas).MapKeys())
	}
	var props []string
	for k := range alert.Properties {
		props = append(props, k)
	}
	slices.Sort(props)
	want := []string{"acked_by", "escalation", "farm", "id", "message", "patient", "rule", "severity", "started", "state", "ts", "values"}
	if !slices.Equal(props, want) {
		t.Errorf("Alert properties %v, want %v", props, want)
	}
	required := slices.Clone(alert.Required)
	slices.Sort(required)
	if want := []string{"farm", "id", "message", "patient", "rule", "severity", "started", "state", "ts", "values"}; !slices.Equal(required, want) {
		t.Errorf("Alert required %v, want %v (escalation and acked_by are omitted when empty)", required, want)
	}
	for _, f := range []string{"started", "ts"} {
		if p := alert.Properties[f]; p.Type != "string" || p.Format != "date-time" {
			t.Errorf("%s: type %v format %q, want a date-time string", f, p.Type, p.Format)
		}
	}
	if got := alert.Properties["severity"].Enum; !slices.Equal(got, []string{"info", "warning", "critical"}) {
		t.Errorf("severity enum %v", got)
	}
	if got := alert.Properties["state"].Enum; !slices.Equal(got, []string{"active", "acknowledged", "resolved"}) {
		t.Errorf("state enum %v", got)
	}
	if p := alert.Properties["values"]; p.Type != "object" {
		t.Errorf("values: type %v, want object", p.Type)
	}
	// Both alert calls answer with it.
	for path, method := range map[string]string{"/api/v1/farms/{farm}/alerts": "get", "/api/v1/farms/{farm}/alerts/{id}/ack": "post"} {
		op := string(doc.Paths[path][method])
		if !strings.Contains(op, `"#/components/schemas/Alert"`) {
			t.Errorf("%s %s does not answer with Alert: %s", method, path, op)
		}
	}
}
