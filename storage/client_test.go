package storage

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func vital(patient, device string, t time.Time, metric string, v any) Point {
	return Point{
		Measurement: MeasurementVitals,
		Tags:        []Tag{{"device", device}, {"patient", patient}},
		Fields:      []Field{{metric, v}},
		Time:        t,
	}
}

// base is a fixed minute boundary so aggregation buckets are predictable.
var base = time.Date(2026, 11, 27, 3, 40, 0, 0, time.UTC)

func setupFarm(t *testing.T) (*Client, context.Context) {
	t.Helper()
	e := startEngine(t)
	c := newTestClient(t, e.URL())
	ctx := context.Background()
	if c.Flavor() != V1 {
		t.Fatalf("embedded engine detected as %v", c.Flavor())
	}
	if err := c.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	return c, ctx
}

func TestWriteAndReadRawWithMillisecondTimes(t *testing.T) {
	c, ctx := setupFarm(t)
	var pts []Point
	var want []SeriesPoint
	for i := 0; i < 10; i++ {
		ts := base.Add(time.Duration(i)*1500*time.Millisecond + 7*time.Millisecond)
		hr := 60 + float64(i) + 0.5
		pts = append(pts, Point{
			Measurement: MeasurementVitals,
			Tags:        []Tag{{"device", "d1"}, {"patient", "p1"}},
			Fields:      []Field{{"hr", hr}, {"spo2", 97.0}},
			Time:        ts,
		})
		want = append(want, SeriesPoint{T: ts, V: hr})
	}
	// Lines with other metrics only must not appear as holes in hr.
	pts = append(pts, vital("p1", "d1", base.Add(2*time.Millisecond), "temp", 36.6))
	// Another patient's values must not leak in.
	pts = append(pts, vital("p2", "d9", base.Add(3*time.Millisecond), "hr", 150.0))
	if err := write(ctx, c, "f1", pts); err != nil {
		t.Fatal(err)
	}
	got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d points %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !got[i].T.Equal(want[i].T) || got[i].V != want[i].V || got[i].T.Location() != time.UTC {
			t.Fatalf("point %d: got %v %v, want %v %v", i, got[i].T, got[i].V, want[i].T, want[i].V)
		}
	}
	// Stop is exclusive, Start inclusive.
	got, err = c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: want[1].T, Stop: want[3].T})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].T.Equal(want[1].T) || !got[1].T.Equal(want[2].T) {
		t.Fatalf("half-open range: got %v", got)
	}
}

func TestAggregates(t *testing.T) {
	c, ctx := setupFarm(t)
	// Minute 0: 60, 70, 80; minute 1: nothing; minute 2: 90, 100.
	vals := map[time.Duration]float64{0: 60, 10 * time.Second: 70, 20 * time.Second: 80,
		2*time.Minute + time.Second: 90, 2*time.Minute + 30*time.Second: 100}
	var pts []Point
	for off, v := range vals {
		pts = append(pts, vital("p1", "d1", base.Add(off), "hr", v))
	}
	if err := write(ctx, c, "f1", pts); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		fn   string
		want []float64
	}{
		{"mean", []float64{70, 95}},
		{"min", []float64{60, 90}},
		{"max", []float64{80, 100}},
		{"count", []float64{3, 2}},
		{"last", []float64{80, 100}},
		{"", []float64{70, 95}}, // every without fn means mean
	}
	for _, tc := range cases {
		t.Run("fn="+tc.fn, func(t *testing.T) {
			got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(5 * time.Minute), Every: time.Minute, Fn: tc.fn})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("got %v, want 2 buckets (empty minute skipped)", got)
			}
			if !got[0].T.Equal(base) || !got[1].T.Equal(base.Add(2*time.Minute)) {
				t.Fatalf("bucket times %v %v", got[0].T, got[1].T)
			}
			for i := range got {
				if got[i].V != tc.want[i] {
					t.Fatalf("bucket %d = %v, want %v", i, got[i].V, tc.want[i])
				}
			}
		})
	}
	// fn without every: the whole range is one value.
	got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(5 * time.Minute), Fn: "count"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].V != 5 {
		t.Fatalf("count over range: %v", got)
	}
}

