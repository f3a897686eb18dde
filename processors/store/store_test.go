package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/jstest"
	"github.com/medbiz/medbiz/internal/retry"
	"github.com/medbiz/medbiz/storage"
	"github.com/medbiz/medbiz/telemetry"
)

var base = time.Date(2026, 11, 27, 3, 40, 0, 0, time.UTC)

// runJetStream starts JetStream with medbiz's streams.
func runJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := jstest.Connect(t, jstest.Server(t))
	if err := bus.EnsureStreams(context.Background(), js, bus.StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return js
}

// influx is an embedded engine that a test can stop and start again on the
// same address and directory, as an InfluxDB outage would.
type influx struct {
	t    testing.TB
	dir  string
	addr string
	e    *storage.Engine
}

func startInflux(t testing.TB) (*influx, *storage.Client) {
	t.Helper()
	in := &influx{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	in.start()
	in.addr = in.e.URL()[len("http://"):]
	t.Cleanup(func() { _ = in.e.Close() })
	c, err := storage.NewClient(context.Background(), storage.ClientConfig{URL: in.e.URL(), HTTPTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return in, c
}

func (in *influx) start() {
	in.t.Helper()
	var err error
	// The port was just released by the previous engine; retry briefly.
	for i := 0; i < 50; i++ {
		in.e, err = storage.StartEngine(context.Background(), storage.EngineConfig{Dir: in.dir, Addr: in.addr})
		if err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	in.t.Fatalf("start engine: %v", err)
}

func (in *influx) stop() {
	if err := in.e.Close(); err != nil {
		in.t.Fatal(err)
	}
}

// publish sends n messages for patient p of farm, message i carrying hr=i
// and spo2 at one instant and temp at another, i.e. 2 points.
func publish(t *testing.T, js jetstream.JetStream, farm, patient string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		b := &telemetry.Batch{Farm: farm, Patient: patient, Device: "d1", Received: ts,
			Measurements: []telemetry.Measurement{
				{Time: ts, Metric: "hr", Value: float64(i)},
				{Time: ts, Metric: "spo2", Value: 97},
				{Time: ts.Add(time.Millisecond), Metric: "temp", Value: 36.6},
			}}
		publishBatch(t, js, b)
	}
}

func publishBatch(t *testing.T, js jetstream.JetStream, b *telemetry.Batch) {
	t.Helper()
	data, err := telemetry.MarshalBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), bus.TelemetrySubject(b.Farm, b.Patient, b.Device), data); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, c *storage.Client, farm, patient, metric string) int {
	t.Helper()
	got, err := c.QuerySeries(context.Background(), farm, storage.SeriesQuery{
		Patient: patient, Metric: metric, Start: base.Add(-time.Hour), Stop: base.Add(24 * time.Hour), Fn: "count"})
	if err != nil {
		t.Fatalf("count %s: %v", metric, err)
	}
	if len(got) == 0 {
		return 0
	}
	return int(got[0].V)
}

// value reads a counter's current value.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func consumerInfo(t *testing.T, js jetstream.JetStream) *jetstream.ConsumerInfo {
	t.Helper()
	cons, err := js.Consumer(context.Background(), bus.TelemetryStream, bus.StoreDurable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitDone waits until the consumer has nothing pending or unacknowledged.
func waitDone(t *testing.T, js jetstream.JetStream, want uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info := consumerInfo(t, js)
		if info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer not done: pending %d ack-pending %d ack floor %d (want %d)",
				info.NumPending, info.NumAckPending, info.AckFloor.Stream, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testConfig is medbiz's store config with small batches and quick retries.
func testConfig() Config {
	return Config{
		Consumer:      bus.StoreConsumer(bus.ConsumerLimits{AckWait: 30 * time.Second, MaxAckPending: 10000}),
		BatchSize:     50,
		FlushInterval: 50 * time.Millisecond,
		Retry:         retry.Policy{Initial: 20 * time.Millisecond, Multiplier: 2, Max: 200 * time.Millisecond},
		StoreECG:      true,
	}
}

func newStore(t testing.TB, cfg Config, js jetstream.JetStream, db Writer, reg prometheus.Registerer) *Store {
	t.Helper()
	s, err := New(cfg, js, db, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startStore(t *testing.T, cfg Config, js jetstream.JetStream, db Writer, reg prometheus.Registerer) *Store {
	t.Helper()
	s := newStore(t, cfg, js, db, reg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

func TestAllMessagesStoredExactlyOnce(t *testing.T) {
	js := runJetStream(t)
	_, db := startInflux(t)
	ctx := context.Background()
	if err := db.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := startStore(t, testConfig(), js, db, reg)

	// f2 has no bucket yet: the store creates it on "database not found".
	publish(t, js, "f1", "p1", 0, 120)
	publish(t, js, "f1", "p2", 0, 30)
	publish(t, js, "f2", "p1", 0, 40)
	waitDone(t, js, 190)

	for _, tc := range []struct {
		farm, patient string
		n             int
	}{{"f1", "p1", 120}, {"f1", "p2", 30}, {"f2", "p1", 40}} {
		if got := count(t, db, tc.farm, tc.patient, "hr"); got != tc.n {
			t.Errorf("%s/%s hr count %d, want %d", tc.farm, tc.patient, got, tc.n)
		}
		if got := count(t, db, tc.farm, tc.patient, "temp"); got != tc.n {
			t.Errorf("%s/%s temp count %d, want %d", tc.farm, tc.patient, got, tc.n)
		}
	}
	// hr and spo2 of one instant are one line: 2 points per message.
	if got := value(s.metrics.points); got != 2*190 {
		t.Errorf("points written %v, want %d", got, 2*190)
	}
	hr, err := db.QuerySeries(ctx, "f1", storage.SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Hour)})
	if err != nil || len(hr) != 120 || hr[7].V != 7 || !hr[7].T.Equal(base.Add(7*time.Second)) {
		t.Fatalf("hr series: %v %v", len(hr), err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, name := range []string{"medbiz_store_points_written_total", "medbiz_store_write_errors_total", "medbiz_store_batch_seconds"} {
		if !names[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}

func TestInfluxDownHoldsEverythingThenRecovers(t *testing.T) {
	js := runJetStream(t)
	in, db := startInflux(t)
	ctx := context.Background()
	if err := db.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Consumer = bus.StoreConsumer(bus.ConsumerLimits{AckWait: 2 * time.Second, MaxAckPending: 10000})
	s := startStore(t, cfg, js, db, nil)

	in.stop()
	const n = 150
	publish(t, js, "f1", "p1", 0, n)

	// Held for longer than AckWait: delivered, none acknowledged, none
	// redelivered (the store keeps them in progress while it retries).
	deadline := time.Now().Add(cfg.Consumer.Config.AckWait + time.Second)
	for time.Now().Before(deadline) {
		info := consumerInfo(t, js)
		if info.AckFloor.Stream != 0 {
			t.Fatalf("acked while InfluxDB is down: ack floor %d", info.AckFloor.Stream)
		}
		time.Sleep(100 * time.Millisecond)
	}
	info := consumerInfo(t, js)
	if info.NumAckPending != n || info.NumRedelivered != 0 {
		t.Fatalf("while down: ack pending %d (want %d), redelivered %d", info.NumAckPending, n, info.NumRedelivered)
	}
	if got := value(s.metrics.writeErrors.WithLabelValues("retryable")); got == 0 {
		t.Fatal("no retryable write errors counted")
	}

	in.start()
	waitDone(t, js, n)
	if got := count(t, db, "f1", "p1", "hr"); got != n {
		t.Fatalf("after recovery hr count %d, want %d", got, n)
	}
	if got := value(s.metrics.terminated); got != 0 {
		t.Fatalf("%v messages terminated", got)
	}
}

func TestRedeliveryDoesNotDouble(t *testing.T) {
	js := runJetStream(t)
	_, db := startInflux(t)
	ctx := context.Background()
	if err := db.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, testConfig(), js, db, nil)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "f1", "p1", 0, 80)
	waitDone(t, js, 80)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(ctx); err != nil { // idempotent
		t.Fatal(err)
	}

	// Replay the whole stream: a new durable consumer gets every message again.
	if err := js.DeleteConsumer(ctx, bus.TelemetryStream, bus.StoreDurable); err != nil {
		t.Fatal(err)
	}
	s2 := startStore(t, testConfig(), js, db, nil)
	waitDone(t, js, 80)
	if got := value(s2.metrics.points); got != 2*80 {
		t.Fatalf("replay wrote %v points, want %d", got, 2*80)
	}
	if got := count(t, db, "f1", "p1", "hr"); got != 80 {
		t.Fatalf("hr count after replay %d, want 80", got)
	}
}

func TestPermanentlyBadMessageDoesNotBlock(t *testing.T) {
	js := runJetStream(t)
	_, db := startInflux(t)
	ctx := context.Background()
	if err := db.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	// "steps" already exists as a string field: a float into it is a type
	// conflict the server refuses for good.
	line, err := storage.AppendLine(nil, storage.Point{Measurement: "vitals", Tags: []storage.Tag{{Key: "patient", Value: "px"}},
		Fields: []storage.Field{{Key: "steps", Value: "many"}}, Time: base})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WriteLines(ctx, "f1", line); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := testConfig()
	cfg.BatchSize = 1000 // everything below in one batch
	cfg.FlushInterval = 300 * time.Millisecond
	s := startStore(t, cfg, js, db, reg)

	publish(t, js, "f1", "p1", 0, 10)
	bad := &telemetry.Batch{Farm: "f1", Patient: "p1", Device: "d1", Measurements: []telemetry.Measurement{
		{Time: base.Add(time.Hour), Metric: "steps", Value: 1200},
	}}
	publishBatch(t, js, bad)
	if _, err := js.Publish(ctx, bus.TelemetrySubject("f1", "p1", "d1"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "f1", "p1", 10, 10)
	waitDone(t, js, 22)

	if got := count(t, db, "f1", "p1", "hr"); got != 20 {
		t.Fatalf("hr count %d, want 20", got)
	}
	if got := value(s.metrics.terminated); got != 2 {
		t.Fatalf("terminated %v, want 2 (type conflict, bad JSON)", got)
	}
	if got := value(s.metrics.writeErrors.WithLabelValues("permanent")); got < 2 {
		t.Fatalf("permanent write errors %v, want the batch and the single message", got)
	}
}

func TestStopFlushesHeldMessages(t *testing.T) {
	js := runJetStream(t)
	_, db := startInflux(t)
	ctx := context.Background()
	if err := db.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.BatchSize = 100000
	cfg.FlushInterval = time.Hour // only Stop can flush
	s := newStore(t, cfg, js, db, nil)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	publish(t, js, "f1", "p1", 0, 25)
	deadline := time.Now().Add(10 * time.Second)
	for consumerInfo(t, js).NumAckPending != 25 {
		if time.Now().After(deadline) {
			t.Fatal("messages not delivered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := count(t, db, "f1", "p1", "hr"); got != 0 {
		t.Fatalf("written before flush: %d", got)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "f1", "p1", "hr"); got != 25 {
		t.Fatalf("after Stop hr count %d, want 25", got)
	}
	waitDone(t, js, 25)
}

func TestEncodeBatch(t *testing.T) {
	b := &telemetry.Batch{Farm: "f1", Patient: "p 1", Device: "d,1", Measurements: []telemetry.Measurement{
		{Time: base, Metric: "hr", Value: 72},
		{Time: base, Metric: "spo2", Value: 97.5},
		{Time: base, Metric: "hr", Value: 80, Source: "ecg"},
		{Time: base, Metric: "event", Value: 1, Text: "fall"},
		{Time: base, Metric: "hr", Value: 73}, // same instant again: last wins
	}, ECG: []telemetry.ECGFrame{{Start: base, FS: 3, Samples: []float32{0.1, -0.25, 1}}}}
	got, n, err := encodeBatch(nil, b, true)
	if err != nil {
		t.Fatal(err)
	}
	ns := base.UnixNano()
	want := fmt.Sprintf("vitals,device=d\\,1,patient=p\\ 1 hr=73,spo2=97.5,event=\"fall\" %d\n"+
		"vitals,device=d\\,1,patient=p\\ 1,source=ecg hr=80 %d\n"+
		"ecg,device=d\\,1,patient=p\\ 1 mv=0.1 %d\n"+
		"ecg,device=d\\,1,patient=p\\ 1 mv=-0.25 %d\n"+
		"ecg,device=d\\,1,patient=p\\ 1 mv=1 %d\n", ns, ns, ns, ns+333333333, ns+666666667)
	if string(got) != want || n != 5 {
		t.Fatalf("got %d lines:\n%s\nwant:\n%s", n, got, want)
	}
	if _, n, _ := encodeBatch(nil, b, false); n != 2 {
		t.Fatalf("without ECG: %d lines, want 2", n)
	}
	b.ECG[0].FS = 0
	if _, _, err := encodeBatch(nil, b, true); err == nil {
		t.Fatal("frame without sample rate accepted")
	}
}
