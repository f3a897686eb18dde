package app

import (
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
