package app_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/app"
	"github.com/medbiz/medbiz/internal/testkit"
)

var floodCost = flag.Int("flood.cost", 6, "bcrypt cost of TestLoginFloodDoesNotDelayOthers (medbiz's default is 10)")

// from makes a paho client connect from a loopback address of its own, so
// per-address limits can tell a guesser from the devices under test.
func from(ip string) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) {
		o.SetDialer(&net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}})
	}
}

// dialV5From connects an MQTT 5 client from ip.
func dialV5From(t *testing.T, ip, addr string, c testkit.Creds) (*testkit.V5, error) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	return testkit.DialV5Conn(t, conn, c, nil)
}

func refusedAs(err error, want string) bool { return err != nil && strings.Contains(err.Error(), want) }

// Failed logins back off per username and per address; a success resets;
// attempts during back-off are refused unchecked and counted.
func TestLoginThrottling(t *testing.T) {
	cfg := testkit.Config(t.TempDir())
	cfg.Login.UsernameFailures, cfg.Login.AddressFailures = 3, 6
	cfg.Login.Backoff, cfg.Login.BackoffMax = 3*time.Second, 10*time.Second
	a := testkit.Start(t, cfg)
	h := testkit.API(t, a)
	dev, _ := provision(t, h)
	base := "http://" + a.HTTPAddr()
	wrong := dev
	wrong.Password = "not-the-password-at-all"

	for range 3 {
		if _, err := testkit.DialMQTT(a.MQTTAddr(), wrong, from("127.0.0.2")); !refusedAs(err, "bad user name or password") {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// The username backs off: even the right password, from another
	// address, is refused unchecked, with 0x9F for MQTT 5.
	v, err := dialV5From(t, "127.0.0.1", a.MQTTAddr(), dev)
	if err == nil || v.ConnackCode() != 0x9F {
		t.Fatalf("right password during back-off: CONNACK %#x %v, want 0x9F", v.ConnackCode(), err)
	}
	if !strings.Contains(v.Connack.Properties.ReasonString, "retry in") {
		t.Errorf("reason %q does not say when to retry", v.Connack.Properties.ReasonString)
	}
	if _, err := testkit.DialMQTT(a.MQTTAddr(), dev); !refusedAs(err, "not Authorized") {
		t.Errorf("MQTT 3.1.1 during back-off: %v, want not authorized", err)
	}
	if got := metric(t, base, `medbiz_auth_throttled_total{scope="username"}`); got != 2 {
		t.Errorf("username throttled %v, want 2", got)
	}
	// After the back-off the right password logs in, which resets the
	// count: a wrong password is checked again, not refused unchecked.
	time.Sleep(cfg.Login.Backoff + 200*time.Millisecond)
	testkit.MQTT(t, a.MQTTAddr(), dev).Disconnect(100)
	if _, err := testkit.DialMQTT(a.MQTTAddr(), wrong, from("127.0.0.2")); !refusedAs(err, "bad user name or password") {
		t.Errorf("wrong password after a success: %v, want it checked", err)
	}
	if got := metric(t, base, `medbiz_auth_failures_total{reason="credentials"}`); got != 4 {
		t.Errorf("credential failures %v, want 4", got)
	}

	// One address guessing many usernames backs off as an address; the
	// device from elsewhere is not affected.
	for i := range 6 {
		ghost := testkit.Creds{ID: "g", Username: fmt.Sprintf("dev.f1.ghost%d", i), Password: dev.Password}
		if _, err := testkit.DialMQTT(a.MQTTAddr(), ghost, from("127.0.0.3")); !refusedAs(err, "bad user name or password") {
			t.Fatalf("unknown username %d: %v", i, err)
		}
	}
	if _, err := testkit.DialMQTT(a.MQTTAddr(), dev, from("127.0.0.3")); !refusedAs(err, "not Authorized") {
		t.Errorf("the right password from the guessing address: %v, want refused", err)
	}
	if got := metric(t, base, `medbiz_auth_throttled_total{scope="address"}`); got != 1 {
		t.Errorf("address throttled %v, want 1", got)
	}
	testkit.MQTT(t, a.MQTTAddr(), dev).Disconnect(100)
}

// floodResult counts a flood's attempts by outcome.
type floodResult struct{ attempts, throttled, checked, other atomic.Int64 }

// flood runs n clients that each try a wrong password for user from ip,
// again pause after each refusal, until ctx ends. (A pause: in this one
// process, clients retrying with none would take the CPU from the server
// they attack, which a remote attacker cannot.)
func flood(ctx context.Context, a *app.App, n int, ip string, user testkit.Creds, pause time.Duration, r *floodResult) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				r.attempts.Add(1)
				_, err := testkit.DialMQTT(a.MQTTAddr(), user, from(ip))
				switch {
				case refusedAs(err, "not Authorized"):
					r.throttled.Add(1)
				case refusedAs(err, "bad user name or password"):
					r.checked.Add(1)
				default:
					r.other.Add(1)
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	return &wg
}

// connectTime is how long a fresh device's first login takes (one bcrypt).
func connectTime(t *testing.T, a *app.App, c testkit.Creds) time.Duration {
	t.Helper()
	began := time.Now()
	cl := testkit.MQTT(t, a.MQTTAddr(), c)
	took := time.Since(began)
	cl.Disconnect(100)
	return took
}

// 48 parallel wrong-password logins against one username do not delay
// other devices' logins: the flood is refused unchecked after a few
// bcrypt comparisons. Run with -v for the numbers (-flood.cost=10 for the
// default cost).
func TestLoginFloodDoesNotDelayOthers(t *testing.T) {
	cfg := testkit.Config(t.TempDir())
	cfg.Registry.BcryptCost = *floodCost
	a := testkit.Start(t, cfg)
	h := testkit.API(t, a)
	victim, _ := provision(t, h)
	var devices []testkit.Creds
	for i := range 4 {
		devices = append(devices, h.Device("f1", fmt.Sprintf("r%d", i), "p1", "thermometer"))
	}
	base := "http://" + a.HTTPAddr()
	baseline := connectTime(t, a, devices[0])

	wrong := victim
	wrong.Password = "guess-guess-guess-guess"
	var r floodResult
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	wg := flood(ctx, a, 48, "127.0.0.2", wrong, 100*time.Millisecond, &r)
	// A device connecting with the flood's first guesses waits for those
	// few checks (the username's allowance) at most.
	first := connectTime(t, a, devices[1])
	checks := func() float64 { return metric(t, base, `medbiz_auth_failures_total{reason="credentials"}`) }
	testkit.Eventually(t, 60*time.Second, "the flooded username's allowance used", func() bool { return checks() >= 5 })
	var during []time.Duration
	for _, d := range devices[2:] {
		time.Sleep(500 * time.Millisecond)
		during = append(during, connectTime(t, a, d))
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	took := time.Since(began)
	t.Logf("bcrypt cost %d: a fresh device connects in %v alone; during the flood in %v with its first guesses, then in %v",
		*floodCost, baseline.Round(time.Millisecond), first.Round(time.Millisecond), during)
	t.Logf("flood: %d attempts by 48 clients (each again 100 ms after a refusal) in %v, %d refused unchecked, %d checked (bcrypt), %d other",
		r.attempts.Load(), took.Round(100*time.Millisecond), r.throttled.Load(), r.checked.Load(), r.other.Load())
	if n := checks(); n > 12 {
		t.Errorf("%v passwords checked for the flooded username, want a handful", n)
	}
	if r.throttled.Load() < 48 {
		t.Errorf("only %d attempts refused unchecked", r.throttled.Load())
	}
	for _, d := range during {
		if d > 5*baseline+2*time.Second {
			t.Errorf("a device took %v to connect during the flood, %v alone", d, baseline)
		}
	}

	// An unknown username costs a bcrypt too: answers take as long as for
	// a wrong password (fresh usernames and addresses, so nothing backs off).
	timeRefusal := func(c testkit.Creds, ip string) time.Duration {
		began := time.Now()
		if _, err := testkit.DialMQTT(a.MQTTAddr(), c, from(ip)); !refusedAs(err, "bad user name or password") {
			t.Fatalf("%s: %v", c.Username, err)
		}
		return time.Since(began)
	}
	var known, unknown time.Duration
	for i := range 4 {
		w := devices[i]
		w.Password = "wrong-password-wrong-password"
		known += timeRefusal(w, fmt.Sprintf("127.0.1.%d", i+1))
		unknown += timeRefusal(testkit.Creds{ID: "n", Username: fmt.Sprintf("dev.f1.nobody%d", i), Password: w.Password}, fmt.Sprintf("127.0.2.%d", i+1))
	}
	t.Logf("refusal: wrong password %v, unknown username %v (mean of 4)", (known / 4).Round(time.Millisecond), (unknown / 4).Round(time.Millisecond))
	if unknown < known/4 {
		t.Errorf("an unknown username is refused in %v, a wrong password in %v: the time tells them apart", unknown/4, known/4)
	}
}
