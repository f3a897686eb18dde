// Package app assembles medbiz serve: it starts the embedded NATS server
// and InfluxDB engine unless external ones are configured, then the
// registry, the stream processors, the MQTT broker and the HTTP API, and
// stops them in reverse order.
package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/medbiz/medbiz/api"
	"github.com/medbiz/medbiz/broker"
	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/goroutine"
	"github.com/medbiz/medbiz/internal/retry"
	"github.com/medbiz/medbiz/processors/alerting"
	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/storage"
	"github.com/medbiz/medbiz/telemetry"
)

// App is one medbiz process.
type App struct {
	cfg Config
	log *slog.Logger

	// Metrics is the Prometheus registry served on /metrics.
	Metrics *prometheus.Registry

	embedded *bus.Embedded
	nc       *nats.Conn
	js       jetstream.JetStream
	engine   *storage.Engine
	influx   *storage.Client
	reg      *registry.Registry
	broker   *broker.Broker
	alerting *alerting.Processor
	httpSrv  *http.Server
	httpAddr string
	admin    string

	// stops run in reverse order of start.
	stops    []namedStop
	ready    atomic.Bool
	stopOnce sync.Once
	stopErr  error

	// goroutines are the app's own (HTTP serving, the rules.dir watch).
	goroutines goroutine.Group
}

// How long Start waits for an external NATS or InfluxDB to accept
// connections, retrying as retry.Startup says.
const (
	natsStartupWait   = 30 * time.Second
	influxStartupWait = 60 * time.Second
)

// errStopping is returned by a start step that runs after Stop began.
var errStopping = errors.New("medbiz is stopping")

type namedStop struct {
	name string
	fn   func(context.Context) error
}

// New returns an app for cfg; Start runs it.
func New(cfg Config, logger *slog.Logger) *App {
	return &App{cfg: cfg, log: logger, Metrics: prometheus.NewRegistry()}
}

func (a *App) onStop(name string, fn func(context.Context) error) {
	a.stops = append(a.stops, namedStop{name, fn})
}

// Start brings every component up in dependency order. On error, what was
// started is stopped again.
func (a *App) Start(ctx context.Context) (err error) {
	began := time.Now()
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = errors.Join(err, a.Stop(stopCtx))
		}
	}()
	// An embedding program's config gets the checks a loaded one does.
	if err := a.cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	a.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if err := a.startNATS(ctx); err != nil {
		return err
	}
	if err := a.startInflux(ctx); err != nil {
		return err
	}
	reg, err := registry.Open(ctx, a.js, registry.Options{
		Replicas: a.cfg.NATS.Replicas, Logger: a.log,
		BcryptCost: a.cfg.Registry.BcryptCost, AuthCacheTTL: cacheTTL(a.cfg.Registry.AuthCacheTTL),
		MaxConcurrentChecks: a.cfg.Login.ConcurrentChecks,
	})
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	a.reg = reg
	a.onStop("registry", func(context.Context) error { reg.Close(); return nil })
	if err := a.startProcessors(ctx); err != nil {
		return err
	}
	if err := a.startBroker(ctx); err != nil {
		return err
	}
	if err := a.startHTTP(); err != nil {
		return err
	}
	a.ready.Store(true)
	a.log.Info("medbiz ready", "mqtt", a.MQTTAddr(), "http", a.httpAddr, "startup", time.Since(began).Round(time.Millisecond))
	return nil
}