func TestBoundParametersAreInert(t *testing.T) {
	c, ctx := setupFarm(t)
	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", 72.0)}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`p1' OR 1=1`, `p1' OR 'a'='a`, `" OR "patient" =~ /.*/ --`, `p1"; DROP DATABASE "farm_f1`} {
		got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: p, Metric: "hr", Start: base, Stop: base.Add(time.Hour)})
		if err != nil {
			t.Fatalf("patient %q: %v", p, err)
		}
		if len(got) != 0 {
			t.Fatalf("patient %q found %v", p, got)
		}
	}
	// The database and its data are still there.
	got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Hour)})
	if err != nil || len(got) != 1 {
		t.Fatalf("p1 after injection attempts: %v %v", got, err)
	}
}

func TestRewriteSamePointsDoesNotDouble(t *testing.T) {
	c, ctx := setupFarm(t)
	var pts []Point
	for i := 0; i < 100; i++ {
		pts = append(pts, vital("p1", "d1", base.Add(time.Duration(i)*time.Second), "hr", float64(60+i%30)))
	}
	for range 3 {
		if err := write(ctx, c, "f1", pts); err != nil {
			t.Fatal(err)
		}
		if err := c.EnsureBucket(ctx, "f1"); err != nil { // idempotent, keeps data
			t.Fatal(err)
		}
	}
	got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Hour), Fn: "count"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].V != 100 {
		t.Fatalf("count after 3 writes = %v, want 100", got)
	}
}

func TestDerivedSourceKeptApart(t *testing.T) {
	c, ctx := setupFarm(t)
	derived := vital("p1", "d1", base, "hr", 80.0)
	derived.Tags = append(derived.Tags, Tag{TagSource, "ecg"})
	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", 72.0), derived}); err != nil {
		t.Fatal(err)
	}
	q := SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Second)}
	got, err := c.QuerySeries(ctx, "f1", q)
	if err != nil || len(got) != 1 || got[0].V != 72 {
		t.Fatalf("device hr: %v %v", got, err)
	}
	q.Source = "ecg"
	got, err = c.QuerySeries(ctx, "f1", q)
	if err != nil || len(got) != 1 || got[0].V != 80 {
		t.Fatalf("ecg-derived hr: %v %v", got, err)
	}
}

func TestECGAndEventQueries(t *testing.T) {
	c, ctx := setupFarm(t)
	var pts []Point
	for i := 0; i < 250; i++ {
		pts = append(pts, Point{Measurement: MeasurementECG, Tags: []Tag{{"device", "d1"}, {"patient", "p1"}},
			Fields: []Field{{FieldECG, float64(i) / 1000}}, Time: base.Add(time.Duration(i) * 4 * time.Millisecond)})
	}
	pts = append(pts, vital("p1", "d1", base, "event", "fall"), vital("p1", "d1", base.Add(time.Second), "event", `so"s\ x`))
	if err := write(ctx, c, "f1", pts); err != nil {
		t.Fatal(err)
	}
	got, err := c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "ecg", Start: base, Stop: base.Add(time.Second)})
	if err != nil || len(got) != 250 || got[249].V != 0.249 || !got[249].T.Equal(base.Add(996*time.Millisecond)) {
		t.Fatalf("ecg: %d points, err %v", len(got), err)
	}
	got, err = c.QuerySeries(ctx, "f1", SeriesQuery{Patient: "p1", Metric: "event", Start: base, Stop: base.Add(time.Minute), Fn: "count"})
	if err != nil || len(got) != 1 || got[0].V != 2 {
		t.Fatalf("event count: %v %v", got, err)
	}
	rows, err := c.QueryRows(ctx, "f1", `SELECT "event" FROM "vitals" WHERE "patient" = $p`, map[string]any{"p": "p1"})
	if err != nil || len(rows) != 2 || rows[1].Values["event"] != `so"s\ x` || !rows[0].Time.Equal(base) {
		t.Fatalf("event rows: %+v %v", rows, err)
	}
}

