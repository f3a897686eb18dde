package app

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/medbiz/medbiz/bus"
)

// Config is every setting of medbiz serve. Its mapstructure names are the
// config keys of docs/contract.md#config-keys; defaults live in
// DefaultConfig only.
type Config struct {
	DataDir  string         `mapstructure:"data_dir"`
	LogLevel string         `mapstructure:"log_level"`
	MQTT     MQTTConfig     `mapstructure:"mqtt"`
	HTTP     HTTPConfig     `mapstructure:"http"`
	NATS     NATSConfig     `mapstructure:"nats"`
	Influx   InfluxConfig   `mapstructure:"influx"`
	Admin    AdminConfig    `mapstructure:"admin"`
	Ingest   IngestConfig   `mapstructure:"ingest"`
	Store    StoreConfig    `mapstructure:"store"`
	Registry RegistryConfig `mapstructure:"registry"`
	Rules    RulesConfig    `mapstructure:"rules"`
	ECG      ECGConfig      `mapstructure:"ecg"`
	Login    LoginConfig    `mapstructure:"login"`
}

// MQTTConfig is the broker's listeners and per-client limits.
type MQTTConfig struct {
	TCPAddr string `mapstructure:"tcp_addr"`
	WSAddr  string `mapstructure:"ws_addr"`
	TLSAddr string `mapstructure:"tls_addr"`
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
	// WSSAddr is MQTT over WebSocket over TLS, with tls_cert and tls_key.
	WSSAddr string `mapstructure:"wss_addr"`
	// WSOrigins are the browser origins allowed on the WebSocket
	// listeners: empty is the listener's own host only, "*" any.
	WSOrigins []string `mapstructure:"ws_origins"`
	// ClientCA (PEM) lets devices on the TLS listener log in with a client
	// certificate it signed, whose CN is their username.
	ClientCA string `mapstructure:"client_ca"`
	// PublishTimeout bounds how long a QoS 1/2 PUBACK waits for JetStream.
	PublishTimeout time.Duration `mapstructure:"publish_timeout"`
	// ClientWritesPending is mochi's per-client outbound queue length.
	ClientWritesPending int `mapstructure:"client_writes_pending"`
	// ClientBufferSize is the per-client read and write buffer in bytes.
	ClientBufferSize int `mapstructure:"client_buffer_size"`
}

// HTTPConfig is the HTTP API listener.
type HTTPConfig struct {
	Addr string `mapstructure:"addr"`
	// TLSCert and TLSKey (PEM files) serve the API over HTTPS.
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
}

// NATSConfig selects an external NATS or configures the embedded one.
type NATSConfig struct {
	URL          string `mapstructure:"url"`
	EmbeddedAddr string `mapstructure:"embedded_addr"`
	// SyncInterval is how often JetStream fsyncs its files: a duration, or
	// "always" to sync every write.
	SyncInterval string `mapstructure:"sync_interval"`
	Replicas     int    `mapstructure:"replicas"`
	// MaxAge bounds how long the streams keep messages.
	MaxAge time.Duration `mapstructure:"max_age"`
}

// InfluxConfig selects an external InfluxDB or configures the embedded engine.
type InfluxConfig struct {
	URL          string `mapstructure:"url"`
	EmbeddedAddr string `mapstructure:"embedded_addr"`
	Token        string `mapstructure:"token"`
	Org          string `mapstructure:"org"`
}

// AdminConfig holds the admin bearer token.
type AdminConfig struct {
	Token string `mapstructure:"token"`
}

// IngestConfig bounds what a device may send.
type IngestConfig struct {
	MaxPayloadBytes int           `mapstructure:"max_payload_bytes"`
	MaxFuture       time.Duration `mapstructure:"max_future"`
	MaxPast         time.Duration `mapstructure:"max_past"`
}

// StoreConfig tunes the batches written to InfluxDB and the store's two
// consumers (telemetry, alert state changes).
type StoreConfig struct {
	BatchSize     int           `mapstructure:"batch_size"`
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	StoreECG      bool          `mapstructure:"store_ecg"`
	// AckWait is how long JetStream waits for the store's acknowledgement
	// before it delivers a message again.
	AckWait time.Duration `mapstructure:"ack_wait"`
	// MaxAckPending bounds the messages the store holds unacknowledged.
	MaxAckPending int `mapstructure:"max_ack_pending"`
}

// Limits are the store consumers' tunables.
func (s StoreConfig) Limits() bus.ConsumerLimits {
	return bus.ConsumerLimits{AckWait: s.AckWait, MaxAckPending: s.MaxAckPending}
}

// RegistryConfig tunes credential checks.
type RegistryConfig struct {
	// BcryptCost is the work factor of device and caregiver password hashes.
	BcryptCost int `mapstructure:"bcrypt_cost"`
	// AuthCacheTTL is how long a successful password check is remembered,
	// so a reconnect storm costs one hash per device.
	AuthCacheTTL time.Duration `mapstructure:"auth_cache_ttl"`
}

