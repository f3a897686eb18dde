package app_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/testkit"
)

// via makes a paho client connect to url instead of the plain TCP address.
func via(url string, tc *tls.Config) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) {
		o.Servers = nil
		o.AddBroker(url)
		if tc != nil {
			o.SetTLSConfig(tc)
		}
	}
}

// The HTTP API over HTTPS only, and MQTT over WebSocket over TLS, with
// certificates made in the test.
func TestHTTPSAndWSS(t *testing.T) {
	ca := testkit.NewCA(t, "medbiz test CA")
	cert, key := ca.Server(t)
	cfg := testkit.Config(t.TempDir())
	cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = cert, key
	cfg.MQTT.TLSCert, cfg.MQTT.TLSKey = cert, key
	cfg.MQTT.WSSAddr = "127.0.0.1:0"
	a := testkit.Start(t, cfg)
	trust := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	h := testkit.API(t, a)
	h.Base = "https://" + a.HTTPAddr()
	h.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: trust}, Timeout: 30 * time.Second}

	if code, _ := h.Do(http.MethodGet, "/healthz", nil); code != http.StatusOK {
		t.Fatalf("https /healthz: %d", code)
	}
	plain := &testkit.HTTP{T: t, Base: "http://" + a.HTTPAddr(), Bearer: a.AdminToken()}
	if code, body := plain.Do(http.MethodGet, "/api/v1/farms", nil); code == http.StatusOK {
		t.Errorf("plain HTTP on the HTTPS port answered 200: %s", body)
	}
	dev, token := provision(t, h)

	// MQTT over wss://, checked against the test CA.
	wss := "wss://" + a.MQTTAddrOf("wss")
	cl := testkit.MQTT(t, "", dev, via(wss, trust))
	ts := time.Now().Add(-time.Minute).UnixMilli()
	testkit.Publish(t, cl, testkit.TelemetryTopic("f1", "d1"), 1, fmt.Sprintf(`{"ts": %d, "hr": 66}`, ts))
	r := reader(t, h, token)
	if s := waitSeries(t, r, "f1", "p1", "metric=hr&start=-10m", 1); s.Points[0].V != 66 {
		t.Errorf("stored over wss: %+v", s.Points)
	}
	// The same port refuses plain WebSocket and clients that do not trust
	// the certificate.
	if _, err := testkit.DialMQTT("", dev, via("ws://"+a.MQTTAddrOf("wss"), nil)); err == nil {
		t.Error("plain ws:// connected to the wss listener")
	}
	if _, err := testkit.DialMQTT("", dev, via(wss, &tls.Config{MinVersion: tls.VersionTLS12})); err == nil {
		t.Error("a client not trusting the CA connected")
	}
}

