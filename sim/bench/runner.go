package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"text/tabwriter"
	"time"
)

// Options size a bench run.
type Options struct {
	Load        LoadConfig // QoS is set per run
	Latency     LatencyConfig
	Connections int
	Waves       int
	// SettleTimeout bounds the wait for the target to finish storing what
	// it acknowledged, for persisted_fraction.
	SettleTimeout time.Duration
}

// DefaultOptions are the full run, or with quick the one that ends within
// 90 s on two cores.
func DefaultOptions(quick bool) Options {
	if quick {
		return Options{
			Load:          LoadConfig{Devices: 20, Messages: 500, Publishers: 4},
			Latency:       LatencyConfig{Presses: 50, Background: 10, BackgroundRate: 200, Timeout: 3 * time.Second},
			Connections:   300,
			Waves:         3,
			SettleTimeout: 10 * time.Second,
		}
	}
	return Options{
		Load:          LoadConfig{Devices: 100, Messages: 2000, Publishers: 8},
		Latency:       LatencyConfig{Presses: 300, Background: 100, BackgroundRate: 5000, Timeout: 5 * time.Second},
		Connections:   10000,
		Waves:         3,
		SettleTimeout: 60 * time.Second,
	}
}

// Measurements are one target's numbers; NaN where not measured.
type Measurements struct {
	Target       string
	IngestQoS1   float64
	IngestQoS0   float64
	Persisted    float64
	LatencyP50   time.Duration
	LatencyP99   time.Duration
	LatencyMax   time.Duration
	LatencyLost  int
	Connections  int
	ConnectTime  time.Duration
	RSSPerConn   float64 // KiB
	Waves        []time.Duration
	LatencyValid bool
}

func nan() float64 { return math.NaN() }

// Measure runs every part of the bench against one target. With qos1Only
// it runs just the QoS 1 ingest (the baseline's share in a medbiz run).
func Measure(ctx context.Context, t Target, o Options, qos1Only bool, log *slog.Logger) (Measurements, error) {
	m := Measurements{Target: t.Name(), IngestQoS0: nan(), Persisted: nan(), RSSPerConn: nan()}
	creds, err := t.Provision(ctx, o.Load.Devices)
	if err != nil {
		return m, fmt.Errorf("%s: provision: %w", t.Name(), err)
	}
	before, countErr := t.CountStored(ctx)
	lc := o.Load
	lc.QoS = 1
	r1, err := Ingest(ctx, t, creds, lc)
	if err != nil {
		return m, err
	}
	m.IngestQoS1 = r1.Rate
	log.Info("ingest qos1", "target", t.Name(), "sent", r1.Sent, "failed", r1.Failed, "elapsed", r1.Elapsed.Round(time.Millisecond), "msgs_per_s", int(r1.Rate))
	if countErr == nil && r1.Sent > 0 {
		stored := settleCount(ctx, t, before, r1.Sent, o.SettleTimeout)
		m.Persisted = float64(stored) / float64(r1.Sent)
	}
	if qos1Only {
		return m, nil
	}
	lc.QoS = 0
	r0, err := Ingest(ctx, t, creds, lc)
	if err != nil {
		return m, err
	}
	m.IngestQoS0 = r0.Rate
	log.Info("ingest qos0", "target", t.Name(), "sent", r0.Sent, "elapsed", r0.Elapsed.Round(time.Millisecond), "msgs_per_s", int(r0.Rate))

	// The ingest runs leave a backlog for the processors (the rules read
	// every message the store writes): measure alert latency on a pipeline
	// that has caught up, and report how long catching up took.
	if d, ok := t.(Drainer); ok {
		began := time.Now()
		if err := d.Drain(ctx, o.SettleTimeout); err != nil {
			return m, fmt.Errorf("%s: %w", t.Name(), err)
		}
		log.Info("processors caught up", "target", t.Name(), "after", time.Since(began).Round(time.Millisecond))
	}
	lr, err := AlertLatency(ctx, t, o.Latency)
	if err != nil {
		return m, err
	}
	m.LatencyP50, m.LatencyP99, m.LatencyMax, m.LatencyLost = lr.P50, lr.P99, lr.Max, lr.Lost
	m.LatencyValid = lr.N > 0
	log.Info("alert latency", "target", t.Name(), "n", lr.N, "lost", lr.Lost, "p50", lr.P50, "p99", lr.P99, "max", lr.Max, "background_sent", lr.BackgroundSent)

	cr, err := Connections(ctx, t, o.Connections, o.Waves)
	if err != nil {
		return m, err
	}
	m.Connections, m.ConnectTime, m.RSSPerConn, m.Waves = cr.N, cr.ConnectTime, cr.PerConnKiB, cr.Waves
	log.Info("connections", "target", t.Name(), "n", cr.N, "connect", cr.ConnectTime.Round(time.Millisecond), "rss_per_conn_kib", fmt.Sprintf("%.1f", cr.PerConnKiB), "waves", cr.Waves)
	return m, nil
}

