package storage

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// startEngine runs a fresh embedded engine on a free loopback port.
func startEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := StartEngine(context.Background(), EngineConfig{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start engine: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func newTestClient(t testing.TB, url string) *Client {
	t.Helper()
	c, err := NewClient(context.Background(), ClientConfig{URL: url, HTTPTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestEngineStartsOnFreePortAndClosesIdempotently(t *testing.T) {
	e, err := StartEngine(context.Background(), EngineConfig{Dir: t.TempDir(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(e.URL() + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("X-Influxdb-Version") != EngineVersion {
		t.Fatalf("ping: %d version %q", resp.StatusCode, resp.Header.Get("X-Influxdb-Version"))
	}
	// Flux must be off: the 1.8 engine answers 403 "Flux query service disabled".
	resp, err = http.Post(e.URL()+"/api/v2/query", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		t.Fatalf("flux endpoint answered %d, want it disabled", resp.StatusCode)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := http.Get(e.URL() + "/ping"); err == nil {
		t.Fatal("engine still answers after Close")
	}
}

func TestEngineReopensSameDir(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	e, err := StartEngine(ctx, EngineConfig{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, e.URL())
	if err := c.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1764200000123)
	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", t0, "hr", 72)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := StartEngine(ctx, EngineConfig{Dir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer e2.Close()
	c2 := newTestClient(t, e2.URL())
	got, err := c2.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: t0, Stop: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].T.Equal(t0) || got[0].V != 72 {
		t.Fatalf("after reopen got %v", got)
	}
}

// BenchmarkEngineStart measures what the engine adds to medbiz start-up.
func BenchmarkEngineStart(b *testing.B) {
	for b.Loop() {
		e, err := StartEngine(context.Background(), EngineConfig{Dir: b.TempDir(), Addr: "127.0.0.1:0"})
		if err != nil {
			b.Fatal(err)
		}
		_ = e.Close()
	}
}

func TestEngineAddrInUse(t *testing.T) {
	e := startEngine(t)
	addr := e.URL()[len("http://"):]
	_, err := StartEngine(context.Background(), EngineConfig{Dir: t.TempDir(), Addr: addr})
	if err == nil {
		t.Fatalf("second engine on %s started", addr)
	}
	// The first one is unaffected.
	c := newTestClient(t, e.URL())
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestEngineLogsGoToSlogAtDebug(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e, err := StartEngine(context.Background(), EngineConfig{Dir: t.TempDir(), Addr: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Close()
	out := buf.String()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "component=influxdb") || strings.Contains(out, "level=INFO") {
		t.Fatalf("engine log:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
