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

// copyRules copies the shipped packs so a test can change them.
func copyRules(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join(testkit.Root(), "configs", "rules")
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestHTTPAckAndBadPackReload(t *testing.T) {
	cfg := testkit.Config(t.TempDir())
	cfg.Rules.Dir = copyRules(t)
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
