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
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/internal/goroutine"
)

// acker sends the PUBACKs of QoS 1 telemetry once JetStream has
// acknowledged each message, in the order the device published them
// (MQTT 3.1.1 §4.6), without making the device's read loop wait for each
// acknowledgement in turn. A device with many messages in flight is then
// bounded by the stream's throughput, not by its round trip, and the
// promise stays: no PUBACK before the stream holds the message.
//
// Each client with acknowledgements outstanding has one goroutine; it ends
// when the queue is empty, so idle devices cost nothing.
type acker struct {
	timeout time.Duration
	metrics *Metrics
	log     *slog.Logger

	mu         sync.Mutex
	clients    map[*mqtt.Client]*ackQueue
	goroutines goroutine.Group
}

type pendingAck struct {
	id       uint16
	future   jetstream.PubAckFuture
	deadline time.Time
	points   int
}

type ackQueue struct {
	items   []pendingAck
	running bool
	// full is signalled when the queue shrinks, for a publisher waiting
	// on a full queue.
	full *sync.Cond
}

// maxPendingAcks bounds one client's outstanding acknowledgements; past it
// the device's read loop waits, which is the back-pressure it should feel.
const maxPendingAcks = 1024

func newAcker(timeout time.Duration, m *Metrics, log *slog.Logger) *acker {
	return &acker{timeout: timeout, metrics: m, log: log, clients: map[*mqtt.Client]*ackQueue{}}
}

// add queues the acknowledgement of packet id, to be sent when future
// resolves. It runs in the client's read goroutine.
func (a *acker) add(cl *mqtt.Client, id uint16, future jetstream.PubAckFuture, points int) {
	a.mu.Lock()
	q := a.clients[cl]
	if q == nil {
		q = &ackQueue{full: sync.NewCond(&a.mu)}
		a.clients[cl] = q
	}
	for len(q.items) >= maxPendingAcks {
		q.full.Wait()
	}
	q.items = append(q.items, pendingAck{id: id, future: future, deadline: time.Now().Add(a.timeout), points: points})
	if !q.running {
		q.running = a.goroutines.TryGo(func() { a.run(cl, q) })
		if !q.running {
			// The broker is stopping and closes this client: unacknowledged,
			// the device sends the message again when it reconnects.
			delete(a.clients, cl)
			q.full.Broadcast()
		}
	}
	a.mu.Unlock()
}

// run sends the queue's acknowledgements in order until it is empty.
func (a *acker) run(cl *mqtt.Client, q *ackQueue) {
	timer := time.NewTimer(a.timeout)
	defer timer.Stop()
	for {
		a.mu.Lock()
		if len(q.items) == 0 {
			q.running = false
			delete(a.clients, cl)
			a.mu.Unlock()
			return
		}
		p := q.items[0]
		a.mu.Unlock()

		var err error
		timer.Reset(time.Until(p.deadline))
		select {
		case <-p.future.Ok():
		case err = <-p.future.Err():
		case <-timer.C:
			err = errors.New("timed out waiting for the stream")
		}
		a.finish(cl, p, err)

		a.mu.Lock()
		q.items = q.items[1:]
		q.full.Broadcast()
		a.mu.Unlock()
	}
}

// finish acknowledges one message, or reports that the stream did not take
// it: MQTT 5 gets a negative PUBACK, MQTT 3.1.1 (no negative PUBACK) is
// disconnected so the device resends what was not acknowledged.
func (a *acker) finish(cl *mqtt.Client, p pendingAck, err error) {
	reason := packets.CodeSuccess
	if err != nil {
		a.metrics.StreamErrors.Inc()
		a.log.Warn("telemetry not held by the stream; device not acknowledged", "client", cl.ID, "error", err)
		if cl.Properties.ProtocolVersion != 5 {
			cl.Stop(fmt.Errorf("stream unavailable: %w", err))
			return
		}
		reason = packets.ErrUnspecifiedError
	} else {
		a.metrics.Accepted.Inc()
		a.metrics.Measurements.Add(float64(p.points))
	}
	ack := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Puback},
		PacketID:    p.id,
		ReasonCode:  reason.Code,
	}
	if reason.Code >= packets.ErrUnspecifiedError.Code {
		ack.Properties.ReasonString = reason.Reason
	}
	if werr := cl.WritePacket(ack); werr != nil && !errors.Is(werr, mqtt.ErrConnectionClosed) {
		a.log.Debug("puback not written", "client", cl.ID, "error", werr)
	}
}

// failedFuture is a publish that failed before it reached the stream.
func failedFuture(err error) jetstream.PubAckFuture {
	f := &errFuture{err: make(chan error, 1)}
	f.err <- err
	return f
}

type errFuture struct{ err chan error }

func (f *errFuture) Ok() <-chan *jetstream.PubAck { return nil }
func (f *errFuture) Err() <-chan error            { return f.err }
func (f *errFuture) Msg() *nats.Msg               { return nil }

// wait refuses new acknowledgement goroutines and blocks until every
// queued acknowledgement is sent or has timed out.
func (a *acker) wait() { _ = a.goroutines.Wait(context.Background()) }