func (a *App) startNATS(ctx context.Context) error {
	url := a.cfg.NATS.URL
	if url == "" {
		syncEvery, err := a.cfg.NATS.Sync()
		if err != nil {
			return fmt.Errorf("nats.sync_interval: %w", err)
		}
		e, err := bus.StartEmbedded(bus.EmbeddedConfig{
			Dir: filepath.Join(a.cfg.DataDir, "nats"), Addr: a.cfg.NATS.EmbeddedAddr,
			SyncInterval: syncEvery, SyncAlways: syncEvery == 0, Logger: a.log.With("component", "nats"),
		})
		if err != nil {
			return err
		}
		a.embedded = e
		a.onStop("nats server", func(context.Context) error { e.Shutdown(); return nil })
	}
	connectCtx, cancel := context.WithTimeout(ctx, natsStartupWait)
	defer cancel()
	nc, js, err := bus.Connect(connectCtx, url, a.embedded, a.log.With("component", "nats"))
	if err != nil {
		return err
	}
	a.nc, a.js = nc, js
	a.onStop("nats connection", func(context.Context) error { return nc.Drain() })
	a.Metrics.MustRegister(bus.NewLagCollector(js))
	return bus.EnsureStreams(ctx, js, bus.StreamOptions{Replicas: a.cfg.NATS.Replicas, MaxAge: a.cfg.NATS.MaxAge})
}

func (a *App) startInflux(ctx context.Context) error {
	url := a.cfg.Influx.URL
	if url == "" {
		e, err := storage.StartEngine(ctx, storage.EngineConfig{
			Dir: filepath.Join(a.cfg.DataDir, "influx"), Addr: a.cfg.Influx.EmbeddedAddr,
			Logger: a.log,
		})
		if err != nil {
			return fmt.Errorf("embedded influxdb: %w", err)
		}
		a.engine = e
		url = e.URL()
		a.onStop("influxdb engine", func(context.Context) error { return e.Close() })
	}
	// An external InfluxDB may come up after medbiz: wait for it.
	waitCtx, cancel := context.WithTimeout(ctx, influxStartupWait)
	defer cancel()
	var c *storage.Client
	err := retry.Startup().Do(waitCtx, func() (err error) {
		c, err = storage.NewClient(ctx, storage.ClientConfig{
			URL: url, Token: a.cfg.Influx.Token, Org: a.cfg.Influx.Org, Logger: a.log,
		})
		if err != nil && !storage.IsRetryable(err) {
			return backoff.Permanent(err)
		}
		return err
	}, func(err error, wait time.Duration) {
		a.log.Warn("influxdb not reachable yet", "url", url, "error", err, "retry_in", wait)
	})
	if err != nil {
		return fmt.Errorf("influxdb %s: %w", url, err)
	}
	a.influx = c
	a.onStop("influxdb client", func(context.Context) error { c.Close(); return nil })
	return nil
}

func (a *App) startBroker(ctx context.Context) error {
	b, err := broker.New(broker.Config{
		TCPAddr: a.cfg.MQTT.TCPAddr, WSAddr: a.cfg.MQTT.WSAddr,
		TLSAddr: a.cfg.MQTT.TLSAddr, TLSCert: a.cfg.MQTT.TLSCert, TLSKey: a.cfg.MQTT.TLSKey,
		WSSAddr: a.cfg.MQTT.WSSAddr, WSOrigins: a.cfg.MQTT.WSOrigins, ClientCA: a.cfg.MQTT.ClientCA,
		Login: a.cfg.Login.throttle(), CheckTimeout: a.cfg.Login.CheckTimeout,
		PublishTimeout:      a.cfg.MQTT.PublishTimeout,
		ClientWritesPending: a.cfg.MQTT.ClientWritesPending,
		ClientBufferSize:    a.cfg.MQTT.ClientBufferSize,
		Decode: telemetry.DecodeOptions{
			MaxBytes: a.cfg.Ingest.MaxPayloadBytes, MaxFuture: a.cfg.Ingest.MaxFuture, MaxPast: a.cfg.Ingest.MaxPast,
		},
	}, broker.Deps{
		Registry: a.reg, NATS: a.nc, JS: a.js, Metrics: broker.NewMetrics(a.Metrics), Logger: a.log,
	})
	if err != nil {
		return err
	}
	if err := b.Start(ctx); err != nil {
		return err
	}
	a.broker = b
	a.onStop("mqtt broker", b.Stop)
	return nil
}

