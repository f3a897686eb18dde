package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/sim"
	"github.com/medbiz/medbiz/sim/bench"
)

func connect(t *testing.T, addr, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func subscribe(t *testing.T, c paho.Client, filter string, h paho.MessageHandler) {
	t.Helper()
	if tok := c.Subscribe(filter, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

// TestSimAgainstPlainMochi runs a fleet through a plain mochi broker: every
// published message reaches a subscriber, the offline scenario fires the
// device's will, and the verifier, fed by a stand-in rule engine that
// answers two scenarios and raises one unprompted alert, reports exactly
// that.
func TestSimAgainstPlainMochi(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	broker, err := bench.StartMochi(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close(context.Background())
	addr := broker.MQTTAddr()

	specs := []string{"sos@e01@2m", "fall@e01@3m", "desaturation@i01@4m", "apnea@i01@6m", "device_offline@i01@8m"}
	cfg := sim.FleetConfig{Seed: 9, Elderly: 2, Infants: 1, Start: time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond), Duration: 10 * time.Minute}
	for _, s := range specs {
		spec, err := sim.ParseScenarioSpec(s)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Scenarios = append(cfg.Scenarios, spec)
	}
	fleet, err := sim.NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	creds := sim.AnonymousCredentials(fleet, "t1")

	var received atomic.Int64
	var statusMu sync.Mutex
	status := map[string]string{}
	watch := connect(t, addr, "watch")
	subscribe(t, watch, "farms/t1/devices/+/telemetry", func(paho.Client, paho.Message) { received.Add(1) })
	subscribe(t, watch, "farms/t1/devices/+/status", func(_ paho.Client, m paho.Message) {
		statusMu.Lock()
		status[m.Topic()] = string(m.Payload())
		statusMu.Unlock()
	})

	// A stand-in rule engine: SOS → "sos", spo2 < 88 → "spo2_low", and
	// one alert no scenario explains (on e02, who has no scenario).
	engine := connect(t, addr, "engine")
	var once sync.Map
	raise := func(id, patient, rule string, ts int64) {
		if _, dup := once.LoadOrStore(id, true); dup {
			return
		}
		at := time.UnixMilli(ts)
		a, _ := json.Marshal(rules.Event{ID: id, Farm: "t1", Patient: patient, Rule: rule,
			Severity: "critical", State: rules.StateActive, Started: at, TS: at, Message: rule})
		engine.Publish(sim.AlertTopic("t1", patient), 1, false, a)
	}
	subscribe(t, engine, "farms/t1/devices/+/telemetry", func(_ paho.Client, m paho.Message) {
		var r struct {
			TS    int64    `json:"ts"`
			SpO2  *float64 `json:"spo2"`
			Event string   `json:"event"`
		}
		if json.Unmarshal(m.Payload(), &r) != nil {
			return
		}
		switch {
		case strings.HasSuffix(m.Topic(), "/e02-pulse_oximeter/telemetry"):
			raise("bogus", "e02", "tachycardia", r.TS)
		case r.Event == "sos":
			raise("a-sos", "e01", "sos", r.TS)
		case strings.Contains(m.Topic(), "/i01-pulse_oximeter/") && r.SpO2 != nil && *r.SpO2 < 88:
			raise("a-spo2", "i01", "spo2_low", r.TS)
		}
	})

	ver := sim.NewVerifier(fleet, nil)
	defer ver.Close()
	if err := ver.Connect(ctx, "tcp://"+addr, creds); err != nil {
		t.Fatal(err)
	}
	ver.Start()
	st, err := sim.Run(ctx, fleet, sim.RunConfig{Broker: "tcp://" + addr, QoS: 1, Creds: creds, OnPublish: ver.Published})
	if err != nil {
		t.Fatal(err)
	}
	if st.Published < 1000 || st.Failed != 0 || st.Disconnects != 1 {
		t.Fatalf("run stats %+v: want >1000 published, none failed, one disconnect", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < int64(st.Published) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := received.Load(); got != int64(st.Published) {
		t.Errorf("subscriber received %d of %d published messages", got, st.Published)
	}
	for time.Now().Before(deadline) {
		statusMu.Lock()
		s := status["farms/t1/devices/i01-pulse_oximeter/status"]
		statusMu.Unlock()
		if s == "offline" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	statusMu.Lock()
	if s := status["farms/t1/devices/i01-pulse_oximeter/status"]; s != "offline" {
		t.Errorf("offline device status %q: want its will (offline)", s)
	}
	if s := status["farms/t1/devices/e01-pulse_oximeter/status"]; s != "" {
		t.Errorf("cleanly disconnected device status %q: want no will", s)
	}
	statusMu.Unlock()

	ver.Wait(ctx, 2*time.Second)
	sum := ver.Summary()
	var out bytes.Buffer
	sum.Write(&out)
	t.Log("\n" + out.String())
	if sum.Scenarios != 5 || sum.Detected != 2 || sum.Missed != 3 || len(sum.False) != 1 {
		t.Errorf("summary %d/%d/%d/%d: want 5 scenarios, 2 detected, 3 missed, 1 false", sum.Scenarios, sum.Detected, sum.Missed, len(sum.False))
	}
	for _, r := range sum.Results {
		if r.Detected && (r.Latency <= 0 || r.Latency > 2*time.Second) {
			t.Errorf("%s latency %s: want a small positive delay", r.Scenario, r.Latency)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if !regexp.MustCompile(`^scenarios=5 detected=2 missed=3 false_alerts=1 p99_latency_ms=\d+$`).MatchString(last) {
		t.Errorf("last line %q", last)
	}
	if !strings.Contains(out.String(), fmt.Sprintf("MISSED   %-36s", "fall@e01@3m0s")) {
		t.Errorf("report does not name the missed fall:\n%s", out.String())
	}
}
