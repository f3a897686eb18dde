package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigLoadsAndEqualsDefaults(t *testing.T) {
	cfg, err := LoadConfig(filepath.Join("..", "configs", "medbiz.yaml"), nil)
	if err != nil {
		t.Fatalf("shipped config: %v", err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("configs/medbiz.yaml differs from DefaultConfig:\nfile:     %+v\ndefaults: %+v", cfg, DefaultConfig())
	}
}

func TestShippedConfigListsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "configs", "medbiz.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range configKeys(reflect.TypeOf(Config{}), "") {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(string(data), leaf+":") {
			t.Errorf("configs/medbiz.yaml does not list %s", k)
		}
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "medbiz.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, body string
		env        []string
		want       string
	}{
		{"unknown nested key", "http:\n  adress: \":9\"\n", nil, "adress"},
		{"unknown top key", "dta_dir: /tmp\n", nil, "dta_dir"},
		{"bad duration", "store:\n  flush_interval: soon\n", nil, "flush_interval"},
		{"bad int", "store:\n  batch_size: many\n", nil, "batch_size"},
		{"bad address", "http:\n  addr: nowhere\n", nil, "http.addr"},
		{"bad sync", "nats:\n  sync_interval: sometimes\n", nil, "nats.sync_interval"},
		{"bad influx url", "influx:\n  url: influxdb:8086\n", nil, "influx.url"},
		{"missing rules dir", "rules:\n  dir: /nonexistent/medbiz-rules\n", nil, "rules.dir: stat /nonexistent/medbiz-rules"},
		{"no packs at all", "rules:\n  builtin: false\n", nil, "rules.dir: rules.builtin is false"},
		{"rules dir is a file", "rules:\n  dir: " + filepath.Join("..", "go.mod") + "\n", nil, "rules.dir: ../go.mod is not a folder"},
		{"store ack wait", "store:\n  ack_wait: 0s\n", nil, "store.ack_wait"},
		{"store pending below a batch", "store:\n  batch_size: 5000\n  max_ack_pending: 4999\n", nil, "store.max_ack_pending"},
		{"rules ack wait", "rules:\n  ack_wait: -1s\n", nil, "rules.ack_wait"},
		{"rules pending", "rules:\n  max_ack_pending: 0\n", nil, "rules.max_ack_pending"},
		{"unknown env", "", []string{"MEDBIZ_HTTP_ADRESS=:1"}, "MEDBIZ_HTTP_ADRESS"},
		{"short admin token", "admin:\n  token: s3cret\n", nil, "admin.token"},
		{"short admin token in env", "", []string{"MEDBIZ_ADMIN_TOKEN=a"}, "admin.token"},
		{"empty http address from env", "", []string{"MEDBIZ_HTTP_ADDR="}, "http.addr"},
		{"http cert without key", "http:\n  tls_cert: /etc/hostname\n", nil, "http.tls_cert"},
		{"missing http key file", "http:\n  tls_cert: /etc/hostname\n  tls_key: /nonexistent/key.pem\n", nil, "http.tls_key"},
		{"wss without certificate", "mqtt:\n  wss_addr: \":8084\"\n", nil, "mqtt.wss_addr"},
		{"client ca without tls listener", "mqtt:\n  client_ca: /etc/hostname\n", nil, "mqtt.client_ca"},
		{"bad origin", "mqtt:\n  ws_origins: [app.example.com]\n", nil, "mqtt.ws_origins"},
		{"origin with a path", "", []string{"MEDBIZ_MQTT_WS_ORIGINS=https://a.example.com/app"}, "mqtt.ws_origins"},
		{"zero login allowance", "login:\n  username_failures: 0\n", nil, "login.username_failures"},
		{"back-off max below back-off", "login:\n  backoff: 10s\n  backoff_max: 1s\n", nil, "login.backoff_max"},
		{"bad env value", "", []string{"MEDBIZ_STORE_BATCH_SIZE=lots"}, "batch_size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			_, err := LoadConfig(writeConfig(t, tc.body), tc.env)
			if err == nil {
				t.Fatal("config accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestEnvironmentOverridesNestedKey(t *testing.T) {
	t.Setenv("MEDBIZ_HTTP_ADDR", "127.0.0.1:9999")
	t.Setenv("MEDBIZ_STORE_FLUSH_INTERVAL", "250ms")
	t.Setenv("MEDBIZ_NATS_SYNC_INTERVAL", "always")
	env := []string{"MEDBIZ_HTTP_ADDR=127.0.0.1:9999", "MEDBIZ_STORE_FLUSH_INTERVAL=250ms", "MEDBIZ_NATS_SYNC_INTERVAL=always"}
	cfg, err := LoadConfig(filepath.Join("..", "configs", "medbiz.yaml"), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9999" {
		t.Errorf("http.addr = %q, want the environment's", cfg.HTTP.Addr)
	}
	if cfg.Store.FlushInterval != 250*time.Millisecond {
		t.Errorf("store.flush_interval = %v", cfg.Store.FlushInterval)
	}
	if d, err := cfg.NATS.Sync(); err != nil || d != 0 {
		t.Errorf("sync always: %v %v", d, err)
	}
	// Without a file, the environment still reaches nested keys.
	cfg, err = LoadConfig("", env)
	if err != nil || cfg.HTTP.Addr != "127.0.0.1:9999" {
		t.Errorf("no file: %v %q", err, cfg.HTTP.Addr)
	}
}

// An empty environment value is a value: MEDBIZ_MQTT_WS_ADDR= disables
// the WebSocket listener the file enables.
func TestEmptyEnvironmentValueIsHonoured(t *testing.T) {
	t.Setenv("MEDBIZ_MQTT_WS_ADDR", "")
	t.Setenv("MEDBIZ_MQTT_WS_ORIGINS", "https://app.example.com,https://care.example.org")
	env := []string{"MEDBIZ_MQTT_WS_ADDR=", "MEDBIZ_MQTT_WS_ORIGINS=https://app.example.com,https://care.example.org"}
	cfg, err := LoadConfig(filepath.Join("..", "configs", "medbiz.yaml"), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.WSAddr != "" {
		t.Errorf("mqtt.ws_addr = %q, want empty (disabled)", cfg.MQTT.WSAddr)
	}
	if want := []string{"https://app.example.com", "https://care.example.org"}; !reflect.DeepEqual(cfg.MQTT.WSOrigins, want) {
		t.Errorf("mqtt.ws_origins = %q, want %q", cfg.MQTT.WSOrigins, want)
	}
}

func TestLongAdminTokenAccepted(t *testing.T) {
	tok := strings.Repeat("k", 32)
	t.Setenv("MEDBIZ_ADMIN_TOKEN", tok)
	cfg, err := LoadConfig("", []string{"MEDBIZ_ADMIN_TOKEN=" + tok})
	if err != nil || cfg.Admin.Token != tok {
		t.Fatalf("32-character admin token: %v %q", err, cfg.Admin.Token)
	}
}

// An app built from a Config in code is checked as a loaded one is.
func TestStartRefusesShortAdminToken(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Admin.Token = "a"
	a := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	err := a.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "admin.token") {
		t.Fatalf("start with a 1-character admin token: %v, want an error naming admin.token", err)
	}
}
