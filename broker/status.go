package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/registry"
)

// statusHook publishes a device's online/offline state, retained on its
// status topic for MQTT clients and onto the CONTROL stream for the rule
// engine, which raises an alert when a device drops off unexpectedly.
type statusHook struct {
	mqtt.HookBase
	srv     *mqtt.Server
	auth    *authHook
	reg     *registry.Registry
	js      jetstream.JetStream
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	// live counts each username's open connections: when a device
	// reconnects before its old connection is noticed as dropped, the old
	// one's late "offline" must not follow the new one's "online".
	mu   sync.Mutex
	live map[string]int
}

func (h *statusHook) ID() string { return "medbiz-status" }

// track adds delta to the connections of cl's user and returns how many remain.
func (h *statusHook) track(cl *mqtt.Client, delta int) int {
	user := string(cl.Properties.Username)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.live == nil {
		h.live = map[string]int{}
	}
	n := h.live[user] + delta
	if n <= 0 {
		delete(h.live, user)
		return 0
	}
	h.live[user] = n
	return n
}

func (h *statusHook) Provides(b byte) bool {
	return b == mqtt.OnSessionEstablished || b == mqtt.OnDisconnect
}

func (h *statusHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.track(cl, 1)
	h.publish(cl, "online", false)
}

// OnDisconnect marks the device offline. A session taken over by the same
// device's new connection, or a connection the device already replaced,
// is not a disconnect; a clean DISCONNECT is
// offline but expected; anything else (network drop, keep-alive timeout,
// protocol error) is unexpected.
func (h *statusHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	// A server shutting down stops the client first; err is then the read
	// error that followed, so the cause is asked of the client.
	shutdown := errors.Is(err, packets.ErrServerShuttingDown) || errors.Is(cl.StopCause(), packets.ErrServerShuttingDown)
	if h.track(cl, -1) > 0 || cl.IsTakenOver() || shutdown {
		return
	}
	// mochi reports a clean DISCONNECT as a nil error.
	h.publish(cl, "offline", err != nil)
}

func (h *statusHook) publish(cl *mqtt.Client, status string, unexpected bool) {
	p, ok := h.auth.principal(cl)
	if !ok || p.Kind != registry.KindDevice {
		return
	}
	if err := h.srv.Publish(statusTopic(p.Farm, p.ID), []byte(status), true, 1); err != nil {
		h.log.Warn("status not published", "device", p.ID, "error", err)
	}
	patient := p.Patient
	if d, ok := h.reg.Device(p.Farm, p.ID); ok {
		patient = d.Patient
	}
	data, _ := json.Marshal(bus.StatusMessage{
		Farm: p.Farm, Patient: patient, Device: p.ID, Status: status, Unexpected: unexpected, TS: h.now(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	if _, err := h.js.Publish(ctx, bus.StatusSubject(p.Farm, patient, p.ID), data); err != nil {
		h.log.Warn("status not held by the stream", "device", p.ID, "status", status, "error", err)
	}
}
