package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/medbiz/medbiz/internal/testkit"
	"github.com/medbiz/medbiz/storage"
)

func TestRestartKeepsRegistryAndData(t *testing.T) {
	dir := t.TempDir()
	a := testkit.Start(t, testkit.Config(dir))
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	cl := testkit.MQTT(t, a.MQTTAddr(), dev)
	ts := time.Now().Add(-time.Minute).UnixMilli()
	testkit.Publish(t, cl, testkit.TelemetryTopic("f1", "d1"), 1, fmt.Sprintf(`{"ts": %d, "hr": 81}`, ts))
	waitSeries(t, reader(t, h, token), "f1", "p1", "metric=hr&start=-10m", 1)
	cl.Disconnect(100)
	admin := a.AdminToken()
	testkit.Stop(t, a)

	b := testkit.Start(t, testkit.Config(dir))
	if b.AdminToken() != admin {
		t.Error("the generated admin token changed across a restart")
	}
	h = testkit.API(t, b)
	s := waitSeries(t, reader(t, h, token), "f1", "p1", "metric=hr&start=-10m", 1)
	if len(s.Points) != 1 || s.Points[0].V != 81 {
		t.Errorf("after restart hr = %+v, want the one 81", s.Points)
	}
	// The device's credentials and the farm token survived too.
	cl = testkit.MQTT(t, b.MQTTAddr(), dev)
	testkit.Publish(t, cl, testkit.TelemetryTopic("f1", "d1"), 1, fmt.Sprintf(`{"ts": %d, "hr": 82}`, ts+1000))
	waitSeries(t, reader(t, h, token), "f1", "p1", "metric=hr&start=-10m", 2)
	h.MustPost("/api/v1/farms", map[string]any{"id": "f1"}, 409, nil)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestInfluxOutageLosesNothing runs medbiz against an InfluxDB it does not
// own, stops that server while a device publishes, and starts it again.
func TestInfluxOutageLosesNothing(t *testing.T) {
	influxDir, addr := t.TempDir(), freeAddr(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	eng, err := storage.StartEngine(ctx, storage.EngineConfig{Dir: influxDir, Addr: addr, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the app's, so it runs after the app has stopped.
	t.Cleanup(func() { _ = eng.Close() })
	cfg := testkit.Config(t.TempDir())
	cfg.Influx.URL = eng.URL()
	a := testkit.Start(t, cfg)
	h := testkit.API(t, a)
	dev, token := provision(t, h)
	cl := testkit.MQTT(t, a.MQTTAddr(), dev)
	topic := testkit.TelemetryTopic("f1", "d1")
	base := time.Now().Add(-5 * time.Minute).Truncate(time.Millisecond)

	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		// Every PUBACK arrives although InfluxDB is down: the stream holds the data.
		testkit.Publish(t, cl, topic, 1, fmt.Sprintf(`{"ts": %d, "hr": %d}`, base.Add(time.Duration(i)*time.Second).UnixMilli(), 60+i%40))
	}
	time.Sleep(time.Second) // let the store processor fail and back off

	eng, err = storage.StartEngine(ctx, storage.EngineConfig{Dir: influxDir, Addr: addr, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	r := reader(t, h, token)
	count := func() float64 {
		code, s, body := r.Series("f1", "p1", "metric=hr&start=-1h&every=2h&fn=count")
		if code != 200 {
			t.Fatalf("count: %d %s", code, body)
		}
		// The windows are aligned to the epoch: the range may span two.
		total := 0.0
		for _, p := range s.Points {
			total += p.V
		}
		return total
	}
	testkit.Eventually(t, 30*time.Second, "all points after the outage", func() bool { return count() >= n })
	time.Sleep(time.Second)
	if got := count(); got != n {
		t.Errorf("stored %v points, want exactly %d", got, n)
	}
}
