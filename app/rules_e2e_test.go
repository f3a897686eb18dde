package app_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medbiz/medbiz/internal/testkit"
)

// An override of a shipped pack: an elderly fever at 37.0 (the shipped
// pack needs 37.8, or two readings above 37.2).
const elderlyOverride = `rules:
  - id: fever
    severity: warning
    when: temp > 37.0
    clear: temp < 36.8
    message: "Local fever rule: {{temp}} °C"
    source: "this deployment's own threshold"
`

// A pack of its own, added while medbiz runs.
const localPack = `rules:
  - id: glucose_very_high
    profiles: [elderly]
    severity: critical
    when: glucose > 400
    clear: glucose < 350
    message: "Glucose {{glucose}} mg/dL"
    source: "this deployment's own threshold"
`

// TestRulesDirOverDefaults is rules.dir laid over the packs built into the
// binary: its elderly.yaml replaces the shipped one, common.yaml's rules
// still run, and a pack written into the folder while medbiz runs is
// picked up by the file watch.
func TestRulesDirOverDefaults(t *testing.T) {
	cfg := testkit.Config(t.TempDir())
	cfg.Rules.Dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.Rules.Dir, "elderly.yaml"), []byte(elderlyOverride), 0o600); err != nil {
		t.Fatal(err)
	}
	a := testkit.Start(t, cfg)
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	th := testkit.MQTT(t, a.MQTTAddr(), h.Device("f1", "t1", "p1", "thermometer"))
	gm := testkit.MQTT(t, a.MQTTAddr(), h.Device("f1", "g1", "p1", "glucose_meter"))
	sos := testkit.MQTT(t, a.MQTTAddr(), h.Device("f1", "b1", "p1", "sos_button"))
	box := &inbox{}
	subscribe(t, testkit.MQTT(t, a.MQTTAddr(), h.Caregiver("f1", "c1", "p1")), box, "farms/f1/alerts/+")

	now := time.Now().Add(-time.Minute)
	testkit.Publish(t, th, testkit.TelemetryTopic("f1", "t1"), 1, fmt.Sprintf(`{"ts": %d, "temp": 37.4}`, now.UnixMilli()))
	if got := box.wait(t, "fever", "active"); got.Message != "Local fever rule: 37.4 °C" {
		t.Errorf("fever from the folder's elderly.yaml: %+v", got)
	}
	testkit.Publish(t, sos, testkit.TelemetryTopic("f1", "b1"), 1, fmt.Sprintf(`{"ts": %d, "event": "sos"}`, now.UnixMilli()))
	box.wait(t, "sos", "active") // common.yaml is still the shipped one

	base := "http://" + a.HTTPAddr()
	okSeries := `medbiz_rules_reloads_total{result="ok"}`
	if err := os.WriteFile(filepath.Join(cfg.Rules.Dir, "local.yaml"), []byte(localPack), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the new pack loaded", func() bool { return metric(t, base, okSeries) >= 1 })
	testkit.Publish(t, gm, testkit.TelemetryTopic("f1", "g1"), 1, fmt.Sprintf(`{"ts": %d, "glucose": 450}`, now.Add(time.Second).UnixMilli()))
	if got := box.wait(t, "glucose_very_high", "active"); got.Severity != "critical" {
		t.Errorf("alert of the added pack: %+v", got)
	}
}

func TestHTTPAckAndBadPackReload(t *testing.T) {
	cfg := testkit.Config(t.TempDir())
	cfg.Rules.Dir = t.TempDir() // laid over the built-in packs
	a := testkit.Start(t, cfg)
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	h.Patient("f1", "p2", "elderly", "")
	b1 := h.Device("f1", "b1", "p1", "sos_button")
	b2 := h.Device("f1", "b2", "p2", "sos_button")
	cg := h.Caregiver("f1", "c1", "p1", "p2")
	box := &inbox{}
	subscribe(t, testkit.MQTT(t, a.MQTTAddr(), cg), box, "farms/f1/alerts/+")

	now := time.Now().Add(-time.Minute).UnixMilli()
	testkit.Publish(t, testkit.MQTT(t, a.MQTTAddr(), b1), testkit.TelemetryTopic("f1", "b1"), 1, fmt.Sprintf(`{"ts": %d, "event": "sos"}`, now))
	act := box.wait(t, "sos", "active")
	if act.Severity != "critical" || act.Patient != "p1" {
		t.Errorf("sos alert %+v", act)
	}

	// Acknowledge over HTTP: a read-only token may not, a write token may.
	ro := reader(t, h, h.FarmToken("f1", "read"))
	if code, _ := ro.Do(http.MethodPost, "/api/v1/farms/f1/alerts/"+act.ID+"/ack", map[string]any{"by": "nurse"}); code != http.StatusForbidden {
		t.Errorf("read token acknowledged: %d", code)
	}
	rwToken := h.FarmToken("f1", "read", "write")
	rw := reader(t, h, rwToken)
	if code, body := rw.Do(http.MethodPost, "/api/v1/farms/f1/alerts/nope/ack", map[string]any{"by": "nurse"}); code != http.StatusNotFound {
		t.Errorf("ack of an unknown alert: %d %s", code, body)
	}
	if code, body := rw.Do(http.MethodPost, "/api/v1/farms/f1/alerts/"+act.ID+"/ack", map[string]any{"by": "nurse"}); code != http.StatusAccepted {
		t.Fatalf("ack over HTTP: %d %s", code, body)
	}
	// Recorded in the token's name, not in the one the body claims.
	byToken := "token:" + strings.Split(rwToken, "_")[1]
	if got := box.wait(t, "sos", "acknowledged"); got.AckedBy != byToken || got.ID != act.ID {
		t.Errorf("acknowledged %+v, want acked_by %s", got, byToken)
	}

	// A broken pack is rejected by the file watch, counted, and the old
	// packs keep alerting.
	base := "http://" + a.HTTPAddr()
	errSeries := `medbiz_rules_reloads_total{result="error"}`
	broken := "rules:\n  - id: broken\n    severity: critical\n    when: spo2 <<< 3\n    message: x\n    source: none\n"
	if err := os.WriteFile(filepath.Join(cfg.Rules.Dir, "zz-broken.yaml"), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the bad pack counted", func() bool { return metric(t, base, errSeries) >= 1 })
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "zz-broken.yaml") {
		t.Errorf("reload of a bad pack: %v, want an error naming the file", err)
	}
	testkit.Publish(t, testkit.MQTT(t, a.MQTTAddr(), b2), testkit.TelemetryTopic("f1", "b2"), 1, fmt.Sprintf(`{"ts": %d, "event": "sos"}`, now))
	testkit.Eventually(t, 20*time.Second, "p2's sos under the old packs", func() bool {
		for _, m := range box.all() {
			if m.Patient == "p2" && m.Rule == "sos" && m.State == "active" {
				return true
			}
		}
		return false
	})

	// Fixed again: the reload succeeds.
	if err := os.Remove(filepath.Join(cfg.Rules.Dir, "zz-broken.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Errorf("reload of the good packs: %v", err)
	}
}
