package feeds

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/medbiz/medbiz/telemetry"
)

var t0 = time.Date(2026, 8, 5, 5, 0, 0, 0, time.UTC)

// script is a source whose answers the test lays out per region: each
// poll takes the next answer (the last one repeats).
type script struct {
	name     string
	interval time.Duration
	mu       sync.Mutex
	answers  map[string][]answer
	polled   []string
}

type answer struct {
	rs  []Reading
	err error
}

func (s *script) Name() string            { return s.name }
func (s *script) Interval() time.Duration { return s.interval }
func (s *script) Regions() []string {
	var out []string
	for r := range s.answers {
		out = append(out, r)
	}
	sort.Strings(out) // a stable round order
	return out
}

func (s *script) Poll(_ context.Context, region string) ([]Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polled = append(s.polled, region)
	as := s.answers[region]
	a := as[0]
	if len(as) > 1 {
		s.answers[region] = as[1:]
	}
	return a.rs, a.err
}

func (s *script) log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.polled, ",")
}

// stepper is the poller's clock: every Sleep reports its wait and blocks
// until the test lets it go on, advancing the fake time by the wait.
type stepper struct {
	mu     sync.Mutex
	now    time.Time
	slept  chan time.Duration
	resume chan struct{}
}

func newStepper() *stepper {
	return &stepper{now: t0, slept: make(chan time.Duration), resume: make(chan struct{})}
}

func (c *stepper) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepper) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case c.slept <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.resume:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

// next waits for the poller's next sleep and returns its length.
func (c *stepper) next(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.slept:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the poller never slept")
		return 0
	}
}

type sink struct {
	mu   sync.Mutex
	got  []Reading
	fail error
}

func (s *sink) Publish(_ context.Context, rs []Reading) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.got = append(s.got, rs...)
	return nil
}

func (s *sink) readings() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.got {
		out = append(out, fmt.Sprintf("%s/%s=%v@%s", r.Region, r.Metric, r.Value, r.Time.Sub(t0)))
	}
	return strings.Join(out, " ")
}

func rd(d time.Duration, metric string, v float64) Reading {
	return Reading{Time: t0.Add(d), Metric: metric, Value: v}
}

