package app

import (
	"net"
	"net/url"
	"os"
	"time"

	"github.com/medbiz/medbiz/registry"
)

// LoginConfig throttles failed MQTT logins and bounds password checks.
type LoginConfig struct {
	// UsernameFailures and AddressFailures are the failed logins allowed
	// for one username, and from one client address, before back-off.
	UsernameFailures int `mapstructure:"username_failures"`
	AddressFailures  int `mapstructure:"address_failures"`
	// Backoff is the first wait after the allowance; each further failure
	// doubles it, up to BackoffMax.
	Backoff    time.Duration `mapstructure:"backoff"`
	BackoffMax time.Duration `mapstructure:"backoff_max"`
	// ForgetAfter is how long after its last failure a username or an
	// address starts afresh.
	ForgetAfter time.Duration `mapstructure:"forget_after"`
	// Tracked bounds the usernames, and the addresses, remembered.
	Tracked int `mapstructure:"tracked"`
	// ConcurrentChecks bounds the bcrypt checks running at once; 0 is one
	// per CPU.
	ConcurrentChecks int `mapstructure:"concurrent_checks"`
	// CheckTimeout is how long a login may wait for a check to start
	// before it is refused as busy.
	CheckTimeout time.Duration `mapstructure:"check_timeout"`
}

func defaultLogin() LoginConfig {
	return LoginConfig{
		UsernameFailures: 5, AddressFailures: 20,
		Backoff: time.Second, BackoffMax: time.Minute, ForgetAfter: 15 * time.Minute,
		Tracked: 100_000, ConcurrentChecks: 0, CheckTimeout: 10 * time.Second,
	}
}

// throttle is the login config as the registry's throttle options.
func (l LoginConfig) throttle() registry.ThrottleOptions {
	return registry.ThrottleOptions{
		UsernameFailures: l.UsernameFailures, AddressFailures: l.AddressFailures,
		Backoff: l.Backoff, MaxBackoff: l.BackoffMax, Forget: l.ForgetAfter, Tracked: l.Tracked,
	}
}

// minAdminToken is the shortest admin.token accepted: 32 characters, as
// long as the hex of 128 random bits.
const minAdminToken = 32

// validateSecurity checks the keys of TLS, origins, the admin token and
// login limits; each error names its key.
func (c Config) validateSecurity(bad func(key, format string, args ...any)) {
	if t := c.Admin.Token; t != "" && len(t) < minAdminToken {
		bad("admin.token", "is %d characters, at least %d are required (leave it empty and serve generates one)", len(t), minAdminToken)
	}
	files := func(certKey, cert, keyKey, key string) {
		if (cert == "") != (key == "") {
			bad(certKey, "%s and %s must be set together", certKey, keyKey)
		}
		for k, f := range map[string]string{certKey: cert, keyKey: key} {
			if f != "" {
				if _, err := os.Stat(f); err != nil {
					bad(k, "%v", err)
				}
			}
		}
	}
	files("http.tls_cert", c.HTTP.TLSCert, "http.tls_key", c.HTTP.TLSKey)
	if c.MQTT.WSSAddr != "" {
		if _, _, err := net.SplitHostPort(c.MQTT.WSSAddr); err != nil {
			bad("mqtt.wss_addr", "%q is not host:port", c.MQTT.WSSAddr)
		}
		if c.MQTT.TLSCert == "" || c.MQTT.TLSKey == "" {
			bad("mqtt.wss_addr", "is set, so mqtt.tls_cert and mqtt.tls_key are required")
		}
	}
	if c.MQTT.ClientCA != "" {
		if c.MQTT.TLSAddr == "" {
			bad("mqtt.client_ca", "client certificates are checked on the TLS listener: set mqtt.tls_addr")
		}
		if _, err := os.Stat(c.MQTT.ClientCA); err != nil {
			bad("mqtt.client_ca", "%v", err)
		}
	}
	for _, o := range c.MQTT.WSOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("mqtt.ws_origins", "%q is not an origin like https://app.example.com (or *)", o)
		}
	}
	l := c.Login
	if l.UsernameFailures < 1 {
		bad("login.username_failures", "must be at least 1")
	}
	if l.AddressFailures < 1 {
		bad("login.address_failures", "must be at least 1")
	}
	if l.Backoff <= 0 {
		bad("login.backoff", "must be positive")
	}
	if l.BackoffMax < l.Backoff {
		bad("login.backoff_max", "must be at least login.backoff")
	}
	if l.ForgetAfter <= 0 {
		bad("login.forget_after", "must be positive")
	}
	if l.Tracked < 1 {
		bad("login.tracked", "must be at least 1")
	}
	if l.ConcurrentChecks < 0 {
		bad("login.concurrent_checks", "must not be negative (0 is one per CPU)")
	}
	if l.CheckTimeout <= 0 {
		bad("login.check_timeout", "must be positive")
	}
}