func TestPermanentWriteErrors(t *testing.T) {
	c, ctx := setupFarm(t)
	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", 72.0)}); err != nil {
		t.Fatal(err)
	}
	// A string into a float field: the server refuses that point.
	err := write(ctx, c, "f1", []Point{vital("p1", "d1", base.Add(time.Second), "hr", "seventy")})
	var e *Error
	if !errors.As(err, &e) || IsRetryable(err) || e.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, "field type conflict") {
		t.Fatalf("type conflict: %#v", err)
	}
	// A farm whose database was never created.
	err = write(ctx, c, "nofarm", []Point{vital("p1", "d1", base, "hr", 72.0)})
	if err == nil || IsRetryable(err) || !IsNotFound(err) || !strings.Contains(err.Error(), "database not found") {
		t.Fatalf("missing database: %v", err)
	}
	// NaN is refused before sending.
	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", nanValue())}); err == nil || IsRetryable(err) {
		t.Fatalf("NaN: %v", err)
	}
	// A bad statement is a permanent error with the server's message.
	_, err = c.QueryRows(ctx, "f1", "SELEC nonsense", nil)
	if err == nil || IsRetryable(err) || !strings.Contains(err.Error(), "error parsing query") {
		t.Fatalf("bad query: %v", err)
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func TestEnsureAndDropBucket(t *testing.T) {
	c, ctx := setupFarm(t)
	for range 2 {
		if err := c.EnsureBucket(ctx, "f2"); err != nil {
			t.Fatal(err)
		}
	}
	if err := write(ctx, c, "f2", []Point{vital("p1", "d1", base, "hr", 72.0)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.DropBucket(ctx, "f2"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.QuerySeries(ctx, "f2", SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Hour)}); err == nil || !strings.Contains(err.Error(), "database not found") {
		t.Fatalf("query after drop: %v", err)
	}
	// Other farms are untouched.
	if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", 72.0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureBucket(ctx, `f1"; DROP DATABASE x`); err == nil {
		t.Fatal("bad farm id accepted")
	}
}

func TestInvalidQueriesRejectedBeforeSending(t *testing.T) {
	var queries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/query" {
			queries.Add(1)
		}
		w.Header().Set("X-Influxdb-Version", "1.8.10")
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ok := SeriesQuery{Patient: "p1", Metric: "hr", Start: base, Stop: base.Add(time.Hour)}
	bad := []func(q *SeriesQuery){
		func(q *SeriesQuery) { q.Metric = "heart_rate" },     // not in the vocabulary
		func(q *SeriesQuery) { q.Metric = `hr" FROM x --` },  // not an identifier
		func(q *SeriesQuery) { q.Metric = "HR" },             // case matters
		func(q *SeriesQuery) { q.Fn = "sum" },                // not allowed
		func(q *SeriesQuery) { q.Fn = `mean("hr")); DROP` },  // not allowed
		func(q *SeriesQuery) { q.Metric = "event" },          // text needs count
		func(q *SeriesQuery) { q.Measurement = "_internal" }, // unknown measurement
		func(q *SeriesQuery) { q.Stop = q.Start },            // empty range
		func(q *SeriesQuery) { q.Every = time.Nanosecond },   // too fine
		func(q *SeriesQuery) { q.Source = `ecg' OR 'a'='a` }, // bad source
	}
	for i, mut := range bad {
		q := ok
		mut(&q)
		_, err := c.QuerySeries(context.Background(), "f1", q)
		if !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("case %d (%+v): err %v, want ErrInvalidQuery", i, q, err)
		}
	}
	if n := queries.Load(); n != 0 {
		t.Fatalf("%d queries reached the server", n)
	}
}

func TestDownServerIsRetryable(t *testing.T) {
	e := startEngine(t)
	c := newTestClient(t, e.URL())
	ctx := context.Background()
	if err := c.EnsureBucket(ctx, "f1"); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", 72.0)})
	if err == nil || !IsRetryable(err) || IsNotFound(err) {
		t.Fatalf("write to stopped engine: %v (retryable=%v)", err, IsRetryable(err))
	}
	if err := c.Ping(ctx); !IsRetryable(err) {
		t.Fatalf("ping: %v", err)
	}
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := NewClient(ctx, ClientConfig{URL: "http://" + addr}); !IsRetryable(err) {
		t.Fatalf("new client on closed port: %v", err)
	}
	// 503 and 429 are retryable, the caller's cancellation is not.
	for _, code := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Influxdb-Version", "1.8.10")
			if r.URL.Path == "/ping" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(code)
		}))
		c := newTestClient(t, srv.URL)
		if err := write(ctx, c, "f1", []Point{vital("p1", "d1", base, "hr", 72.0)}); !IsRetryable(err) {
			t.Errorf("status %d: %v not retryable", code, err)
		}
		srv.Close()
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Ping(cctx); err == nil || IsRetryable(err) {
		t.Fatalf("cancelled ping: %v", err)
	}
}

// write encodes points as the store processor does and writes them in one
// request.
func write(ctx context.Context, c *Client, farm string, pts []Point) error {
	var buf []byte
	for _, p := range pts {
		var err error
		if buf, err = AppendLine(buf, p); err != nil {
			return err
		}
	}
	return c.WriteLines(ctx, farm, buf)
}
