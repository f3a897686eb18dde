// Package testkit starts a real medbiz (embedded NATS and InfluxDB engine,
// mochi on a free port) inside a test, and drives it the way users do:
// provisioning over HTTP and devices and caregivers over MQTT (paho).
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/app"
)

// Root is the project root (where go.mod is).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Config is a test configuration: every listener on a free loopback port,
// data under dir, fast flushes, cheap password hashes.
func Config(dir string) app.Config {
	cfg := app.DefaultConfig()
	cfg.DataDir = dir
	cfg.LogLevel = "warn"
	cfg.MQTT.TCPAddr = "127.0.0.1:0"
	cfg.MQTT.WSAddr = ""
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.NATS.EmbeddedAddr = "127.0.0.1:0"
	cfg.Influx.EmbeddedAddr = "127.0.0.1:0"
	cfg.Store.FlushInterval = 100 * time.Millisecond
	cfg.Registry.BcryptCost = 4
	return cfg
}

// Logger writes warnings and errors to the test log.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("MEDBIZ_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Start runs an app until the test ends.
func Start(t testing.TB, cfg app.Config) *app.App {
	t.Helper()
	return StartLogged(t, cfg, Logger(t))
}

// StartLogged is Start with the app logging to log.
func StartLogged(t testing.TB, cfg app.Config, log *slog.Logger) *app.App {
	t.Helper()
	a := app.New(cfg, log)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start medbiz: %v", err)
	}
	t.Cleanup(func() { Stop(t, a) })
	return a
}

// Stop stops an app (again: Stop is idempotent).
func Stop(t testing.TB, a *app.App) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop medbiz: %v", err)
	}
}

// HTTP calls the API of an app.
type HTTP struct {
	T      testing.TB
	Base   string
	Bearer string
	// Client sends the requests; nil is http.DefaultClient.
	Client *http.Client
}

// API returns an HTTP client with the admin token.
func API(t testing.TB, a *app.App) *HTTP {
	return &HTTP{T: t, Base: "http://" + a.HTTPAddr(), Bearer: a.AdminToken()}
}

// Do sends a request and returns the status and body.
func (h *HTTP) Do(method, path string, body any, header ...string) (int, []byte) {
	h.T.Helper()
	var r io.Reader
	if body != nil {
		if raw, ok := body.(string); ok {
			r = bytes.NewBufferString(raw)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				h.T.Fatal(err)
			}
			r = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, h.Base+path, r)
	if err != nil {
		h.T.Fatal(err)
	}
	if h.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+h.Bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		h.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.T.Fatal(err)
	}
	return resp.StatusCode, out
}

// MustPost posts and fails the test unless the answer has status want; it
// decodes the answer into out when out is not nil.
func (h *HTTP) MustPost(path string, body any, want int, out any) {
	h.T.Helper()
	code, b := h.Do(http.MethodPost, path, body)
	if code != want {
		h.T.Fatalf("POST %s: %d %s, want %d", path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.T.Fatalf("POST %s: %v in %s", path, err, b)
		}
	}
}

// Creds are MQTT credentials handed out by provisioning.
type Creds struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Farm creates a farm.
func (h *HTTP) Farm(id string) {
	h.MustPost("/api/v1/farms", map[string]any{"id": id, "name": id}, http.StatusCreated, nil)
}

// Patient creates a patient; birth may be empty.
func (h *HTTP) Patient(farm, id, profile, birth string) {
	body := map[string]any{"id": id, "profile": profile}
	if birth != "" {
		body["birth_date"] = birth
	}
	h.MustPost("/api/v1/farms/"+farm+"/patients", body, http.StatusCreated, nil)
}

// Device creates a device and returns its credentials.
func (h *HTTP) Device(farm, id, patient, kind string) Creds {
	var c Creds
	h.MustPost("/api/v1/farms/"+farm+"/devices", map[string]any{"id": id, "patient": patient, "kind": kind}, http.StatusCreated, &c)
	return c
}

// Caregiver creates a caregiver and returns its credentials.
func (h *HTTP) Caregiver(farm, id string, patients ...string) Creds {
	var c Creds
	h.MustPost("/api/v1/farms/"+farm+"/caregivers", map[string]any{"id": id, "patients": patients}, http.StatusCreated, &c)
	return c
}

// FarmToken creates a farm token with scopes.
func (h *HTTP) FarmToken(farm string, scopes ...string) string {
	var out struct {
		Token string `json:"token"`
	}
	h.MustPost("/api/v1/farms/"+farm+"/tokens", map[string]any{"scopes": scopes}, http.StatusCreated, &out)
	return out.Token
}

// Series reads a series as JSON.
type Series struct {
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	Points []struct {
		T string  `json:"t"`
		V float64 `json:"v"`
	} `json:"points"`
}

// Series reads a series; query is the URL query (without '?').
func (h *HTTP) Series(farm, patient, query string) (int, Series, []byte) {
	h.T.Helper()
	code, b := h.Do(http.MethodGet, "/api/v1/farms/"+farm+"/patients/"+patient+"/series?"+query, nil)
	var s Series
	if code == http.StatusOK {
		if err := json.Unmarshal(b, &s); err != nil {
			h.T.Fatalf("series: %v in %s", err, b)
		}
	}
	return code, s, b
}

// Eventually polls cond until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// MQTT connects an MQTT 3.1.1 client with paho.
func MQTT(t testing.TB, addr string, c Creds, configure ...func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	cl, err := DialMQTT(addr, c, configure...)
	if err != nil {
		t.Fatalf("mqtt connect %s: %v", c.Username, err)
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

// DialMQTT connects and returns the connection error, for tests of refusals.
func DialMQTT(addr string, c Creds, configure ...func(*paho.ClientOptions)) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("%s-%d", c.ID, time.Now().UnixNano())).
		SetUsername(c.Username).SetPassword(c.Password).
		SetConnectTimeout(10 * time.Second).SetAutoReconnect(false).SetConnectRetry(false).
		// MQTT 3.1.1 only: paho would retry a refused CONNECT as MQTT 3.1.
		SetProtocolVersion(4)
	for _, f := range configure {
		f(o)
	}
	cl := paho.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return cl, tok.Error()
}

// Publish publishes and waits for the broker's acknowledgement.
func Publish(t testing.TB, cl paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := cl.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(15 * time.Second) {
		t.Fatalf("publish %s: no acknowledgement", topic)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// TelemetryTopic is a device's telemetry topic.
func TelemetryTopic(farm, device string) string {
	return "farms/" + farm + "/devices/" + device + "/telemetry"
}