// Devices on the MQTT TLS listener may log in with a client certificate
// signed by mqtt.client_ca whose CN is their username, without a
// password; any other certificate is refused.
func TestClientCertificateLogin(t *testing.T) {
	ca := testkit.NewCA(t, "medbiz device CA")
	other := testkit.NewCA(t, "someone else's CA")
	cert, key := ca.Server(t)
	cfg := testkit.Config(t.TempDir())
	cfg.MQTT.TLSAddr = "127.0.0.1:0"
	cfg.MQTT.TLSCert, cfg.MQTT.TLSKey, cfg.MQTT.ClientCA = cert, key, ca.File
	a := testkit.Start(t, cfg)
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	d2 := h.Device("f1", "d2", "p1", "thermometer")
	cg := h.Caregiver("f1", "c1", "p1")
	tlsURL := "tls://" + a.MQTTAddrOf("tls")
	withCert := func(c tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
	}

	// MQTT 3.1.1: the certificate alone, no username, no password.
	noPassword := testkit.Creds{ID: "d1-cert"}
	cl := testkit.MQTT(t, "", noPassword, via(tlsURL, withCert(ca.Client(t, dev.Username))))
	ts := time.Now().Add(-time.Minute).UnixMilli()
	testkit.Publish(t, cl, testkit.TelemetryTopic("f1", "d1"), 1, fmt.Sprintf(`{"ts": %d, "hr": 58}`, ts))
	// It is that device and no other: another device's topic is refused.
	if tok := cl.Subscribe("farms/f1/devices/d2/errors", 1, nil); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		if tok.(*paho.SubscribeToken).Result()["farms/f1/devices/d2/errors"] < 0x80 {
			t.Error("the certificate of d1 subscribed to d2's errors")
		}
	}
	// MQTT 5 with the device's username and no password.
	conn, err := tls.Dial("tcp", a.MQTTAddrOf("tls"), withCert(ca.Client(t, dev.Username)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testkit.DialV5Conn(t, conn, testkit.Creds{ID: "d1-cert5", Username: dev.Username}, nil); err != nil {
		t.Errorf("MQTT 5 with a client certificate: %v", err)
	}
	waitSeries(t, reader(t, h, token), "f1", "p1", "metric=hr&start=-10m", 1)

	refused := []struct {
		name string
		tc   *tls.Config
		who  testkit.Creds
	}{
		{"a certificate for no provisioned device", withCert(ca.Client(t, "dev.f1.ghost")), noPassword},
		{"a certificate for a caregiver", withCert(ca.Client(t, cg.Username)), noPassword},
		{"d1's certificate with d2's username and password", withCert(ca.Client(t, dev.Username)), d2},
		{"a certificate of another CA", withCert(other.Client(t, dev.Username)), noPassword},
	}
	for _, tc := range refused {
		if _, err := testkit.DialMQTT("", tc.who, via(tlsURL, tc.tc)); err == nil {
			t.Errorf("%s connected", tc.name)
		}
	}
	// Without a certificate the listener still takes passwords.
	testkit.MQTT(t, "", dev, via(tlsURL, &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}))
	if got := metric(t, "http://"+a.HTTPAddr(), `medbiz_auth_failures_total{reason="certificate"}`); got != 3 {
		t.Errorf("certificate refusals counted %v, want 3 (the other CA's fails the handshake)", got)
	}
}

// A browser page from another origin cannot open MQTT over WebSocket;
// the listener's own host and clients that send no Origin can.
func TestWebSocketOriginAllowList(t *testing.T) {
	cfg := testkit.Config(t.TempDir())
	cfg.MQTT.WSAddr = "127.0.0.1:0"
	a := testkit.Start(t, cfg)
	dev, _ := provision(t, testkit.API(t, a))
	addr := a.WSAddr()
	_, port, _ := net.SplitHostPort(addr)
	origin := func(o string) func(*paho.ClientOptions) {
		return func(opts *paho.ClientOptions) {
			if o != "" {
				opts.SetHTTPHeaders(http.Header{"Origin": {o}})
			}
		}
	}
	ws := via("ws://"+addr, nil)
	for _, o := range []string{"", "http://" + addr, "http://127.0.0.1:" + port} {
		cl, err := testkit.DialMQTT("", dev, ws, origin(o))
		if err != nil {
			t.Errorf("origin %q: %v", o, err)
			continue
		}
		cl.Disconnect(100)
	}
	for _, o := range []string{"https://evil.example.net", "http://127.0.0.1:1", "null"} {
		if _, err := testkit.DialMQTT("", dev, ws, origin(o)); err == nil || !strings.Contains(err.Error(), "bad handshake") {
			t.Errorf("origin %q: %v, want the handshake refused", o, err)
		}
	}
}

// Every API answer forbids caching and content sniffing.
func TestAPIAnswersAreNotCached(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	_, token := provision(t, h)
	base := "http://" + a.HTTPAddr()
	for _, c := range []struct{ path, bearer string }{
		{"/api/v1/farms/f1/patients/p1/series?metric=hr", token},
		{"/api/v1/farms/f1/alerts", token},
		{"/api/v1/farms", a.AdminToken()},
		{"/api/v1/farms/f1/patients/p1/series?metric=nope", token},
		{"/api/v1/farms/f1/alerts", "wrong"},
		{"/openapi.json", ""},
		{"/metrics", ""},
		{"/healthz", ""},
		{"/nowhere", ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if cc, ns := resp.Header.Get("Cache-Control"), resp.Header.Get("X-Content-Type-Options"); cc != "no-store" || ns != "nosniff" {
			t.Errorf("%s (%d): Cache-Control %q, X-Content-Type-Options %q", c.path, resp.StatusCode, cc, ns)
		}
	}
}
