package bench

import (
	"github.com/medbiz/medbiz/broker"

	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// MochiTarget is the baseline: a plain mochi broker in this process on a
// free loopback port, with the allow-all auth hook and no other hooks, and
// one wildcard subscriber standing in for a stream processor.
type MochiTarget struct {
	server *mqtt.Server
	addr   string
	sub    paho.Client
	got    atomic.Int64

	mu   sync.Mutex
	next int
	once sync.Once
}

var _ Target = (*MochiTarget)(nil)

// StartMochi starts the baseline broker and its subscriber. A nil logger
// keeps mochi quiet except for errors.
func StartMochi(ctx context.Context, log *slog.Logger) (*MochiTarget, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := mqtt.New(&mqtt.Options{Logger: log.With("component", "mochi-baseline")})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("mochi baseline: add auth hook: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "bench", Address: "127.0.0.1:0"})
	if err := s.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("mochi baseline: listen: %w", err)
	}
	// Serve starts the listeners' goroutines and returns; Close stops them.
	if err := s.Serve(); err != nil {
		return nil, fmt.Errorf("mochi baseline: serve: %w", err)
	}
	m := &MochiTarget{server: s, addr: tcp.Address()}
	opts := paho.NewClientOptions().AddBroker("tcp://" + m.addr).SetClientID("bench-wildcard").
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false)
	m.sub = paho.NewClient(opts)
	if err := wait(ctx, m.sub.Connect()); err != nil {
		_ = broker.Shutdown(s)
		return nil, fmt.Errorf("mochi baseline: connect subscriber: %w", err)
	}
	if err := wait(ctx, m.sub.Subscribe("farms/+/devices/+/telemetry", 0, func(paho.Client, paho.Message) { m.got.Add(1) })); err != nil {
		m.sub.Disconnect(0)
		_ = broker.Shutdown(s)
		return nil, fmt.Errorf("mochi baseline: subscribe: %w", err)
	}
	return m, nil
}

func (m *MochiTarget) Name() string     { return "mochi" }
func (m *MochiTarget) MQTTAddr() string { return m.addr }

// Provision hands out anonymous identities: the broker allows everyone.
func (m *MochiTarget) Provision(_ context.Context, n int) ([]Creds, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Creds, n)
	for i := range out {
		m.next++
		out[i] = Creds{Farm: "bench", Patient: fmt.Sprintf("p%06d", m.next), Device: fmt.Sprintf("d%06d", m.next)}
	}
	return out, nil
}

// AlertProbe watches the press itself: a plain broker raises no alerts, so
// the baseline latency is the broker's publish-to-subscriber time.
func (m *MochiTarget) AlertProbe(_ context.Context, presses []Creds) (AlertProbe, error) {
	byTopic := make(map[string]string, len(presses))
	for _, c := range presses {
		byTopic[c.Topic()] = c.Patient
	}
	return AlertProbe{
		Login:  Creds{Farm: "bench", Device: "alert-probe"},
		Filter: "farms/bench/devices/+/telemetry",
		Match: func(topic string, payload []byte) (string, bool) {
			p, ok := byTopic[topic]
			return p, ok && strings.Contains(string(payload), `"sos"`)
		},
	}, nil
}

// CountStored counts the messages the wildcard subscriber received.
func (m *MochiTarget) CountStored(context.Context) (int, error) { return int(m.got.Load()), nil }

// RSS is this process's: the broker runs in it.
func (m *MochiTarget) RSS() (int64, error) { return ProcRSS(0) }

// Close disconnects the subscriber and stops the broker; it is idempotent.
func (m *MochiTarget) Close(context.Context) error {
	var err error
	m.once.Do(func() {
		m.sub.Disconnect(100)
		if e := broker.Shutdown(m.server); e != nil {
			err = fmt.Errorf("mochi baseline: close: %w", e)
		}
	})
	return err
}

// wait waits for a paho token, bounded by ctx and a minute.
func wait(ctx context.Context, t paho.Token) error {
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("timed out")
	}
}