// settleCount waits until the target's count grows by want or stops
// growing for a second, and returns the growth.
func settleCount(ctx context.Context, t Target, before, want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	last, lastChange := before, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := t.CountStored(ctx)
		if err != nil {
			break
		}
		if n-before >= want {
			return n - before
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > 2*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last - before
}

// Report is the JSON document of `medbiz bench --json`; fields not
// measured in a run are null.
type Report struct {
	IngestQoS1      *float64 `json:"ingest_qos1_msgs_per_s"`
	IngestQoS0      *float64 `json:"ingest_qos0_msgs_per_s"`
	Persisted       *float64 `json:"persisted_fraction"`
	BaselineQoS1    *float64 `json:"baseline_mochi_qos1_msgs_per_s"`
	Ratio           *float64 `json:"ratio_qos1_vs_mochi"`
	AlertLatencyP50 *float64 `json:"alert_latency_p50_ms"`
	AlertLatencyP99 *float64 `json:"alert_latency_p99_ms"`
	Connections     *int     `json:"connections"`
	RSSPerConnKiB   *float64 `json:"rss_per_conn_kib"`
}

func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	x = math.Round(x*1000) / 1000
	return &x
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NewReport fills the report from the medbiz measurements (nil when only
// the baseline ran) and the baseline's.
func NewReport(medbiz *Measurements, baseline Measurements) Report {
	r := Report{BaselineQoS1: num(baseline.IngestQoS1)}
	if medbiz == nil {
		return r
	}
	r.IngestQoS1 = num(medbiz.IngestQoS1)
	r.IngestQoS0 = num(medbiz.IngestQoS0)
	r.Persisted = num(medbiz.Persisted)
	if baseline.IngestQoS1 > 0 {
		r.Ratio = num(medbiz.IngestQoS1 / baseline.IngestQoS1)
	}
	if medbiz.LatencyValid {
		r.AlertLatencyP50 = num(ms(medbiz.LatencyP50))
		r.AlertLatencyP99 = num(ms(medbiz.LatencyP99))
	}
	if medbiz.Connections > 0 {
		n := medbiz.Connections
		r.Connections = &n
	}
	r.RSSPerConnKiB = num(medbiz.RSSPerConn)
	return r
}

// WriteJSON writes the report to path.
func (r Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode bench report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write bench report: %w", err)
	}
	return nil
}

// WriteTable prints one column per target.
func WriteTable(w io.Writer, cols ...Measurements) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(m Measurements) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, m := range cols {
			fmt.Fprintf(tw, "%s\t", f(m))
		}
		fmt.Fprintln(tw)
	}
	fnum := func(x float64, format string) string {
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprintf(format, x)
	}
	row("metric", func(m Measurements) string { return m.Target })
	row("ingest qos1 msgs/s", func(m Measurements) string { return fnum(m.IngestQoS1, "%.0f") })
	row("ingest qos0 msgs/s", func(m Measurements) string { return fnum(m.IngestQoS0, "%.0f") })
	row("persisted/delivered fraction", func(m Measurements) string { return fnum(m.Persisted, "%.4f") })
	lat := func(d time.Duration, ok bool) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.2f", ms(d))
	}
	row("alert latency p50 ms", func(m Measurements) string { return lat(m.LatencyP50, m.LatencyValid) })
	row("alert latency p99 ms", func(m Measurements) string { return lat(m.LatencyP99, m.LatencyValid) })
	row("alert latency max ms", func(m Measurements) string { return lat(m.LatencyMax, m.LatencyValid) })
	row("alerts lost", func(m Measurements) string {
		if !m.LatencyValid && m.LatencyLost == 0 {
			return "-"
		}
		return fmt.Sprint(m.LatencyLost)
	})
	conns := func(m Measurements, v string) string {
		if m.Connections == 0 {
			return "-"
		}
		return v
	}
	row("idle connections", func(m Measurements) string { return conns(m, fmt.Sprint(m.Connections)) })
	row("connect all (ms)", func(m Measurements) string { return conns(m, fmt.Sprint(m.ConnectTime.Milliseconds())) })
	row("rss per conn KiB", func(m Measurements) string { return fnum(m.RSSPerConn, "%.1f") })
	for i := 0; i < 3; i++ {
		row(fmt.Sprintf("reconnect wave %d (ms)", i+1), func(m Measurements) string {
			if i >= len(m.Waves) {
				return "-"
			}
			return fmt.Sprint(m.Waves[i].Milliseconds())
		})
	}
	tw.Flush()
}
