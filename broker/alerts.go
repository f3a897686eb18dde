package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/goroutine"
	"github.com/medbiz/medbiz/registry"
)

// alertHook delivers alert state changes from the ALERTS stream to
// caregivers on farms/{farm}/alerts/{patient} (QoS 1), and brings a
// caregiver who subscribes up to date with the alerts still active, kept
// in the active-alerts bucket. Every medbiz node runs one, so a caregiver
// connected to any node gets every alert.
type alertHook struct {
	mqtt.HookBase
	srv     *mqtt.Server
	auth    *authHook
	js      jetstream.JetStream
	metrics *Metrics
	log     *slog.Logger

	mu     sync.RWMutex
	active map[string]map[string][]byte // farm.patient -> alert id -> message

	// pending holds, per client id, the patients whose active alerts go out
	// once mochi has written the SUBACK.
	pending sync.Map // string -> []string

	cancel     context.CancelFunc
	goroutines goroutine.Group
}

func (h *alertHook) ID() string { return "medbiz-alerts" }

func (h *alertHook) Provides(b byte) bool { return b == mqtt.OnSubscribed || b == mqtt.OnPacketSent }

// start follows the active-alerts bucket and the ALERTS stream until stop.
// It returns once the bucket's current content is loaded.
func (h *alertHook) start(ctx context.Context) error {
	h.active = map[string]map[string][]byte{}
	kv, err := h.js.KeyValue(ctx, bus.ActiveAlertsBucket)
	if err != nil {
		return fmt.Errorf("open %s: %w", bus.ActiveAlertsBucket, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	watcher, err := kv.WatchAll(runCtx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch %s: %w", bus.ActiveAlertsBucket, err)
	}
	loaded := make(chan struct{})
	if !h.goroutines.TryGo(func() {
		defer watcher.Stop()
		initial := true
		for {
			select {
			case <-runCtx.Done():
				return
			case e, ok := <-watcher.Updates():
				if !ok {
					return
				}
				if e == nil { // the bucket's current content has been replayed
					if initial {
						initial = false
						close(loaded)
					}
					continue
				}
				h.track(e)
			}
		}
	}) {
		_ = watcher.Stop()
		h.stop()
		return errStopping
	}
	select {
	case <-loaded:
	case <-ctx.Done():
		h.stop()
		return ctx.Err()
	}

	cons, err := h.js.OrderedConsumer(runCtx, bus.AlertsStream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		h.stop()
		return fmt.Errorf("follow %s: %w", bus.AlertsStream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { h.deliver(m.Subject(), m.Data()) })
	if err != nil {
		h.stop()
		return fmt.Errorf("follow %s: %w", bus.AlertsStream, err)
	}
	if !h.goroutines.TryGo(func() {
		<-runCtx.Done()
		cc.Stop()
	}) {
		cc.Stop()
		h.stop()
		return errStopping
	}
	return nil
}

// errStopping is returned by a start that runs after stop began.
var errStopping = errors.New("broker is stopping")

func (h *alertHook) stop() {
	h.goroutines.Stop()
	if h.cancel != nil {
		h.cancel()
	}
	_ = h.goroutines.Wait(context.Background()) // every goroutine ends with runCtx
}

// track mirrors one change of the active-alerts bucket.
func (h *alertHook) track(e jetstream.KeyValueEntry) {
	farm, patient, id, err := bus.ParseActiveAlertKey(e.Key())
	if err != nil {
		h.log.Warn("active alert under an unexpected key", "error", err)
		return
	}
	key := farm + "." + patient
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(h.active[key], id)
		if len(h.active[key]) == 0 {
			delete(h.active, key)
		}
		return
	}
	if h.active[key] == nil {
		h.active[key] = map[string][]byte{}
	}
	h.active[key][id] = e.Value()
}

// deliver publishes one alert message from medbiz.alerts.<farm>.<patient>.
func (h *alertHook) deliver(subject string, data []byte) {
	farm, patient, err := bus.ParseAlertSubject(subject)
	if err != nil {
		h.log.Warn("alert not delivered", "error", err)
		return
	}
	if err := h.srv.Publish(AlertTopic(farm, patient), data, false, 1); err != nil {
		h.log.Error("alert not delivered to MQTT", "subject", subject, "error", err)
		return
	}
	h.metrics.AlertsSent.Inc()
}

// OnSubscribed notes which patients' active alerts a caregiver must be
// sent; they go out after the SUBACK (OnPacketSent).
func (h *alertHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	p, ok := h.auth.principal(cl)
	if !ok || p.Kind != registry.KindCaregiver {
		return
	}
	var patients []string
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		t := parseTopic(f.Filter)
		if t.kind != topicAlerts {
			continue
		}
		if t.patient == "+" {
			patients = append(patients, p.Patients...)
		} else {
			patients = append(patients, t.patient)
		}
	}
	if len(patients) > 0 {
		h.pending.Store(cl.ID, patients)
	}
}

// OnPacketSent sends the pending active alerts once the SUBACK is out.
func (h *alertHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Suback {
		return
	}
	v, ok := h.pending.LoadAndDelete(cl.ID)
	if !ok {
		return
	}
	p, _ := h.auth.principal(cl)
	for _, patient := range v.([]string) {
		h.mu.RLock()
		msgs := make([][]byte, 0, len(h.active[p.Farm+"."+patient]))
		for _, m := range h.active[p.Farm+"."+patient] {
			msgs = append(msgs, m)
		}
		h.mu.RUnlock()
		for _, m := range msgs {
			if err := h.sendTo(cl, AlertTopic(p.Farm, patient), m); err != nil {
				h.log.Warn("active alert not sent to caregiver", "client", cl.ID, "error", err)
				return
			}
		}
	}
}

// sendTo writes one QoS 1 PUBLISH to one client, tracked in its inflight
// store so mochi resends it until the caregiver acknowledges.
func (h *alertHook) sendTo(cl *mqtt.Client, topic string, payload []byte) error {
	id, err := cl.NextPacketID()
	if err != nil {
		return err
	}
	out := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		TopicName:   topic,
		Payload:     payload,
		PacketID:    uint16(id),
		Created:     time.Now().Unix(),
	}
	cl.State.Inflight.Set(out)
	if err := cl.WritePacket(out); err != nil && !errors.Is(err, mqtt.ErrConnectionClosed) {
		return err
	}
	return nil
}
