package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func startMochi(t testing.TB) *MochiTarget {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := StartMochi(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return m
}

func TestPayloadIsValidFlatJSON(t *testing.T) {
	p := Payload(12345, time.UnixMilli(1764200000000))
	if len(p) != 200 {
		t.Errorf("payload is %d bytes, want 200", len(p))
	}
	var m map[string]float64
	if err := json.Unmarshal(p, &m); err != nil {
		t.Fatalf("not a flat numeric JSON object: %v: %s", err, p)
	}
	known := "ts hr spo2 rr sys dia map temp glucose battery weight steps"
	for k := range m {
		if !strings.Contains(" "+known+" ", " "+k+" ") {
			t.Errorf("metric %q is not in the vocabulary", k)
		}
	}
	if m["weight"] != 71.25 || m["ts"] != 1764200000000 {
		t.Errorf("padding changed values: %v", m)
	}
}

func TestMochiBaselineTinyLoad(t *testing.T) {
	m := startMochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	creds, err := m.Provision(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []byte{1, 0} {
		before, _ := m.CountStored(ctx)
		res, err := Ingest(ctx, m, creds, LoadConfig{Devices: 4, Messages: 100, Publishers: 2, QoS: q})
		if err != nil {
			t.Fatal(err)
		}
		if res.Sent != 400 || res.Failed != 0 || res.Rate <= 0 {
			t.Fatalf("qos %d: %+v, want 400 sent, none failed, a positive rate", q, res)
		}
		if q == 1 {
			// The wildcard subscriber sees every message of a small load.
			if got := settleCount(ctx, m, before, 400, 5*time.Second); got != 400 {
				t.Errorf("wildcard subscriber received %d of 400", got)
			}
		}
	}
}

func TestMochiBaselineLatencyAndConnections(t *testing.T) {
	m := startMochi(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lr, err := AlertLatency(ctx, m, LatencyConfig{Presses: 10, Background: 3, BackgroundRate: 100, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if lr.N != 10 || lr.Lost != 0 || lr.P50 <= 0 || lr.P99 < lr.P50 || lr.Max < lr.P99 || lr.Max > 2*time.Second {
		t.Errorf("latency %+v: want 10 presses seen with ordered positive percentiles", lr)
	}
	if lr.BackgroundSent < 10 {
		t.Errorf("background fleet sent %d messages, want a running load", lr.BackgroundSent)
	}
	ct := &countingTarget{MochiTarget: m}
	cr, err := Connections(ctx, ct, 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	if cr.N != 50 || cr.ConnectTime <= 0 || len(cr.Waves) != 3 || cr.RSSAfter <= 0 {
		t.Errorf("connections %+v", cr)
	}
	// RSS is read with every connection open: the broker must hold them.
	if got := ct.atRSS.Load(); got < 50 {
		t.Errorf("broker counted %d connected clients when memory was read, want the 50 held", got)
	}
}

// countingTarget notes how many clients the broker has whenever the bench
// reads its memory.
type countingTarget struct {
	*MochiTarget
	atRSS atomic.Int64
}

func (c *countingTarget) RSS() (int64, error) {
	c.atRSS.Store(atomic.LoadInt64(&c.server.Info.ClientsConnected))
	return c.MochiTarget.RSS()
}

func TestReportJSONKeys(t *testing.T) {
	base := Measurements{IngestQoS1: 1000}
	med := Measurements{IngestQoS1: 500, IngestQoS0: 800, Persisted: 1, LatencyP50: 2 * time.Millisecond,
		LatencyP99: 9 * time.Millisecond, LatencyValid: true, Connections: 100, RSSPerConn: 12.5}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := NewReport(&med, base).WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{"ingest_qos1_msgs_per_s", "ingest_qos0_msgs_per_s", "persisted_fraction",
		"baseline_mochi_qos1_msgs_per_s", "ratio_qos1_vs_mochi", "alert_latency_p50_ms",
		"alert_latency_p99_ms", "connections", "rss_per_conn_kib"}
	if len(got) != len(want) {
		t.Errorf("keys %v, want exactly %v", got, want)
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("missing key %s", k)
		}
	}
	if got["ratio_qos1_vs_mochi"] != 0.5 || got["alert_latency_p99_ms"] != 9.0 {
		t.Errorf("ratio %v p99 %v", got["ratio_qos1_vs_mochi"], got["alert_latency_p99_ms"])
	}
	// Baseline only: medbiz numbers are null, not zero.
	only := NewReport(nil, base)
	if only.IngestQoS1 != nil || only.BaselineQoS1 == nil || *only.BaselineQoS1 != 1000 {
		t.Errorf("baseline-only report %+v", only)
	}
}

// BenchmarkMochiIngestQoS1 is the baseline's QoS 1 ingest; the reported
// msgs/s is what `medbiz bench` compares medbiz against.
func BenchmarkMochiIngestQoS1(b *testing.B) {
	m := startMochi(b)
	ctx := context.Background()
	creds, err := m.Provision(ctx, 8)
	if err != nil {
		b.Fatal(err)
	}
	per := max(1, b.N/len(creds))
	b.ResetTimer()
	res, err := Ingest(ctx, m, creds, LoadConfig{Devices: len(creds), Messages: per, Publishers: 4, QoS: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Rate, "msgs/s")
}

func BenchmarkPayload(b *testing.B) {
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		_ = Payload(i, now)
	}
}
