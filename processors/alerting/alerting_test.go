package alerting

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/jstest"
	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/rules"
)

// testPack raises device_offline at once (no grace), so a status message
// shows its effect without waiting for the wall clock.
const testPack = `rules:
  - id: device_offline
    profiles: [adult]
    kind: device_offline
    severity: warning
    params: {grace_s: 0}
    message: "Device {{device}} went offline unexpectedly"
    source: "test pack"
`

type harness struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	alerts chan rules.Event
}

func start(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	h := &harness{alerts: make(chan rules.Event, 16)}
	h.nc, h.js = jstest.Connect(t, jstest.Server(t))
	if err := bus.EnsureStreams(ctx, h.js, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	reg, err := registry.Open(ctx, h.js, registry.Options{BcryptCost: bcrypt.MinCost, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	if _, err := reg.CreateFarm(ctx, registry.Farm{ID: "f1", Name: "Farm 1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.CreatePatient(ctx, registry.Patient{Farm: "f1", ID: "p1", Profile: "adult"}); err != nil {
		t.Fatal(err)
	}
	packs := []rules.Source{{Name: "test", FS: fstest.MapFS{"common.yaml": {Data: []byte(testPack)}}}}
	limits := bus.ConsumerLimits{AckWait: 30 * time.Second, MaxAckPending: 100}
	p, err := New(Config{
		Packs: packs, EscalateAfter: time.Hour, PublishTimeout: 5 * time.Second,
		Telemetry: bus.AlertingConsumer(limits), Control: bus.AlertingControlConsumer(limits),
	}, h.js, reg, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := h.js.OrderedConsumer(ctx, bus.AlertsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev rules.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Errorf("alert message on %s: %v", m.Subject(), err)
			return
		}
		h.alerts <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(stopCtx); err != nil {
			t.Error(err)
		}
	})
	return h
}

func (h *harness) publish(t *testing.T, subject string, body any) {
	t.Helper()
	data, ok := body.([]byte)
	if !ok {
		var err error
		if data, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.js.Publish(context.Background(), subject, data); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) next(t *testing.T) rules.Event {
	t.Helper()
	select {
	case ev := <-h.alerts:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no alert state change published")
		return rules.Event{}
	}
}

// TestControlDispatchBySubject: a CONTROL message is handled as what its
// subject says. A status change and an acknowledgement each reach their
// handler; a message that does not decode, or whose body is of the other
// kind, is terminated and changes nothing.
func TestControlDispatchBySubject(t *testing.T) {
	h := start(t)
	terminated, err := h.nc.SubscribeSync(server.JSAdvisoryConsumerMsgTerminatedPre + "." + bus.ControlStream + "." + bus.AlertingControlDurable)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 3, 40, 0, 0, time.UTC)
	offline := bus.StatusMessage{Farm: "f1", Patient: "p1", Device: "d1", Status: "offline", Unexpected: true, TS: at}
	online := offline
	online.Status, online.Unexpected, online.TS = "online", false, at.Add(time.Minute)

	// A status change reaches the status handler: device_offline is raised.
	h.publish(t, bus.StatusSubject("f1", "p1", "d1"), offline)
	raised := h.next(t)
	if raised.Rule != "device_offline" || raised.State != rules.StateActive || raised.Patient != "p1" {
		t.Fatalf("after the offline status: %+v", raised)
	}

	// An acknowledgement reaches the ack handler.
	h.publish(t, bus.AckSubject("f1", "p1"), bus.AckMessage{Farm: "f1", Patient: "p1", AlertID: raised.ID, By: "c1", TS: at.Add(time.Second)})
	acked := h.next(t)
	if acked.ID != raised.ID || acked.State != rules.StateAcknowledged || acked.AckedBy != "c1" {
		t.Fatalf("after the acknowledgement: %+v", acked)
	}

	// Terminated, each: JSON that does not decode; a status body on an ack
	// subject (reading its fields, it would have resolved the alert); an
	// acknowledgement on a status subject; a status for another device
	// than its subject names.
	bad := []struct {
		subject string
		body    any
	}{
		{bus.AckSubject("f1", "p1"), []byte(`{"alert_id":`)},
		{bus.AckSubject("f1", "p1"), online},
		{bus.StatusSubject("f1", "p1", "d1"), bus.AckMessage{Farm: "f1", Patient: "p1", AlertID: raised.ID, By: "c2"}},
		{bus.StatusSubject("f1", "p1", "d2"), online},
	}
	for _, b := range bad {
		h.publish(t, b.subject, b.body)
	}
	seqs := map[uint64]bool{}
	for range bad {
		m, err := terminated.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("terminated %d of %d malformed messages: %v", len(seqs), len(bad), err)
		}
		var adv server.JSConsumerDeliveryTerminatedAdvisory
		if err := json.Unmarshal(m.Data, &adv); err != nil {
			t.Fatal(err)
		}
		if adv.Reason == "" {
			t.Errorf("terminated without a reason: %s", m.Data)
		}
		seqs[adv.StreamSeq] = true
	}
	if len(seqs) != len(bad) {
		t.Fatalf("terminated stream sequences %v, want %d different ones", seqs, len(bad))
	}

	// None of them changed the alert: the next change is the one the
	// well-formed online status makes.
	h.publish(t, bus.StatusSubject("f1", "p1", "d1"), online)
	resolved := h.next(t)
	if resolved.ID != raised.ID || resolved.State != rules.StateResolved {
		t.Fatalf("after the online status: %+v, want %s resolved", resolved, raised.ID)
	}
	select {
	case ev := <-h.alerts:
		t.Fatalf("unexpected alert state change %+v", ev)
	default:
	}
}
