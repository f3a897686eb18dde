package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/app"
	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/testkit"
)

type alertMsg struct {
	ID, Farm, Patient, Rule, Severity, State, Message string
	AckedBy                                           string `json:"acked_by"`
}

// inbox collects the alert messages one caregiver connection receives.
type inbox struct {
	mu  sync.Mutex
	got []alertMsg
}

func (b *inbox) handler(_ paho.Client, m paho.Message) {
	var a alertMsg
	if json.Unmarshal(m.Payload(), &a) == nil {
		b.mu.Lock()
		b.got = append(b.got, a)
		b.mu.Unlock()
	}
}

func (b *inbox) all() []alertMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]alertMsg(nil), b.got...)
}

func (b *inbox) wait(t *testing.T, rule, state string) alertMsg {
	t.Helper()
	var found alertMsg
	testkit.Eventually(t, 20*time.Second, rule+" "+state, func() bool {
		for _, a := range b.all() {
			if a.Rule == rule && a.State == state {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

// subscribe subscribes a caregiver and returns the granted codes.
func subscribe(t *testing.T, cl paho.Client, b *inbox, filters ...string) map[string]byte {
	t.Helper()
	m := map[string]byte{}
	for _, f := range filters {
		m[f] = 1
	}
	tok := cl.SubscribeMultiple(m, b.handler)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("subscribe timed out")
	}
	return tok.(*paho.SubscribeToken).Result()
}

// lowSpO2 is an elderly person's oximeter reading 88 % every 2 s for 40 s
// of event time, then, from recover on, 97 %.
func spo2Series(from time.Time, seconds int, value int) string {
	var parts []string
	for s := 0; s <= seconds; s += 2 {
		parts = append(parts, fmt.Sprintf(`{"ts": %d, "spo2": %d, "hr": 80}`, from.Add(time.Duration(s)*time.Second).UnixMilli(), value))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestAlertReachesCaregiverAndFollowsItsLifecycle(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	h.Patient("f1", "p2", "elderly", "")
	dev := h.Device("f1", "d1", "p1", "pulse_oximeter")
	c1 := h.Caregiver("f1", "c1", "p1")
	c2 := h.Caregiver("f1", "c2", "p2")
	token := h.FarmToken("f1", "read", "write")

	mine, other := &inbox{}, &inbox{}
	cg1 := testkit.MQTT(t, a.MQTTAddr(), c1)
	if codes := subscribe(t, cg1, mine, "farms/f1/alerts/+"); codes["farms/f1/alerts/+"] >= 0x80 {
		t.Fatalf("caregiver refused its own wildcard: %v", codes)
	}
	cg2 := testkit.MQTT(t, a.MQTTAddr(), c2)
	codes := subscribe(t, cg2, other, "farms/f1/alerts/+", "farms/f1/alerts/p1", "farms/f1/devices/d1/telemetry")
	if codes["farms/f1/alerts/p1"] < 0x80 || codes["farms/f1/devices/d1/telemetry"] < 0x80 {
		t.Errorf("caregiver of p2 was granted p1's alerts or telemetry: %v", codes)
	}

	d := testkit.MQTT(t, a.MQTTAddr(), dev)
	topic := testkit.TelemetryTopic("f1", "d1")
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	testkit.Publish(t, d, topic, 1, spo2Series(t0, 40, 88))
	act := mine.wait(t, "spo2_low", "active")
	if act.Patient != "p1" || act.Severity != "warning" || act.ID == "" {
		t.Errorf("active alert %+v", act)
	}

	// A caregiver who connects later learns the active alert.
	late := &inbox{}
	cg1b := testkit.MQTT(t, a.MQTTAddr(), c1)
	subscribe(t, cg1b, late, "farms/f1/alerts/p1")
	if got := late.wait(t, "spo2_low", "active"); got.ID != act.ID {
		t.Errorf("late caregiver got %+v", got)
	}

	// Listed by the API as active.
	r := reader(t, h, token)
	code, body := r.Do(http.MethodGet, "/api/v1/farms/f1/alerts?patient=p1&state=active", nil)
	if code != 200 || !strings.Contains(string(body), act.ID) {
		t.Errorf("active alerts: %d %s", code, body)
	}

	// A caregiver of another patient cannot acknowledge p1's alerts.
	cg2.Publish("farms/f1/alerts/p1/"+act.ID+"/ack", 0, false, `{"by":"c2"}`).WaitTimeout(5 * time.Second)
	time.Sleep(time.Second)
	for _, m := range mine.all() {
		if m.State == "acknowledged" {
			t.Fatalf("caregiver of p2 acknowledged an alert of p1: %+v", m)
		}
	}

	// Acknowledge over MQTT, in the caregiver's own name whatever it says.
	testkit.Publish(t, cg1, "farms/f1/alerts/p1/"+act.ID+"/ack", 1, `{"by":"someone-else"}`)
	ack := mine.wait(t, "spo2_low", "acknowledged")
	if ack.ID != act.ID || ack.AckedBy != "c1" {
		t.Errorf("acknowledged %+v", ack)
	}

	// Values recover: resolved.
	testkit.Publish(t, d, topic, 1, spo2Series(t0.Add(42*time.Second), 40, 97))
	res := mine.wait(t, "spo2_low", "resolved")
	if res.ID != act.ID {
		t.Errorf("resolved %+v, want id %s", res, act.ID)
	}
	var states []string
	for _, m := range mine.all() {
		if m.ID == act.ID {
			states = append(states, m.State)
		}
	}
	if strings.Join(states, ",") != "active,acknowledged,resolved" {
		t.Errorf("caregiver saw %v, want each state change once", states)
	}
	if got := other.all(); len(got) != 0 {
		t.Errorf("caregiver of p2 received %+v", got)
	}
	// The resolved alert is in the farm's bucket and listed.
	testkit.Eventually(t, 10*time.Second, "resolved alert listed", func() bool {
		code, body := r.Do(http.MethodGet, "/api/v1/farms/f1/alerts?state=resolved", nil)
		return code == 200 && strings.Contains(string(body), act.ID)
	})
}

// alertStates counts the state changes of one alert on the ALERTS stream.
func alertStates(t *testing.T, a *app.App, id string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := a.JetStream().OrderedConsumer(ctx, bus.AlertsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for {
		batch, err := cons.FetchNoWait(100)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var al alertMsg
			if json.Unmarshal(m.Data(), &al) == nil && al.ID == id {
				out[al.State]++
			}
		}
		if n == 0 {
			return out
		}
	}
}

func TestActiveAlertSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	a := testkit.Start(t, testkit.Config(dir))
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "elderly", "")
	dev := h.Device("f1", "d1", "p1", "pulse_oximeter")
	c1 := h.Caregiver("f1", "c1", "p1")
	box := &inbox{}
	subscribe(t, testkit.MQTT(t, a.MQTTAddr(), c1), box, "farms/f1/alerts/p1")
	d := testkit.MQTT(t, a.MQTTAddr(), dev)
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	testkit.Publish(t, d, testkit.TelemetryTopic("f1", "d1"), 1, spo2Series(t0, 40, 88))
	act := box.wait(t, "spo2_low", "active")
	d.Disconnect(100)
	testkit.Stop(t, a)

	b := testkit.Start(t, testkit.Config(dir))
	box2 := &inbox{}
	subscribe(t, testkit.MQTT(t, b.MQTTAddr(), c1), box2, "farms/f1/alerts/p1")
	if got := box2.wait(t, "spo2_low", "active"); got.ID != act.ID {
		t.Errorf("after restart the caregiver learns %+v, want %s", got, act.ID)
	}
	d = testkit.MQTT(t, b.MQTTAddr(), dev)
	testkit.Publish(t, d, testkit.TelemetryTopic("f1", "d1"), 1, spo2Series(t0.Add(42*time.Second), 40, 97))
	if got := box2.wait(t, "spo2_low", "resolved"); got.ID != act.ID {
		t.Errorf("resolved %+v, want %s", got, act.ID)
	}
	if n := alertStates(t, b, act.ID); n["active"] != 1 || n["resolved"] != 1 {
		t.Errorf("ALERTS stream holds %v for %s, want one active and one resolved", n, act.ID)
	}
}
