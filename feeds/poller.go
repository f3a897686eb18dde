package feeds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Config tunes the poller. Zero values take the defaults.
type Config struct {
	// RetryMin is the first wait after a failed poll (default 30 s); the
	// waits grow exponentially (github.com/cenkalti/backoff) up to the
	// source's interval, and the next regular round always comes on time.
	RetryMin time.Duration
	// Timeout bounds one poll of one region (default 30 s).
	Timeout time.Duration
	Logger  *slog.Logger
	// Now and Sleep are the clock; tests inject them. Sleep waits d or
	// until ctx ends and then returns ctx's error.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Health is the state of one source for one region.
type Health struct {
	Source, Region string
	// LastAttempt and LastSuccess are zero until the first poll / success.
	LastAttempt, LastSuccess time.Time
	// ConsecutiveFailures counts failed polls since the last success.
	ConsecutiveFailures int
	LastError           string
	// Totals since start: polls, failed polls, readings published, and
	// readings rejected as impossible (Reading.Validate).
	Polls, Failures, Readings, Rejected uint64
}

// Poller runs sources on their intervals and hands new readings to a sink.
type Poller struct {
	cfg     Config
	sources []Source
	sink    Sink
	log     *slog.Logger

	mu     sync.Mutex
	health map[string]*Health   // source/region
	last   map[string]time.Time // source/region/metric: newest time published

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// regionPattern is the form of a region id: like every medbiz id, safe as
// a NATS subject token and an InfluxDB tag value.
var regionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidRegion reports whether s is a well-formed region id.
func ValidRegion(s string) bool { return regionPattern.MatchString(s) }

// New checks the sources and builds a poller; Start runs it.
func New(sources []Source, sink Sink, cfg Config) (*Poller, error) {
	if sink == nil {
		return nil, errors.New("feeds: no sink")
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	p := &Poller{cfg: cfg, sources: sources, sink: sink, log: cfg.Logger.With("component", "feeds"),
		health: map[string]*Health{}, last: map[string]time.Time{}}
	for _, s := range sources {
		if s.Interval() <= 0 {
			return nil, fmt.Errorf("feed %s: interval must be positive", s.Name())
		}
		if len(s.Regions()) == 0 {
			return nil, fmt.Errorf("feed %s: no regions", s.Name())
		}
		for _, r := range s.Regions() {
			if !ValidRegion(r) {
				return nil, fmt.Errorf("feed %s: region %q must match %s", s.Name(), r, regionPattern)
			}
			k := s.Name() + "/" + r
			if _, dup := p.health[k]; dup {
				return nil, fmt.Errorf("feed %s: region %s listed twice", s.Name(), r)
			}
			p.health[k] = &Health{Source: s.Name(), Region: r}
		}
	}
	return p, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Start polls every source in a goroutine of its own, first at once.
func (p *Poller) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, s := range p.sources {
		p.wg.Add(1)
		go p.run(ctx, s)
	}
	return nil
}

// Stop ends polling and waits for polls in flight (bounded by ctx).
func (p *Poller) Stop(ctx context.Context) error {
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
	})
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("feeds stop: %w", ctx.Err())
	}
}

// run is one source's loop: a round over all regions every interval, and
// in between, retries of the regions that failed, after an exponential
// back-off or the wait a rate-limit answer asked for.
func (p *Poller) run(ctx context.Context, s Source) {
	defer p.wg.Done()
	interval := s.Interval()
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = p.cfg.RetryMin
	bo.MaxInterval = interval
	bo.Reset()
	next := p.cfg.Now()
	var retry []string
	for {
		due := retry
		if now := p.cfg.Now(); !now.Before(next) {
			due, next = s.Regions(), now.Add(interval)
		}
		var rateWait time.Duration
		retry, rateWait = p.round(ctx, s, due)
		if ctx.Err() != nil {
			return
		}
		wait := next.Sub(p.cfg.Now())
		switch {
		case rateWait > 0:
			// Honoured even past the next round: the service said when.
			wait = rateWait
		case len(retry) > 0:
			wait = min(wait, bo.NextBackOff())
		default:
			bo.Reset()
		}
		if err := p.cfg.Sleep(ctx, max(wait, 0)); err != nil {
			return
		}
	}
}

// round polls the due regions in order. It returns the regions to retry
// before the next round (failed ones, and after a rate limit every region
// not yet asked) and the wait a rate limit asked for.
func (p *Poller) round(ctx context.Context, s Source, due []string) (retry []string, rateWait time.Duration) {
	for i, region := range due {
		err := p.pollOne(ctx, s, region)
		if err == nil || ctx.Err() != nil {
			continue
		}
		var ra *RetryAfterError
		switch {
		case errors.As(err, &ra):
			p.log.Warn("feed rate limited", "source", s.Name(), "region", region, "wait", ra.Wait, "error", err)
			return append(retry, due[i:]...), max(ra.Wait, p.cfg.RetryMin)
		case IsPermanent(err):
			p.log.Error("feed poll failed; retrying at the next interval", "source", s.Name(), "region", region, "error", err)
		default:
			p.log.Warn("feed poll failed; retrying with back-off", "source", s.Name(), "region", region, "error", err)
			retry = append(retry, region)
		}
	}
	return retry, 0
}

// pollOne polls one region, publishes what is new and valid, and records
// the outcome.
func (p *Poller) pollOne(ctx context.Context, s Source, region string) error {
	pctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	started := p.cfg.Now()
	rs, err := s.Poll(pctx, region)
	var fresh []Reading
	rejected := 0
	if err == nil {
		fresh, rejected = p.filter(s, region, rs)
		if len(fresh) > 0 {
			if perr := p.sink.Publish(ctx, fresh); perr != nil {
				err = fmt.Errorf("publish %d readings: %w", len(fresh), perr)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.health[s.Name()+"/"+region]
	h.LastAttempt = started
	h.Polls++
	h.Rejected += uint64(rejected)
	if err != nil {
		h.Failures++
		h.ConsecutiveFailures++
		h.LastError = err.Error()
		return err
	}
	for _, r := range fresh {
		k := s.Name() + "/" + region + "/" + r.Metric
		if r.Time.After(p.last[k]) {
			p.last[k] = r.Time
		}
	}
	h.Readings += uint64(len(fresh))
	h.LastSuccess = p.cfg.Now()
	h.ConsecutiveFailures = 0
	h.LastError = ""
	return nil
}

// filter drops readings that are impossible, belong to another region, or
// are not newer than the newest already published for their metric (the
// services repeat the last observation until the next one is out).
func (p *Poller) filter(s Source, region string, rs []Reading) ([]Reading, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Reading
	rejected := 0
	for _, r := range rs {
		r.Region = region // the poller asked for this region
		if r.Source == "" {
			r.Source = s.Name()
		}
		if err := r.Validate(); err != nil {
			p.log.Warn("feed reading rejected", "source", s.Name(), "region", region, "error", err)
			rejected++
			continue
		}
		if !r.Time.After(p.last[s.Name()+"/"+region+"/"+r.Metric]) {
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, rejected
}

// Health returns every source and region's state, sorted.
func (p *Poller) Health() []Health {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Health, 0, len(p.health))
	for _, h := range p.health {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Source != out[j].Source {
			return out[i].Source < out[j].Source
		}
		return out[i].Region < out[j].Region
	})
	return out
}
