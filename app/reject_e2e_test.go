package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/medbiz/medbiz/internal/testkit"
)

// metric reads one sample of /metrics (0 when absent).
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	h := &testkit.HTTP{T: t, Base: base}
	code, body := h.Do(http.MethodGet, "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestBadInputIsRejectedWholeAndExplained(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	cl := testkit.MQTT(t, a.MQTTAddr(), dev)
	errs := subscribeErrors(t, cl, "f1", "d1")
	topic := testkit.TelemetryTopic("f1", "d1")
	base := "http://" + a.HTTPAddr()

	ts := time.Now().Add(-time.Minute).UnixMilli()
	cases := []struct {
		name, payload, reason, mention string
	}{
		{"malformed JSON", `{"hr": 72,`, "malformed", "JSON"},
		{"unknown metric", fmt.Sprintf(`{"ts": %d, "hr": 70, "pulse_ox": 97}`, ts), "unknown_metric", "pulse_ox"},
		{"out of range", fmt.Sprintf(`{"ts": %d, "hr": 71, "spo2": 140}`, ts), "out_of_range", "spo2"},
		{"wrong unit", fmt.Sprintf(`[{"bt": %d, "n": "hr", "u": "beat/min", "v": 72}, {"n": "temp", "u": "K", "v": 310}]`, ts/1000), "bad_unit", "K"},
		{"oversized", `{"hr": 72, "pad": "` + strings.Repeat("x", 300<<10) + `"}`, "too_large", "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			series := fmt.Sprintf(`medbiz_ingest_rejected_total{reason=%q}`, tc.reason)
			before := metric(t, base, series)
			testkit.Publish(t, cl, topic, 1, tc.payload)
			select {
			case e := <-errs:
				if e["reason"] != tc.reason || !strings.Contains(e["detail"], tc.mention) {
					t.Errorf("errors topic said %v, want reason %s naming %q", e, tc.reason, tc.mention)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no explanation on the errors topic")
			}
			if got := metric(t, base, series); got != before+1 {
				t.Errorf("%s = %v, want %v", series, got, before+1)
			}
		})
	}

	// The connection is alive and a good message after the bad ones is stored,
	// while no hr from the rejected ones (70, 71, 72) is.
	good := time.Now().Add(-30 * time.Second).UnixMilli()
	testkit.Publish(t, cl, topic, 1, fmt.Sprintf(`{"ts": %d, "hr": 64}`, good))
	r := reader(t, h, token)
	s := waitSeries(t, r, "f1", "p1", "metric=hr&start=-10m", 1)
	time.Sleep(500 * time.Millisecond) // a flush interval or more: anything else would have landed
	_, s, _ = r.Series("f1", "p1", "metric=hr&start=-10m")
	if len(s.Points) != 1 || s.Points[0].V != 64 {
		t.Errorf("stored hr %+v, want only the good 64", s.Points)
	}
	if !cl.IsConnectionOpen() {
		t.Error("device was disconnected by bad input")
	}
}