func start(t *testing.T, src Source, sk Sink) (*Poller, *stepper) {
	t.Helper()
	clk := newStepper()
	p, err := New([]Source{src}, sk, Config{RetryMin: 10 * time.Second, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return p, clk
}

func health(p *Poller, region string) Health {
	for _, h := range p.Health() {
		if h.Region == region {
			return h
		}
	}
	return Health{}
}

func TestPollerPublishesEachObservationOnce(t *testing.T) {
	src := &script{name: "w", interval: time.Hour, answers: map[string][]answer{
		"seoul": {
			{rs: []Reading{rd(0, telemetry.AirTemp, 31), rd(0, telemetry.Humidity, 60)}},
			// The service repeats the hour until the next one is out.
			{rs: []Reading{rd(0, telemetry.AirTemp, 31), rd(0, telemetry.Humidity, 60)}},
			{rs: []Reading{rd(0, telemetry.AirTemp, 31), rd(time.Hour, telemetry.AirTemp, 32)}},
		},
	}}
	sk := &sink{}
	p, clk := start(t, src, sk)
	for i := 0; i < 3; i++ {
		if d := clk.next(t); d != time.Hour {
			t.Fatalf("round %d: slept %s, want the interval", i, d)
		}
		if i < 2 {
			clk.resume <- struct{}{}
		}
	}
	if got := sk.readings(); got != "seoul/air_temp=31@0s seoul/humidity=60@0s seoul/air_temp=32@1h0m0s" {
		t.Errorf("published %s", got)
	}
	h := health(p, "seoul")
	if h.Polls != 3 || h.Readings != 3 || h.ConsecutiveFailures != 0 || !h.LastSuccess.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("health %+v", h)
	}
}

func TestPollerBacksOffThenRecovers(t *testing.T) {
	down := errors.New("connection refused")
	src := &script{name: "w", interval: time.Hour, answers: map[string][]answer{
		"seoul": {{err: down}, {err: down}, {err: down}, {rs: []Reading{rd(0, telemetry.AirTemp, 31)}}},
	}}
	sk := &sink{}
	p, clk := start(t, src, sk)
	var waits []time.Duration
	for i := 0; i < 3; i++ {
		waits = append(waits, clk.next(t))
		if h := health(p, "seoul"); h.ConsecutiveFailures != i+1 || !strings.Contains(h.LastError, "connection refused") {
			t.Errorf("after failure %d: %+v", i+1, h)
		}
		clk.resume <- struct{}{}
	}
	// Exponential from 10 s (±50 % jitter, factor 1.5): each wait within
	// its band, and far below the interval.
	for i, w := range waits {
		base := 10 * time.Second
		for j := 0; j < i; j++ {
			base = base * 3 / 2
		}
		if w < base/2 || w > base*3/2+time.Second {
			t.Errorf("wait %d = %s, want about %s", i+1, w, base)
		}
	}
	// Recovered: the next wait runs to the next regular round, an hour
	// after the first.
	spent := waits[0] + waits[1] + waits[2]
	if d := clk.next(t); d != time.Hour-spent {
		t.Errorf("after recovery slept %s, want %s", d, time.Hour-spent)
	}
	if h := health(p, "seoul"); h.ConsecutiveFailures != 0 || h.LastError != "" || h.Failures != 3 || h.Polls != 4 {
		t.Errorf("after recovery: %+v", h)
	}
	if got := sk.readings(); got != "seoul/air_temp=31@0s" {
		t.Errorf("published %s", got)
	}
}

func TestPollerHonoursRetryAfter(t *testing.T) {
	limited := &RetryAfterError{Wait: 7 * time.Minute, Err: errors.New("HTTP 429")}
	src := &script{name: "w", interval: time.Minute, answers: map[string][]answer{
		"busan": {{err: limited}, {rs: []Reading{rd(0, telemetry.AirTemp, 29)}}},
		"seoul": {{rs: []Reading{rd(0, telemetry.AirTemp, 31)}}},
	}}
	sk := &sink{}
	p, clk := start(t, src, sk)
	// The source said 7 minutes: longer than the interval, and honoured;
	// seoul, after busan in the round, is not asked meanwhile.
	if d := clk.next(t); d != 7*time.Minute {
		t.Fatalf("slept %s after a rate limit, want 7m", d)
	}
	if got := src.log(); got != "busan" {
		t.Errorf("polled %s during the rate limit", got)
	}
	if h := health(p, "busan"); h.ConsecutiveFailures != 1 || !strings.Contains(h.LastError, "429") {
		t.Errorf("busan %+v", h)
	}
	clk.resume <- struct{}{}
	clk.next(t)
	if got := src.log(); got != "busan,busan,seoul" {
		t.Errorf("polled %s", got)
	}
	if got := sk.readings(); got != "busan/air_temp=29@0s seoul/air_temp=31@0s" {
		t.Errorf("published %s", got)
	}
}

func TestPollerWaitsOutPermanentErrors(t *testing.T) {
	src := &script{name: "w", interval: time.Hour, answers: map[string][]answer{
		"seoul": {{err: Permanent(errors.New("SERVICE_KEY_IS_NOT_REGISTERED_ERROR"))}},
	}}
	p, clk := start(t, src, &sink{})
	// No quick retries with a key the service does not know: next round.
	if d := clk.next(t); d != time.Hour {
		t.Errorf("slept %s after a permanent error, want the interval", d)
	}
	if h := health(p, "seoul"); h.ConsecutiveFailures != 1 || !strings.Contains(h.LastError, "NOT_REGISTERED") {
		t.Errorf("%+v", h)
	}
}

func TestPollerRejectsImpossibleReadings(t *testing.T) {
	src := &script{name: "w", interval: time.Hour, answers: map[string][]answer{
		"seoul": {{rs: []Reading{rd(0, telemetry.Humidity, 140), rd(0, telemetry.AirTemp, 31), rd(0, "hr", 70), {Metric: telemetry.AirTemp, Value: 30}}}},
	}}
	sk := &sink{}
	p, clk := start(t, src, sk)
	clk.next(t)
	// The good reading goes on; three are counted as rejected, and the
	// poll still counts as a success.
	if got := sk.readings(); got != "seoul/air_temp=31@0s" {
		t.Errorf("published %s", got)
	}
	if h := health(p, "seoul"); h.Rejected != 3 || h.Readings != 1 || h.ConsecutiveFailures != 0 {
		t.Errorf("%+v", h)
	}
}

func TestPollerRetriesWhatTheSinkRefused(t *testing.T) {
	src := &script{name: "w", interval: time.Hour, answers: map[string][]answer{
		"seoul": {{rs: []Reading{rd(0, telemetry.AirTemp, 31)}}},
	}}
	sk := &sink{fail: errors.New("stream unavailable")}
	p, clk := start(t, src, sk)
	if d := clk.next(t); d >= time.Hour {
		t.Fatalf("a refused publish waits %s, want a back-off retry", d)
	}
	if h := health(p, "seoul"); h.ConsecutiveFailures != 1 || !strings.Contains(h.LastError, "stream unavailable") {
		t.Errorf("%+v", h)
	}
	sk.mu.Lock()
	sk.fail = nil
	sk.mu.Unlock()
	clk.resume <- struct{}{}
	clk.next(t)
	// Not lost: the same observation is published on the retry.
	if got := sk.readings(); got != "seoul/air_temp=31@0s" {
		t.Errorf("published %s", got)
	}
}

func TestNewRejectsBadSources(t *testing.T) {
	ok := func() *script {
		return &script{name: "w", interval: time.Hour, answers: map[string][]answer{"seoul": {{}}}}
	}
	if _, err := New([]Source{ok()}, nil, Config{}); err == nil {
		t.Error("no sink accepted")
	}
	noInterval := ok()
	noInterval.interval = 0
	badRegion := ok()
	badRegion.answers = map[string][]answer{"Seoul City": {{}}}
	none := ok()
	none.answers = map[string][]answer{}
	for name, s := range map[string]Source{"interval": noInterval, "region": badRegion, "no regions": none} {
		if _, err := New([]Source{s}, &sink{}, Config{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New([]Source{ok(), ok()}, &sink{}, Config{}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a source listed twice: %v", err)
	}
}

func TestStopEndsASleepingPoller(t *testing.T) {
	src := &script{name: "w", interval: time.Hour, answers: map[string][]answer{"seoul": {{}}}}
	p, err := New([]Source{src}, &sink{}, Config{}) // the real clock
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

func TestCollector(t *testing.T) {
	src := &script{name: "kma", interval: time.Hour, answers: map[string][]answer{
		"seoul": {{rs: []Reading{rd(0, telemetry.AirTemp, 31)}}},
		"busan": {{err: Permanent(errors.New("bad key"))}},
	}}
	p, clk := start(t, src, &sink{})
	clk.next(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(p))
	want := fmt.Sprintf(`
# HELP medbiz_feed_consecutive_failures Failed polls since the last success.
# TYPE medbiz_feed_consecutive_failures gauge
medbiz_feed_consecutive_failures{region="busan",source="kma"} 1
medbiz_feed_consecutive_failures{region="seoul",source="kma"} 0
# HELP medbiz_feed_last_success_timestamp_seconds Unix time of the last successful poll (0: none yet).
# TYPE medbiz_feed_last_success_timestamp_seconds gauge
medbiz_feed_last_success_timestamp_seconds{region="busan",source="kma"} 0
medbiz_feed_last_success_timestamp_seconds{region="seoul",source="kma"} %d
# HELP medbiz_feed_up 1 when the last poll succeeded, 0 when it failed or none ran yet.
# TYPE medbiz_feed_up gauge
medbiz_feed_up{region="busan",source="kma"} 0
medbiz_feed_up{region="seoul",source="kma"} 1
# HELP medbiz_feed_readings_total New readings published.
# TYPE medbiz_feed_readings_total counter
medbiz_feed_readings_total{region="busan",source="kma"} 0
medbiz_feed_readings_total{region="seoul",source="kma"} 1
`, t0.Unix())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"medbiz_feed_consecutive_failures", "medbiz_feed_last_success_timestamp_seconds", "medbiz_feed_up", "medbiz_feed_readings_total"); err != nil {
		t.Error(err)
	}
}