// RulesConfig is the rule engine's packs and timers, and the alerting
// processor's consumers.
type RulesConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Builtin loads the packs built into the binary (configs/rules).
	Builtin bool `mapstructure:"builtin"`
	// Dir is a folder of packs laid over the built-in ones: a file named
	// like a built-in pack replaces it, other files add packs. Empty: none.
	Dir           string        `mapstructure:"dir"`
	Deadman       time.Duration `mapstructure:"deadman"`
	EscalateAfter time.Duration `mapstructure:"escalate_after"`
	// AckWait and MaxAckPending tune the telemetry and control consumers.
	AckWait       time.Duration `mapstructure:"ack_wait"`
	MaxAckPending int           `mapstructure:"max_ack_pending"`
}

// Limits are the alerting consumers' tunables.
func (r RulesConfig) Limits() bus.ConsumerLimits {
	return bus.ConsumerLimits{AckWait: r.AckWait, MaxAckPending: r.MaxAckPending}
}

// ECGConfig switches the ECG processor.
type ECGConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// DefaultConfig returns the defaults of every key; configs/medbiz.yaml
// repeats them with comments and a test keeps the two equal.
func DefaultConfig() Config {
	return Config{
		DataDir:  "./data",
		LogLevel: "info",
		MQTT: MQTTConfig{
			TCPAddr:             ":1883",
			WSAddr:              ":8083",
			PublishTimeout:      5 * time.Second,
			ClientWritesPending: 128,
			ClientBufferSize:    1024,
			WSOrigins:           []string{},
		},
		HTTP: HTTPConfig{Addr: ":8080"},
		NATS: NATSConfig{
			EmbeddedAddr: "127.0.0.1:4222",
			SyncInterval: "2m",
			Replicas:     1,
			MaxAge:       7 * 24 * time.Hour,
		},
		Influx: InfluxConfig{EmbeddedAddr: "127.0.0.1:8086", Org: "medbiz"},
		Ingest: IngestConfig{
			MaxPayloadBytes: 256 << 10,
			MaxFuture:       5 * time.Minute,
			MaxPast:         7 * 24 * time.Hour,
		},
		Store: StoreConfig{
			BatchSize: 5000, FlushInterval: time.Second, StoreECG: true,
			AckWait: 30 * time.Second, MaxAckPending: 10000,
		},
		Registry: RegistryConfig{BcryptCost: 10, AuthCacheTTL: 2 * time.Minute},
		Rules: RulesConfig{
			Enabled: true, Builtin: true, EscalateAfter: 5 * time.Minute,
			AckWait: 30 * time.Second, MaxAckPending: 1000,
		},
		ECG:   ECGConfig{Enabled: true},
		Login: defaultLogin(),
	}
}

// envPrefix is the prefix of environment overrides: MEDBIZ_HTTP_ADDR sets http.addr.
const envPrefix = "MEDBIZ"

// envNotConfig lists MEDBIZ_ variables that are not config keys but are
// read elsewhere (CLI clients, tests), so they are not reported as unknown.
var envNotConfig = map[string]bool{
	"MEDBIZ_CONFIG": true, "MEDBIZ_URL": true, "MEDBIZ_MITDB": true,
}

// LoadConfig reads the file at path (none: defaults only), applies MEDBIZ_*
// environment overrides, decodes strictly and validates. Every error names
// the key it is about.
func LoadConfig(path string, environ []string) (Config, error) {
	v := viper.New()
	def := DefaultConfig()
	keys := configKeys(reflect.TypeOf(def), "")
	defMap := map[string]any{}
	if err := mapstructure.Decode(def, &defMap); err != nil {
		return Config{}, fmt.Errorf("config defaults: %w", err)
	}
	for _, k := range keys {
		v.SetDefault(k, lookup(defMap, k))
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	// MEDBIZ_MQTT_WS_ADDR= disables WebSocket: an empty value is a value.
	v.AllowEmptyEnv(true)
	v.AutomaticEnv()
	if err := unknownEnv(environ, keys); err != nil {
		return Config{}, err
	}
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	var cfg Config
	err := v.UnmarshalExact(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", describe(path), err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", describe(path), err)
	}
	return cfg, nil
}

func describe(path string) string {
	if path == "" {
		return "(defaults and environment)"
	}
	return path
}

// configKeys lists the dotted key of every leaf field of a config struct.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := prefix + f.Tag.Get("mapstructure")
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configKeys(f.Type, name+".")...)
			continue
		}
		keys = append(keys, name)
	}
	return keys
}