// TestMQTT5GetsPayloadFormatInvalid checks the negative PUBACK of MQTT 5.
func TestMQTT5GetsPayloadFormatInvalid(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	dev, _ := provision(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", a.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ca, err := c.Connect(ctx, &paho.Connect{
		ClientID: "d1-v5", CleanStart: true, KeepAlive: 30,
		Username: dev.Username, UsernameFlag: true, Password: []byte(dev.Password), PasswordFlag: true,
	})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connect v5: %v %+v", err, ca)
	}
	defer c.Disconnect(&paho.Disconnect{})
	topic := testkit.TelemetryTopic("f1", "d1")
	resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{"hr": "fast"}`)})
	if resp == nil || resp.ReasonCode != 0x99 {
		t.Errorf("bad payload: PUBACK %+v (%v), want reason 0x99", resp, err)
	}
	resp, err = c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(`{"hr": 70}`)})
	if err != nil || resp == nil || resp.ReasonCode != 0 {
		t.Errorf("good payload after a bad one: %+v %v", resp, err)
	}
}

func TestSecurity(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	h.Device("f1", "d2", "p1", "thermometer")
	h.Farm("f2")
	h.Patient("f2", "q1", "adult", "")
	h.Device("f2", "e1", "q1", "thermometer")
	token2 := h.FarmToken("f2", "read")

	t.Run("wrong password and unknown device are refused", func(t *testing.T) {
		bad := dev
		bad.Password = "not-the-password"
		if _, err := testkit.DialMQTT(a.MQTTAddr(), bad); err == nil || !strings.Contains(err.Error(), "not Authorized") && !strings.Contains(err.Error(), "bad user name or password") {
			t.Errorf("wrong password: %v", err)
		}
		ghost := testkit.Creds{ID: "ghost", Username: "dev.f1.ghost", Password: dev.Password}
		if _, err := testkit.DialMQTT(a.MQTTAddr(), ghost); err == nil {
			t.Error("unknown device connected")
		}
		if _, err := testkit.DialMQTT(a.MQTTAddr(), testkit.Creds{ID: "anon"}); err == nil {
			t.Error("anonymous client connected")
		}
	})

	t.Run("publishing to another device or farm stores nothing", func(t *testing.T) {
		cl := testkit.MQTT(t, a.MQTTAddr(), dev)
		ts := time.Now().Add(-time.Minute).UnixMilli()
		for _, topic := range []string{testkit.TelemetryTopic("f1", "d2"), testkit.TelemetryTopic("f2", "e1")} {
			tok := cl.Publish(topic, 0, false, fmt.Sprintf(`{"ts": %d, "temp": 39.9}`, ts))
			tok.WaitTimeout(5 * time.Second)
		}
		// A subscription to another device's errors is refused.
		tok := cl.Subscribe("farms/f1/devices/d2/errors", 1, nil)
		tok.WaitTimeout(5 * time.Second)
		if tok.Error() == nil {
			if st, ok := tok.(interface{ Result() map[string]byte }); ok && st.Result()["farms/f1/devices/d2/errors"] < 0x80 {
				t.Error("device subscribed to another device's errors")
			}
		}
		time.Sleep(500 * time.Millisecond)
		r1 := reader(t, h, token)
		if _, s, _ := r1.Series("f1", "p1", "metric=temp&start=-10m"); len(s.Points) != 0 {
			t.Errorf("farm f1 stored %+v from a foreign topic", s.Points)
		}
		r2 := reader(t, h, token2)
		if _, s, _ := r2.Series("f2", "q1", "metric=temp&start=-10m"); len(s.Points) != 0 {
			t.Errorf("farm f2 stored %+v from a device of f1", s.Points)
		}
	})

	t.Run("a farm token reads nothing of another farm", func(t *testing.T) {
		r := reader(t, h, token)
		if code, _, body := r.Series("f2", "q1", "metric=temp"); code != http.StatusForbidden {
			t.Errorf("f1 token on f2: %d %s, want 403", code, body)
		}
		if code, _ := r.Do(http.MethodGet, "/api/v1/farms/f2/alerts", nil); code != http.StatusForbidden {
			t.Errorf("f1 token on f2 alerts: %d, want 403", code)
		}
		nobody := reader(t, h, "mbz_0123456789ab_forged")
		if code, _, _ := nobody.Series("f1", "p1", "metric=hr"); code != http.StatusUnauthorized {
			t.Errorf("forged token: %d, want 401", code)
		}
		if code, _ := r.Do(http.MethodPost, "/api/v1/farms", map[string]any{"id": "f9"}); code != http.StatusUnauthorized {
			t.Errorf("farm token on an admin call: %d, want 401", code)
		}
		// A read of a hostile patient id never reaches InfluxQL.
		code, _ := r.Do(http.MethodGet, "/api/v1/farms/f1/patients/"+url.PathEscape(`p1' OR 1=1`)+"/series?metric=hr", nil)
		if code != http.StatusBadRequest && code != http.StatusNotFound {
			t.Errorf("hostile patient id: %d, want 400 or 404", code)
		}
	})
}
