package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/telemetry"
)

// ingestHook turns a device's telemetry into a batch on the TELEMETRY
// stream, and a caregiver's acknowledgement into a message on CONTROL.
// It runs in the publishing client's read goroutine: for QoS 1/2 the PUBACK
// leaves only after it returns, that is after JetStream holds the data.
type ingestHook struct {
	mqtt.HookBase
	srv     *mqtt.Server
	auth    *authHook
	reg     *registry.Registry
	nc      *nats.Conn
	js      jetstream.JetStream
	decode  telemetry.DecodeOptions
	timeout time.Duration
	metrics *Metrics
	acks    *acker
	log     *slog.Logger
	now     func() time.Time
}

func (h *ingestHook) ID() string { return "medbiz-ingest" }

func (h *ingestHook) Provides(b byte) bool { return b == mqtt.OnPublish }

// errorReport is what a device reads on its errors topic.
type errorReport struct {
	TS     string `json:"ts"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	Topic  string `json:"topic,omitempty"`
}

// OnPublish handles the topics medbiz owns. The returned codes follow
// mochi's contract: CodeSuccessIgnore acknowledges without forwarding to
// MQTT subscribers (nobody subscribes to telemetry), a packets.Code error
// becomes an MQTT 5 PUBACK reason, ErrRejectPacket sends nothing.
func (h *ingestHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	t := parseTopic(pk.TopicName)
	switch t.kind {
	case topicTelemetry:
		return pk, h.telemetry(cl, pk, t)
	case topicStatus:
		// A device's own online/offline; anything else is not a status.
		if p := string(pk.Payload); p != "online" && p != "offline" {
			return pk, packets.CodeSuccessIgnore
		}
		return pk, nil
	case topicAck:
		return pk, h.ack(cl, pk, t)
	}
	return pk, nil
}

func (h *ingestHook) telemetry(cl *mqtt.Client, pk packets.Packet, t topic) error {
	received := h.now()
	dev, ok := h.reg.Device(t.farm, t.device)
	if !ok {
		// ACL let it through, so the device was deleted while connected.
		return h.reject(cl, pk, t, &telemetry.Error{Reason: "unknown_device", Detail: "device " + t.device + " is not provisioned"})
	}
	dec, err := telemetry.Decode(pk.Payload, received, h.decode)
	if err != nil {
		return h.reject(cl, pk, t, err)
	}
	batch := telemetry.Batch{
		Farm: t.farm, Patient: dev.Patient, Device: t.device, Received: received,
		Measurements: dec.Measurements, ECG: dec.ECG,
	}
	data, err := telemetry.MarshalBatch(&batch)
	if err != nil {
		return h.reject(cl, pk, t, &telemetry.Error{Reason: "malformed", Detail: err.Error()})
	}
	subject := bus.TelemetrySubject(t.farm, dev.Patient, t.device)
	if len(dec.ECG) > 0 {
		subject = bus.ECGSubject(t.farm, dev.Patient, t.device)
	}
	if pk.FixedHeader.Qos == 0 {
		// At most once: no ack to wait for, and none to give.
		if err := h.nc.Publish(subject, data); err != nil {
			h.metrics.StreamErrors.Inc()
			h.log.Warn("telemetry not published", "farm", t.farm, "device", t.device, "error", err)
			return packets.CodeSuccessIgnore
		}
		h.accepted(len(dec.Measurements) + len(dec.ECG))
		return packets.CodeSuccessIgnore
	}
	if pk.FixedHeader.Qos == 1 {
		// PUBACK later, in order, once the stream has the message.
		future, err := h.js.PublishAsync(subject, data)
		if err != nil {
			// Through the queue too, so acknowledgements stay in order.
			future = failedFuture(err)
		}
		h.acks.add(cl, pk.PacketID, future, len(dec.Measurements)+len(dec.ECG))
		return packets.ErrRejectPacket
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	_, err = h.js.Publish(ctx, subject, data)
	cancel()
	if err != nil {
		return h.streamFailed(cl, t, err)
	}
	h.accepted(len(dec.Measurements) + len(dec.ECG))
	return packets.CodeSuccessIgnore
}

// streamFailed answers a message the stream did not take: MQTT 5 gets a
// negative PUBACK, MQTT 3.1.1 is disconnected so the device resends it.
func (h *ingestHook) streamFailed(cl *mqtt.Client, t topic, err error) error {
	h.metrics.StreamErrors.Inc()
	h.log.Warn("telemetry not held by the stream; device not acknowledged", "farm", t.farm, "device", t.device, "error", err)
	if cl.Properties.ProtocolVersion == 5 {
		return packets.ErrUnspecifiedError
	}
	// MQTT 3.1.1 has no negative PUBACK: close the connection so the
	// device resends the message when it reconnects.
	cl.Stop(fmt.Errorf("stream unavailable: %w", err))
	return packets.ErrRejectPacket
}

func (h *ingestHook) accepted(n int) {
	h.metrics.Accepted.Inc()
	h.metrics.Measurements.Add(float64(n))
}

// reject counts the message, explains it on the device's errors topic and
// answers MQTT 5 QoS 1/2 with 0x99. MQTT 3.1.1 gets a normal PUBACK (it has
// no negative one) so the device does not resend a message that can never
// be accepted; the message itself is dropped whole.
func (h *ingestHook) reject(cl *mqtt.Client, pk packets.Packet, t topic, err error) error {
	var te *telemetry.Error
	if !errors.As(err, &te) {
		te = &telemetry.Error{Reason: "malformed", Detail: err.Error()}
	}
	h.metrics.Rejected.WithLabelValues(string(te.Reason)).Inc()
	report, _ := json.Marshal(errorReport{
		TS: h.now().UTC().Format(time.RFC3339Nano), Reason: string(te.Reason), Detail: te.Detail, Topic: pk.TopicName,
	})
	if perr := h.srv.Publish(errorsTopic(t.farm, t.device), report, false, 1); perr != nil {
		h.log.Warn("error report not published", "device", t.device, "error", perr)
	}
	// The detail can quote the device's values: it goes to the device's
	// own errors topic, not to the log.
	h.log.Debug("telemetry rejected", "farm", t.farm, "device", t.device, "reason", te.Reason)
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
		return packets.ErrPayloadFormatInvalid
	}
	return packets.CodeSuccessIgnore
}

// ack forwards {"by":"c1"} on farms/{farm}/alerts/{patient}/{id}/ack to
// the alerting processor. The caregiver's own id is used whatever "by" says, so
// nobody acknowledges in someone else's name.
func (h *ingestHook) ack(cl *mqtt.Client, pk packets.Packet, t topic) error {
	p, _ := h.auth.principal(cl)
	var body struct {
		By string `json:"by"`
	}
	if len(bytes.TrimSpace(pk.Payload)) > 0 {
		if err := json.Unmarshal(pk.Payload, &body); err != nil {
			h.log.Info("acknowledgement with malformed body ignored", "caregiver", p.ID, "error", err)
			if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0 {
				return packets.ErrPayloadFormatInvalid
			}
			return packets.CodeSuccessIgnore
		}
	}
	data, _ := json.Marshal(bus.AckMessage{Farm: t.farm, Patient: t.patient, AlertID: t.alertID, By: p.ID, TS: h.now()})
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	if _, err := h.js.Publish(ctx, bus.AckSubject(t.farm, t.patient), data); err != nil {
		h.log.Warn("acknowledgement not held by the stream", "alert", t.alertID, "error", err)
		if cl.Properties.ProtocolVersion == 5 {
			return packets.ErrUnspecifiedError
		}
		cl.Stop(fmt.Errorf("stream unavailable: %w", err))
		return packets.ErrRejectPacket
	}
	return packets.CodeSuccessIgnore
}
