// Package broker owns the MQTT side of medbiz: the mochi server, its
// listeners (TCP, TLS with optional client certificates, WebSocket and
// WebSocket over TLS with an Origin check) and its hooks — admission (will
// rules, login throttling, password or certificate) and ACL, the MQTT
// rules mochi leaves open (retained messages, reserved topics), ingest of
// telemetry into JetStream, device status, and alert delivery to
// caregivers. mochi's log records reach medbiz's log without payloads. It
// imports no storage package: what devices send reaches InfluxDB only
// through the stream.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/telemetry"
)

// Config is the broker's part of the medbiz config.
type Config struct {
	TCPAddr, WSAddr, TLSAddr, TLSCert, TLSKey string
	// WSSAddr serves MQTT over WebSocket over TLS, with TLSCert and TLSKey.
	WSSAddr string
	// WSOrigins are the browser origins the WebSocket listeners accept
	// (see wsListener); empty means the listener's own host only.
	WSOrigins []string
	// ClientCA, a PEM file, lets devices on the TLS listener log in with a
	// client certificate it signed whose CN is their username.
	ClientCA string
	// Login limits failed logins; CheckTimeout bounds a login's wait for a
	// password check and the registry.
	Login        registry.ThrottleOptions
	CheckTimeout time.Duration
	// PublishTimeout bounds the wait for JetStream before a PUBACK.
	PublishTimeout time.Duration
	// ClientWritesPending and ClientBufferSize size each client's queues.
	ClientWritesPending int
	ClientBufferSize    int
	Decode              telemetry.DecodeOptions
}

// Deps are the components the broker talks to.
type Deps struct {
	Registry *registry.Registry
	NATS     *nats.Conn
	JS       jetstream.JetStream
	Metrics  *Metrics
	Logger   *slog.Logger
	// Now is the clock for receive times; nil means time.Now.
	Now func() time.Time
}

// Broker is the running MQTT server with medbiz's hooks.
type Broker struct {
	cfg    Config
	srv    *mqtt.Server
	alerts *alertHook
	acks   *acker
	log    *slog.Logger
	addrs  map[string]string
}

// New builds the server, its hooks and listeners; Start serves.
func New(cfg Config, d Deps) (*Broker, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	log := d.Logger.With("component", "broker")
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClientWritesPending = int32(cfg.ClientWritesPending)
	// Payloads up to four times the limit are read and rejected with an
	// explanation, the device staying connected; a larger packet is a
	// protocol error that closes the connection before it fills memory.
	caps.MaximumPacketSize = uint32(4 * max(cfg.Decode.MaxBytes, 64<<10))
	// The ACL sees a publish's topic before mochi resolves a topic alias,
	// so medbiz takes none: the CONNACK carries no Topic Alias Maximum
	// (which means 0), and a client that sends an alias anyway is
	// disconnected with 0x94 "topic alias invalid", as MQTT 5 requires.
	caps.TopicAliasMaximum = 0
	srv := mqtt.New(&mqtt.Options{
		InlineClient:             true,
		Capabilities:             caps,
		ClientNetWriteBufferSize: cfg.ClientBufferSize,
		ClientNetReadBufferSize:  cfg.ClientBufferSize,
		Logger:                   mochiLogger(d.Logger),
	})
	b := &Broker{cfg: cfg, srv: srv, log: log, addrs: map[string]string{}}

	throttle, err := registry.NewThrottle(cfg.Login)
	if err != nil {
		return nil, err
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = cfg.PublishTimeout
	}
	auth := &authHook{srv: srv, reg: d.Registry, throttle: throttle, metrics: d.Metrics, checkTimeout: cfg.CheckTimeout, log: log}
	guard := &guardHook{srv: srv, auth: auth, log: log}
	b.acks = newAcker(cfg.PublishTimeout, d.Metrics, log)
	ingest := &ingestHook{
		srv: srv, auth: auth, reg: d.Registry, nc: d.NATS, js: d.JS, decode: cfg.Decode,
		timeout: cfg.PublishTimeout, metrics: d.Metrics, acks: b.acks, log: log, now: d.Now,
	}
	status := &statusHook{srv: srv, auth: auth, reg: d.Registry, js: d.JS, timeout: cfg.PublishTimeout, log: log, now: d.Now}
	b.alerts = &alertHook{srv: srv, auth: auth, js: d.JS, metrics: d.Metrics, log: log}
	for _, h := range []mqtt.Hook{auth, guard, ingest, status, b.alerts} {
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("add hook %s: %w", h.ID(), err)
		}
	}
	return b, nil
}

// Start loads the active alerts, opens the listeners and serves.
func (b *Broker) Start(ctx context.Context) error {
	if err := b.alerts.start(ctx); err != nil {
		return err
	}
	add := func(id string, l listeners.Listener) error {
		if err := b.srv.AddListener(l); err != nil {
			return fmt.Errorf("mqtt %s listener: %w", id, err)
		}
		b.addrs[id] = l.Address()
		return nil
	}
	tcp, err := listenAddr(b.cfg.TCPAddr)
	if err != nil {
		return err
	}
	if err := add("tcp", listeners.NewTCP(listeners.Config{ID: "tcp", Address: tcp})); err != nil {
		return err
	}
	if b.cfg.TLSAddr != "" {
		tc, err := serverTLS(b.cfg.TLSCert, b.cfg.TLSKey, b.cfg.ClientCA)
		if err != nil {
			return err
		}
		addr, err := listenAddr(b.cfg.TLSAddr)
		if err != nil {
			return err
		}
		if err := add("tls", listeners.NewTCP(listeners.Config{ID: "tls", Address: addr, TLSConfig: tc})); err != nil {
			return err
		}
	}
	for _, ws := range []struct{ id, addr string }{{"ws", b.cfg.WSAddr}, {"wss", b.cfg.WSSAddr}} {
		if ws.addr == "" {
			continue
		}
		var tc *tls.Config
		if ws.id == "wss" {
			var err error
			if tc, err = serverTLS(b.cfg.TLSCert, b.cfg.TLSKey, ""); err != nil {
				return err
			}
		}
		l, err := newWSListener(ws.id, ws.addr, tc, b.cfg.WSOrigins)
		if err != nil {
			return fmt.Errorf("mqtt %s listener: %w", ws.id, err)
		}
		if err := add(ws.id, l); err != nil {
			_ = l.ln.Close()
			return err
		}
	}
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt serve: %w", err)
	}
	b.log.Info("mqtt listening", "addrs", b.addrs)
	return nil
}

// listenAddr resolves port 0 to a free port now, because mochi's
// listeners report the configured address, not the bound one.
func listenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("mqtt address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Addr is the address a listener ("tcp", "ws", "wss", "tls") serves on.
func (b *Broker) Addr(id string) string { return b.addrs[id] }

// Server is the mochi server, for tests and benchmarks.
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Stop closes the listeners and every client, then stops alert delivery.
func (b *Broker) Stop(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- Shutdown(b.srv) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("mqtt close: %w", ctx.Err())
	}
	b.alerts.stop()
	b.acks.wait()
	return errors.Join(err)
}
