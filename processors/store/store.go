// Package store is the stream processor that writes telemetry from the
// JetStream stream TELEMETRY into InfluxDB, one bucket per Farm. It batches
// across messages and Farms, and acknowledges a message only after InfluxDB
// accepted the write holding its points: while InfluxDB is down it retries
// with back-off and holds the messages; a message InfluxDB refuses for good
// is terminated so it cannot block the ones after it.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medbiz/medbiz/processors"
	"github.com/medbiz/medbiz/storage"
	"github.com/medbiz/medbiz/telemetry"
)

var _ processors.Processor = (*Store)(nil)

// Writer is what the store needs from storage.Client.
type Writer interface {
	WriteLines(ctx context.Context, farm string, lines []byte) error
	EnsureBucket(ctx context.Context, farm string) error
}

var _ Writer = (*storage.Client)(nil)

// Config tunes the store processor. Zero values take the defaults of
// DefaultConfig, except StoreECG, whose zero value (false) is honoured.
type Config struct {
	Stream string // "TELEMETRY"
	// FilterSubjects are the subjects consumed: device telemetry and the
	// batches carrying ECG frames.
	FilterSubjects []string
	Durable        string // "store"; shared by every node so writes spread
	// BatchSize is the number of points (lines) that triggers a write.
	BatchSize int
	// FlushInterval bounds how long a point waits for its batch to fill.
	FlushInterval time.Duration
	// MaxAckPending bounds the messages held unacknowledged; it must exceed
	// the messages of one batch or batches can never fill.
	MaxAckPending int
	// AckWait is how long JetStream waits for an ack before redelivering.
	AckWait            time.Duration
	RetryMin, RetryMax time.Duration
	// StoreECG writes raw ECG samples to the ecg measurement.
	StoreECG bool
	// Encode turns one message into line protocol for its farm; nil
	// encodes telemetry batches (measurement vitals, and ecg).
	Encode Encoder
}

// Encoder turns a message into the farm it belongs to and its lines.
type Encoder func(subject string, data []byte) (farm string, lines []byte, points int, err error)

// DefaultConfig is the configuration medbiz runs with.
func DefaultConfig() Config {
	return Config{
		Stream:         "TELEMETRY",
		FilterSubjects: []string{"medbiz.telemetry.>", "medbiz.ecg.>"},
		Durable:        "store",
		BatchSize:      5000,
		FlushInterval:  time.Second,
		MaxAckPending:  10000,
		AckWait:        30 * time.Second,
		RetryMin:       100 * time.Millisecond,
		RetryMax:       5 * time.Second,
		StoreECG:       true,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Stream == "" {
		c.Stream = d.Stream
	}
	if len(c.FilterSubjects) == 0 {
		c.FilterSubjects = d.FilterSubjects
	}
	if c.Durable == "" {
		c.Durable = d.Durable
	}
	if c.BatchSize <= 0 {
		c.BatchSize = d.BatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = d.FlushInterval
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = max(d.MaxAckPending, 2*c.BatchSize)
	}
	if c.AckWait <= 0 {
		c.AckWait = d.AckWait
	}
	if c.RetryMin <= 0 {
		c.RetryMin = d.RetryMin
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(d.RetryMax, c.RetryMin)
	}
	return c
}

// Store consumes the telemetry stream and writes it to InfluxDB.
type Store struct {
	cfg     Config
	js      jetstream.JetStream
	db      Writer
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	started bool
	iter    jetstream.MessagesContext
	abort   context.CancelFunc // cancels writes in flight when Stop times out
	done    chan struct{}      // closed when the writer goroutine has ended
}

// New builds a store processor. reg may be nil (no metrics exported).
func New(cfg Config, js jetstream.JetStream, db Writer, reg prometheus.Registerer, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		cfg:     cfg.withDefaults(),
		js:      js,
		db:      db,
		log:     log.With("component", "store"),
		metrics: newMetrics(reg),
	}
}

// Start creates or updates the durable pull consumer and starts consuming.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("store: already started")
	}
	cons, err := s.js.CreateOrUpdateConsumer(ctx, s.cfg.Stream, jetstream.ConsumerConfig{
		Durable:        s.cfg.Durable,
		Description:    "medbiz: telemetry into InfluxDB",
		FilterSubjects: s.cfg.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.cfg.AckWait,
		MaxAckPending:  s.cfg.MaxAckPending,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("store: consumer %s on %s: %w", s.cfg.Durable, s.cfg.Stream, err)
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(min(s.cfg.MaxAckPending, 1000)))
	if err != nil {
		return fmt.Errorf("store: consume %s: %w", s.cfg.Stream, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	in := make(chan held, 256)
	s.iter, s.abort, s.done = iter, cancel, make(chan struct{})
	s.started = true

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.read(runCtx, iter, in) }()
	go func() { defer wg.Done(); s.write(runCtx, in) }()
	go func() { wg.Wait(); close(s.done) }()
	s.log.Info("store started", "stream", s.cfg.Stream, "durable", s.cfg.Durable, "batch", s.cfg.BatchSize)
	return nil
}

// Stop stops taking messages, writes and acknowledges what it holds, and
// returns when done or when ctx ends; then writes in flight are cancelled
// and their messages, unacknowledged, are redelivered later.
func (s *Store) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	iter, abort, done := s.iter, s.abort, s.done
	s.mu.Unlock()

	// Drain hands over what the client already buffered, then ends the
	// reader, which closes the channel, which makes the writer flush.
	iter.Drain()
	// A shutdown waits for one flush, not for an InfluxDB that is down:
	// what is not written is redelivered to the next run.
	grace, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	select {
	case <-done:
		abort()
		return nil
	case <-grace.Done():
		abort()
		iter.Stop()
		<-done
		return fmt.Errorf("store: stop: %w", ctx.Err())
	}
}