func lookup(m map[string]any, key string) any {
	parts := strings.Split(key, ".")
	var cur any = m
	for _, p := range parts {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// unknownEnv reports MEDBIZ_ variables that match no config key, so a typo
// in a deployment fails loudly instead of being ignored.
func unknownEnv(environ []string, keys []string) error {
	known := map[string]bool{}
	for _, k := range keys {
		known[envPrefix+"_"+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = true
	}
	var bad []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, envPrefix+"_") && !known[name] && !envNotConfig[name] {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("unknown environment variable %s: no such config key", strings.Join(bad, ", "))
	}
	return nil
}

// Validate checks values that decode but make no sense; each error names its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	addr := func(key, v string, optional bool) {
		if v == "" {
			if !optional {
				bad(key, "must not be empty")
			}
			return
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad(key, "%q is not host:port", v)
		}
	}
	addr("mqtt.tcp_addr", c.MQTT.TCPAddr, false)
	addr("mqtt.ws_addr", c.MQTT.WSAddr, true)
	addr("mqtt.tls_addr", c.MQTT.TLSAddr, true)
	if c.MQTT.TLSAddr != "" && (c.MQTT.TLSCert == "" || c.MQTT.TLSKey == "") {
		bad("mqtt.tls_cert", "mqtt.tls_addr is set, so mqtt.tls_cert and mqtt.tls_key are required")
	}
	for key, f := range map[string]string{"mqtt.tls_cert": c.MQTT.TLSCert, "mqtt.tls_key": c.MQTT.TLSKey} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				bad(key, "%v", err)
			}
		}
	}
	if c.MQTT.PublishTimeout <= 0 {
		bad("mqtt.publish_timeout", "must be positive")
	}
	if c.MQTT.ClientWritesPending < 16 {
		bad("mqtt.client_writes_pending", "must be at least 16")
	}
	if c.MQTT.ClientBufferSize < 512 {
		bad("mqtt.client_buffer_size", "must be at least 512")
	}
	addr("http.addr", c.HTTP.Addr, false)
	if c.NATS.URL == "" {
		addr("nats.embedded_addr", c.NATS.EmbeddedAddr, false)
	}
	if _, err := c.NATS.Sync(); err != nil {
		bad("nats.sync_interval", "%v", err)
	}
	if c.NATS.Replicas < 1 || c.NATS.Replicas > 5 {
		bad("nats.replicas", "must be 1 to 5")
	}
	if c.NATS.MaxAge < time.Minute {
		bad("nats.max_age", "must be at least 1m")
	}
	if c.Influx.URL == "" {
		addr("influx.embedded_addr", c.Influx.EmbeddedAddr, false)
	} else if !strings.HasPrefix(c.Influx.URL, "http://") && !strings.HasPrefix(c.Influx.URL, "https://") {
		bad("influx.url", "%q must start with http:// or https://", c.Influx.URL)
	}
	if c.Ingest.MaxPayloadBytes < 1024 {
		bad("ingest.max_payload_bytes", "must be at least 1024")
	}
	if c.Ingest.MaxFuture <= 0 || c.Ingest.MaxPast <= 0 {
		bad("ingest.max_future", "ingest.max_future and ingest.max_past must be positive")
	}
	if c.Store.BatchSize < 1 {
		bad("store.batch_size", "must be at least 1")
	}
	if c.Store.FlushInterval <= 0 {
		bad("store.flush_interval", "must be positive")
	}
	if c.Store.AckWait <= 0 {
		bad("store.ack_wait", "must be positive")
	}
	if c.Store.MaxAckPending < c.Store.BatchSize {
		bad("store.max_ack_pending", "%d is below store.batch_size (%d): a batch could never fill", c.Store.MaxAckPending, c.Store.BatchSize)
	}
	if c.Registry.BcryptCost < 4 || c.Registry.BcryptCost > 31 {
		bad("registry.bcrypt_cost", "must be 4 to 31")
	}
	if c.Registry.AuthCacheTTL < 0 {
		bad("registry.auth_cache_ttl", "must not be negative")
	}
	if c.Rules.Enabled && !c.Rules.Builtin && c.Rules.Dir == "" {
		bad("rules.dir", "rules.builtin is false, so rules.dir must name a folder of rule packs")
	}
	if c.Rules.Enabled && c.Rules.Dir != "" {
		if st, err := os.Stat(c.Rules.Dir); err != nil {
			bad("rules.dir", "%v", err)
		} else if !st.IsDir() {
			bad("rules.dir", "%s is not a folder", c.Rules.Dir)
		}
	}
	if c.Rules.Deadman < 0 {
		bad("rules.deadman", "must not be negative")
	}
	if c.Rules.EscalateAfter <= 0 {
		bad("rules.escalate_after", "must be positive")
	}
	if c.Rules.AckWait <= 0 {
		bad("rules.ack_wait", "must be positive")
	}
	if c.Rules.MaxAckPending < 1 {
		bad("rules.max_ack_pending", "must be at least 1")
	}
	c.validateSecurity(bad)
	return errors.Join(errs...)
}

// Sync parses nats.sync_interval: always (0, true) or a positive duration.
func (n NATSConfig) Sync() (time.Duration, error) {
	if n.SyncInterval == "always" {
		return 0, nil
	}
	d, err := time.ParseDuration(n.SyncInterval)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is neither \"always\" nor a positive duration", n.SyncInterval)
	}
	return d, nil
}
