package app_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/testkit"
)

// syncBuffer collects log output from every goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// decimalBytes is how fmt prints a []byte inside a struct: "77 65 82 …".
func decimalBytes(s string) string {
	return strings.Trim(fmt.Sprint([]byte(s)), "[]")
}

// Rejected payloads, wills and publishes carry health data; none of it may
// reach a log line, at any level, in text or as mochi's decimal bytes.
func TestNoPayloadInLogs(t *testing.T) {
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := testkit.Config(t.TempDir())
	cfg.LogLevel = "debug"
	a := testkit.StartLogged(t, cfg, log)
	h := testkit.API(t, a)
	dev, _ := provision(t, h)

	const marker = "MARKER-spo2-of-Anna-9137"
	const value = "140.987654" // an out-of-range reading, quoted in its rejection
	topic := testkit.TelemetryTopic("f1", "d1")
	payloads := []string{
		`{"hr": "` + marker + `"}`,
		`{"hr": 72, "note": "` + marker + strings.Repeat("x", 300<<10) + `"}`,
		`{"spo2": ` + value + `, "` + marker + `": 1}`,
		`{"spo2": ` + value + `}`,
		`not json ` + marker,
	}
	v, err := testkit.DialV5(t, a.MQTTAddr(), dev, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, p := range payloads {
		resp, err := v.Publish(ctx, &paho5.Publish{Topic: topic, QoS: 1, Payload: []byte(p)})
		if resp == nil || resp.ReasonCode != 0x99 {
			t.Errorf("payload %.40q: PUBACK %+v (%v), want 0x99", p, resp, err)
		}
	}
	resp, err := v.Publish(ctx, &paho5.Publish{Topic: "$SYS/x", QoS: 1, Payload: []byte(marker)})
	if resp == nil || resp.ReasonCode != 0x87 {
		t.Errorf("$SYS publish: %+v %v, want 0x87", resp, err)
	}
	cl := testkit.MQTT(t, a.MQTTAddr(), dev)
	for _, p := range payloads {
		testkit.Publish(t, cl, topic, 1, p)
	}
	// A refused will, MQTT 3.1.1 and 5.
	if _, err := testkit.DialMQTT(a.MQTTAddr(), dev, func(o *paho.ClientOptions) { o.SetWill("junk/w", marker, 1, true) }); err == nil {
		t.Error("a junk will was accepted")
	}
	if _, err := testkit.DialV5(t, a.MQTTAddr(), dev, func(c *paho5.Connect) {
		c.WillMessage = &paho5.WillMessage{Topic: "junk/w", Payload: []byte(marker), QoS: 1}
	}); err == nil {
		t.Error("a junk will was accepted over MQTT 5")
	}
	time.Sleep(500 * time.Millisecond) // let every log record be written

	out := logs.String()
	// The capture works, and mochi did log the rejections, without payloads.
	if !strings.Contains(out, "publish packet error") || !strings.Contains(out, "payload_bytes=") {
		t.Fatalf("mochi's rejection records are missing from the captured log:\n%.3000s", out)
	}
	for _, secret := range []string{marker, decimalBytes(marker), value, decimalBytes(value), dev.Password} {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, secret) {
				t.Errorf("log line holds %.40q: %.300s", secret, line)
			}
		}
	}
}