func (a *App) startHTTP() error {
	token, err := a.adminToken()
	if err != nil {
		return err
	}
	a.admin = token
	handler := api.New(api.Deps{
		Registry: a.reg, Store: a.influx, JS: a.js, AdminToken: token,
		Ready: a.Ready, Gatherer: a.Metrics, Logger: a.log,
	})
	l, err := net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr: %w", err)
	}
	a.httpAddr = l.Addr().String()
	a.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if a.cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(a.cfg.HTTP.TLSCert, a.cfg.HTTP.TLSKey)
		if err != nil {
			l.Close()
			return fmt.Errorf("http.tls_cert/http.tls_key: %w", err)
		}
		a.httpSrv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	serve := a.httpSrv.Serve
	if a.httpSrv.TLSConfig != nil {
		serve = func(l net.Listener) error { return a.httpSrv.ServeTLS(l, "", "") }
	}
	served := make(chan struct{})
	if !a.goroutines.TryGo(func() {
		defer close(served)
		if err := serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "error", err)
		}
	}) {
		l.Close()
		return errStopping
	}
	a.onStop("http", func(ctx context.Context) error {
		err := a.httpSrv.Shutdown(ctx)
		<-served
		return err
	})
	return nil
}

// cacheTTL maps the config's 0 (no cache) to the registry's negative.
func cacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// adminToken is admin.token, or the one kept in data_dir (made on first start).
func (a *App) adminToken() (string, error) {
	if a.cfg.Admin.Token != "" {
		return a.cfg.Admin.Token, nil
	}
	path := a.AdminTokenPath()
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			a.log.Info("admin token loaded", "path", path)
			return t, nil
		}
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	t := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	a.log.Info("admin token generated", "path", path)
	return t, nil
}

// AdminTokenPath is where a generated admin token is kept.
func (a *App) AdminTokenPath() string { return filepath.Join(a.cfg.DataDir, "admin.token") }

// Ready reports nil when MQTT, NATS, storage and the API accept work.
func (a *App) Ready(ctx context.Context) error {
	if !a.ready.Load() {
		return errors.New("starting")
	}
	if a.nc == nil || a.nc.Status() != nats.CONNECTED {
		return errors.New("nats not connected")
	}
	if err := a.influx.Ping(ctx); err != nil {
		return fmt.Errorf("influxdb: %w", err)
	}
	return nil
}

// Stop stops every component in reverse start order, each bounded by ctx,
// and joins their errors. It is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.ready.Store(false)
		a.goroutines.Stop()
		var errs []error
		for i := len(a.stops) - 1; i >= 0; i-- {
			s := a.stops[i]
			if err := s.fn(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
			}
		}
		if err := a.goroutines.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop: %w", err))
		}
		a.stopErr = errors.Join(errs...)
	})
	return a.stopErr
}

// Run starts the app, waits for ctx to end, and stops it within 30 s.
func (a *App) Run(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	a.log.Info("stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return a.Stop(stopCtx)
}

// MQTTAddr is the MQTT TCP address.
func (a *App) MQTTAddr() string {
	if a.broker == nil {
		return ""
	}
	return a.broker.Addr("tcp")
}

// WSAddr is the MQTT WebSocket address, empty when disabled.
func (a *App) WSAddr() string {
	if a.broker == nil {
		return ""
	}
	return a.broker.Addr("ws")
}

// MQTTAddrOf is the address of the MQTT listener "tcp", "tls", "ws" or
// "wss"; empty when it is disabled.
func (a *App) MQTTAddrOf(id string) string {
	if a.broker == nil {
		return ""
	}
	return a.broker.Addr(id)
}

// HTTPAddr is the HTTP API address.
func (a *App) HTTPAddr() string { return a.httpAddr }

// AdminToken is the admin bearer token in force.
func (a *App) AdminToken() string { return a.admin }

// Registry is the app's registry, for tests and benchmarks.
func (a *App) Registry() *registry.Registry { return a.reg }

// Storage is the app's InfluxDB client, for tests and benchmarks.
func (a *App) Storage() *storage.Client { return a.influx }

// JetStream is the app's JetStream context, for tests and benchmarks.
func (a *App) JetStream() jetstream.JetStream { return a.js }

// Broker is the app's MQTT broker, for tests and benchmarks.
func (a *App) Broker() *broker.Broker { return a.broker }
