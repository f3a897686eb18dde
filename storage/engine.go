package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/influxdata/influxdb/cmd/influxd/run"
	"github.com/influxdata/influxdb/services/httpd"
)

// EngineVersion is what the embedded engine reports in X-Influxdb-Version.
// The client uses the header to pick the 1.x code path, so it must look like
// a 1.x release.
const EngineVersion = "1.8.10"

// EngineConfig configures the embedded InfluxDB 1.8 engine.
type EngineConfig struct {
	// Dir holds meta/, data/ and wal/.
	Dir string
	// Addr is the HTTP listen address, for example "127.0.0.1:8086";
	// port 0 picks a free port (see Engine.URL).
	Addr string
	// Logger receives the engine's own log lines at debug level.
	Logger *slog.Logger
}

// Engine is an InfluxDB 1.8 server running inside this process. The rest of
// medbiz talks to it over HTTP like to any external InfluxDB.
type Engine struct {
	srv *run.Server
	url string

	closeOnce sync.Once
	closeErr  error
}

// StartEngine opens the engine's stores and starts its HTTP service. It
// returns once the HTTP listener is bound, so Engine.URL is usable at once.
func StartEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	if cfg.Dir == "" {
		return nil, errors.New("start influxdb engine: empty dir")
	}
	if cfg.Addr == "" {
		return nil, errors.New("start influxdb engine: empty addr")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start influxdb engine: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	c := engineConfig(cfg)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("start influxdb engine: config: %w", err)
	}
	srv, err := run.NewServer(c, &run.BuildInfo{Version: EngineVersion, Branch: "medbiz", Commit: "embedded"})
	if err != nil {
		return nil, fmt.Errorf("start influxdb engine: %w", err)
	}
	srv.SetLogOutput(newSlogWriter(log))
	if err := srv.Open(); err != nil {
		// Open leaves half-opened services behind on error; Close tolerates
		// that and releases the listeners and file locks.
		_ = srv.Close()
		return nil, fmt.Errorf("start influxdb engine: %w", err)
	}
	var bound string
	for _, s := range srv.Services {
		if h, ok := s.(*httpd.Service); ok && h.Addr() != nil {
			bound = h.Addr().String()
		}
	}
	if bound == "" {
		_ = srv.Close()
		return nil, errors.New("start influxdb engine: http service did not start")
	}
	e := &Engine{srv: srv, url: "http://" + bound}
	log.Debug("influxdb engine started", "url", e.url, "dir", cfg.Dir)
	return e, nil
}

// engineConfig builds the run.Config: everything under Dir, HTTP on Addr, and
// every optional service off so that start-up is fast and memory small.
func engineConfig(cfg EngineConfig) *run.Config {
	c := run.NewConfig()
	c.Meta.Dir = filepath.Join(cfg.Dir, "meta")
	c.Meta.LoggingEnabled = false
	c.Data.Dir = filepath.Join(cfg.Dir, "data")
	c.Data.WALDir = filepath.Join(cfg.Dir, "wal")
	c.Data.QueryLogEnabled = false
	// The TCP mux (snapshotter for backups) must not collide with a second
	// engine or a system influxd on 8088: an ephemeral loopback port.
	c.BindAddress = "127.0.0.1:0"
	c.ReportingDisabled = true
	// The monitor would otherwise write its statistics every 10 s into an
	// _internal database, costing memory and disk for nothing we read.
	c.Monitor.StoreEnabled = false

	c.HTTPD.BindAddress = cfg.Addr
	c.HTTPD.FluxEnabled = false // Flux's Arrow code breaks under -race (docs/architecture.md)
	c.HTTPD.AuthEnabled = false
	c.HTTPD.LogEnabled = false
	c.HTTPD.PprofEnabled = false
	c.HTTPD.SuppressWriteLog = true

	c.GraphiteInputs = nil
	c.CollectdInputs = nil
	c.OpenTSDBInputs = nil
	c.UDPInputs = nil
	c.ContinuousQuery.Enabled = false
	return c
}

// URL is the engine's base URL (http://host:port) with the bound port.
func (e *Engine) URL() string { return e.url }

// Close stops the HTTP service and closes the stores. It is safe to call
// more than once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		if err := e.srv.Close(); err != nil {
			e.closeErr = fmt.Errorf("close influxdb engine: %w", err)
		}
	})
	return e.closeErr
}

// slogWriter turns the engine's zap/logfmt output, one line per Write, into
// debug records. When debug is off it drops lines without formatting them.
type slogWriter struct {
	log *slog.Logger
}

func newSlogWriter(log *slog.Logger) io.Writer {
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return io.Discard
	}
	return &slogWriter{log: log.With("component", "influxdb")}
}

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		if len(line) > 0 {
			w.log.Debug(string(line))
		}
	}
	return len(p), nil
}