// read moves messages from the JetStream iterator to the writer, decoded
// and encoded as line protocol, so that this work overlaps the writer's
// HTTP request. It owns in and closes it when the iterator ends.
func (s *Store) read(ctx context.Context, iter jetstream.MessagesContext, in chan<- held) {
	defer close(in)
	for {
		msg, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if errors.Is(err, jetstream.ErrConnectionClosed) {
					// Not our Stop: nothing more will be stored until the
					// app restarts the processor with a new connection.
					s.log.Error("telemetry consumer ended: NATS connection closed", "err", err)
				}
				return
			}
			// Missed heartbeats and similar are transient: the iterator
			// keeps pulling on its own.
			s.log.Warn("telemetry consumer", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.cfg.RetryMin):
			}
			continue
		}
		h, ok := s.decode(msg)
		if !ok {
			continue
		}
		select {
		case in <- h:
		case <-ctx.Done():
			return
		}
	}
}

// held is one message waiting for its batch to be written.
type held struct {
	msg   jetstream.Msg
	farm  string
	lines []byte
	n     int
}

// intake is the writer's side of the channel: messages taken but not yet
// written. While a write is retried, the writer keeps taking messages into
// it (and keeps them in progress) so that nothing it holds is redelivered;
// MaxAckPending bounds how many that can be.
type intake struct {
	in     <-chan held
	closed bool
	queued []held
	points int
}

// take receives one message (or notes the channel's end) into the queue.
func (s *Store) take(w *intake, h held, ok bool) {
	if !ok {
		w.closed, w.in = true, nil
		return
	}
	w.queued = append(w.queued, h)
	w.points += h.n
}

// write owns the batch: it collects messages until BatchSize points or
// FlushInterval, writes, and acknowledges. A write that cannot succeed yet
// holds it, and through MaxAckPending, JetStream.
func (s *Store) write(ctx context.Context, in <-chan held) {
	w := &intake{in: in}
	timer := time.NewTimer(s.cfg.FlushInterval)
	defer timer.Stop()
	flush := func() {
		for len(w.queued) > 0 {
			batch := w.queued
			w.queued, w.points = nil, 0
			if !s.flush(ctx, batch, w) {
				return
			}
			// Messages taken during a retry form the next batch; write it
			// now only if it is already full (or input has ended).
			if w.points < s.cfg.BatchSize && !w.closed {
				break
			}
		}
		timer.Reset(s.cfg.FlushInterval)
	}
	for {
		if w.closed {
			flush()
			return
		}
		select {
		case h, ok := <-w.in:
			s.take(w, h, ok)
			if w.points >= s.cfg.BatchSize {
				flush()
			}
		case <-timer.C:
			flush()
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// decode turns a message into line protocol. A message that cannot be
// decoded or encoded will never be storable: it is terminated at once.
func (s *Store) decode(msg jetstream.Msg) (held, bool) {
	if s.cfg.Encode != nil {
		farm, lines, n, err := s.cfg.Encode(msg.Subject(), msg.Data())
		if err != nil {
			s.terminate(msg, err)
			return held{}, false
		}
		return held{msg: msg, farm: farm, lines: lines, n: n}, true
	}
	var b telemetry.Batch
	err := telemetry.UnmarshalBatch(msg.Data(), &b)
	if err == nil && b.Farm == "" {
		b.Farm = farmFromSubject(msg.Subject())
	}
	var lines []byte
	var n int
	if err == nil {
		lines, n, err = encodeBatch(nil, &b, s.cfg.StoreECG)
	}
	if err != nil {
		s.terminate(msg, err)
		return held{}, false
	}
	return held{msg: msg, farm: b.Farm, lines: lines, n: n}, true
}

// farmFromSubject reads <farm> from medbiz.telemetry.<farm>.<patient>.<device>.
func farmFromSubject(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) >= 3 {
		return parts[2]
	}
	return ""
}

func (s *Store) terminate(msg jetstream.Msg, cause error) {
	s.metrics.terminated.Inc()
	s.log.Error("telemetry message dropped: InfluxDB refuses it for good", "subject", msg.Subject(), "err", cause)
	if err := msg.TermWithReason(truncate(cause.Error(), 200)); err != nil {
		s.log.Warn("term telemetry message", "subject", msg.Subject(), "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
