package store

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/medbiz/medbiz/storage"
)

// flush writes a batch, one request per Farm, and acknowledges each message
// once the request holding its points succeeded. It reports false when ctx
// ended first.
func (s *Store) flush(ctx context.Context, batch []held, w *intake) bool {
	start := time.Now()
	var order []string
	byFarm := make(map[string][]held)
	for _, h := range batch {
		if _, ok := byFarm[h.farm]; !ok {
			order = append(order, h.farm)
		}
		byFarm[h.farm] = append(byFarm[h.farm], h)
	}
	for _, farm := range order {
		if err := s.writeGroup(ctx, farm, byFarm[farm], false, w); err != nil {
			// Only cancellation ends a group early: its messages stay
			// unacknowledged and JetStream redelivers them after AckWait.
			s.log.Warn("store stopped with unwritten messages; they will be redelivered", "farm", farm, "messages", len(byFarm[farm]), "err", err)
			return false
		}
	}
	s.metrics.batchSeconds.Observe(time.Since(start).Seconds())
	return true
}

// writeGroup writes the messages of one Farm together. Retryable failures
// are retried with back-off until they succeed or ctx ends. A missing
// bucket is created once. Other permanent failures split the group into
// single messages; a single message that still fails is terminated.
func (s *Store) writeGroup(ctx context.Context, farm string, group []held, ensured bool, w *intake) error {
	lines := group[0].lines
	if len(group) > 1 {
		size := 0
		for _, h := range group {
			size += len(h.lines)
		}
		lines = make([]byte, 0, size)
		for _, h := range group {
			lines = append(lines, h.lines...)
		}
	}
	points := 0
	for _, h := range group {
		points += h.n
	}

	pause := s.cfg.Retry.BackOff()
	lastProgress := time.Now()
	for {
		err := s.db.WriteLines(ctx, farm, lines)
		if err == nil {
			s.metrics.points.Add(float64(points))
			for _, h := range group {
				if err := h.msg.Ack(); err != nil {
					// The points are stored; a lost ack means a redelivery,
					// which rewrites the same points without doubling them.
					s.log.Warn("ack telemetry message", "subject", h.msg.Subject(), "err", err)
				}
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if storage.IsRetryable(err) {
			s.metrics.writeErrors.WithLabelValues("retryable").Inc()
			wait := pause.NextBackOff()
			s.log.Warn("influxdb write failed; retrying", "farm", farm, "points", points, "backoff", wait, "err", err)
			// Keep JetStream from redelivering what we hold mid-retry.
			if time.Since(lastProgress) >= s.cfg.Consumer.Config.AckWait/4 {
				inProgress(group)
				inProgress(w.queued)
				lastProgress = time.Now()
			}
			if err := s.sleep(ctx, wait, w); err != nil {
				return err
			}
			continue
		}
		s.metrics.writeErrors.WithLabelValues("permanent").Inc()
		if storage.IsNotFound(err) && !ensured {
			ensured = true
			if err := s.ensureBucket(ctx, farm, group, w); err != nil {
				return err
			}
			continue
		}
		if len(group) == 1 {
			s.terminate(group[0].msg, err)
			return nil
		}
		s.log.Warn("influxdb refused a batch; writing its messages one by one", "farm", farm, "messages", len(group), "err", err)
		for i := range group {
			if err := s.writeGroup(ctx, farm, group[i:i+1], ensured, w); err != nil {
				return err
			}
		}
		return nil
	}
}

// ensureBucket creates a Farm's bucket, retrying while InfluxDB is
// unreachable. A permanent failure is left to the caller's next write.
func (s *Store) ensureBucket(ctx context.Context, farm string, group []held, w *intake) error {
	pause := s.cfg.Retry.BackOff()
	for {
		err := s.db.EnsureBucket(ctx, farm)
		if err == nil {
			s.log.Info("created missing bucket", "farm", farm)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !storage.IsRetryable(err) {
			s.log.Warn("create bucket", "farm", farm, "err", err)
			return nil
		}
		inProgress(group)
		inProgress(w.queued)
		if err := s.sleep(ctx, pause.NextBackOff(), w); err != nil {
			return err
		}
	}
}

func inProgress(group []held) {
	for _, h := range group {
		// Best effort: if it fails, the worst case is a redelivery, and
		// rewriting is idempotent.
		_ = h.msg.InProgress()
	}
}

// sleep waits d between retries (the back-off's own timer cannot be used:
// meanwhile the writer keeps taking messages into w, so that they are held
// in progress rather than left to time out).
func (s *Store) sleep(ctx context.Context, d time.Duration, w *intake) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case h, ok := <-w.in:
			s.take(w, h, ok)
			if ok {
				_ = h.msg.InProgress() // best effort, as in inProgress
			}
		}
	}
}

type metrics struct {
	points       prometheus.Counter
	writeErrors  *prometheus.CounterVec
	terminated   prometheus.Counter
	batchSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		points: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_store_points_written_total",
			Help: "Points InfluxDB accepted from the telemetry stream.",
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medbiz_store_write_errors_total",
			Help: "Failed InfluxDB writes, by kind: retryable (retried) or permanent (bucket created, or batch split and bad messages terminated).",
		}, []string{"kind"}),
		terminated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_store_messages_terminated_total",
			Help: "Telemetry messages dropped because they can never be stored.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "medbiz_store_batch_seconds",
			Help:    "Time to write one batch, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
	}
	m.writeErrors.WithLabelValues("retryable")
	m.writeErrors.WithLabelValues("permanent")
	if reg == nil {
		return m
	}
	m.points = register(reg, m.points)
	m.writeErrors = register(reg, m.writeErrors)
	m.terminated = register(reg, m.terminated)
	m.batchSeconds = register(reg, m.batchSeconds)
	return m
}

// register registers c, or returns the collector already registered under
// the same name (a second Store in one process shares the counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("store: register metrics: " + err.Error())
	}
	return c
}
