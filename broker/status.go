package broker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
}

func (h *statusHook) ID() string { return "medbiz-status" }

func (h *statusHook) Provides(b byte) bool {
	return b == mqtt.OnSessionEstablished || b == mqtt.OnDisconnect
}

func (h *statusHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.publish(cl, "online", false)
}

// OnDisconnect marks the device offline. A session taken over by the same
// device's new connection is not a disconnect; a clean DISCONNECT is
// offline but expected; anything else (network drop, keep-alive timeout,
// protocol error) is unexpected.
func (h *statusHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if cl.IsTakenOver() || errors.Is(err, packets.ErrServerShuttingDown) {
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
