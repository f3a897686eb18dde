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
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/goroutine"
	"github.com/medbiz/medbiz/internal/retry"
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

// Config configures the store processor. Every value comes from the
// medbiz config (app.DefaultConfig holds the defaults); New rejects a
// config that is not complete.
type Config struct {
	// Consumer is the durable consumer read: bus.StoreConsumer for
	// telemetry, bus.AlertStoreConsumer for alert state changes. Its
	// MaxAckPending bounds the messages held unacknowledged; it must
	// reach the messages of one batch or batches can never fill.
	Consumer bus.Consumer
	// BatchSize is the number of points (lines) that triggers a write.
	BatchSize int
	// FlushInterval bounds how long a point waits for its batch to fill.
	FlushInterval time.Duration
	// Retry paces the retries of a write InfluxDB could not take yet
	// (retry.Transient in medbiz; tests shorten it).
	Retry retry.Policy
	// StoreECG writes raw ECG samples to the ecg measurement.
	StoreECG bool
	// Encode turns one message into line protocol for its farm; nil
	// encodes telemetry batches (measurement vitals, and ecg).
	Encode Encoder
}

// Encoder turns a message into the farm it belongs to and its lines.
type Encoder func(subject string, data []byte) (farm string, lines []byte, points int, err error)

func (c Config) validate() error {
	switch {
	case c.Consumer.Stream == "" || c.Consumer.Config.Durable == "":
		return errors.New("store: no consumer (bus.StoreConsumer or bus.AlertStoreConsumer)")
	case c.BatchSize < 1:
		return fmt.Errorf("store: batch size %d: must be at least 1", c.BatchSize)
	case c.FlushInterval <= 0:
		return fmt.Errorf("store: flush interval %v: must be positive", c.FlushInterval)
	case c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial || c.Retry.Multiplier < 1:
		return fmt.Errorf("store: retry policy %+v: needs a positive first wait, a factor of 1 or more and a maximum", c.Retry)
	}
	return nil
}

// Store consumes the telemetry stream and writes it to InfluxDB.
type Store struct {
	cfg     Config
	js      jetstream.JetStream
	db      Writer
	log     *slog.Logger
	metrics *metrics

	mu         sync.Mutex
	started    bool
	iter       jetstream.MessagesContext
	abort      context.CancelFunc // cancels writes in flight when Stop times out
	done       chan struct{}      // closed when the writer goroutine has ended
	goroutines goroutine.Group
}

// New builds a store processor. reg may be nil (no metrics exported).
func New(cfg Config, js jetstream.JetStream, db Writer, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{
		cfg:     cfg,
		js:      js,
		db:      db,
		log:     log.With("component", "store"),
		metrics: newMetrics(reg),
	}, nil
}

// Start creates or updates the durable pull consumer and starts consuming.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("store: already started")
	}
	c := s.cfg.Consumer
	// Pull in slices of at most pullBatch, never more than may be pending.
	iter, err := c.Messages(ctx, s.js, jetstream.PullMaxMessages(min(c.Config.MaxAckPending, pullBatch)))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	in := make(chan held, 256)
	s.iter, s.abort, s.done = iter, cancel, make(chan struct{})
	s.started = true

	// The reader hands messages, decoded and encoded as line protocol, to
	// the writer, so that this work overlaps the writer's HTTP request; it
	// closes in when the iterator ends, which makes the writer flush.
	processors.EachUntilClosed(runCtx, &s.goroutines, iter, s.log, func(ctx context.Context, msg jetstream.Msg) {
		if h, ok := s.decode(msg); ok {
			select {
			case in <- h:
			case <-ctx.Done():
			}
		}
	}, func(err error) {
		if errors.Is(err, jetstream.ErrConnectionClosed) {
			// Not our Stop: nothing more will be stored until the app
			// restarts the processor with a new connection.
			s.log.Error("consumer ended: NATS connection closed", "durable", c.Config.Durable, "err", err)
		}
		close(in)
	})
	s.goroutines.Go(func() {
		defer close(s.done)
		s.write(runCtx, in)
	})
	s.log.Info("store started", "stream", c.Stream, "durable", c.Config.Durable, "batch", s.cfg.BatchSize)
	return nil
}

// pullBatch is the most messages one pull request asks for.
const pullBatch = 1000

// stopGrace bounds how long Stop waits for the last flush: a shutdown
// waits for one write, not for an InfluxDB that is down (what is not
// written is redelivered to the next run).
const stopGrace = 5 * time.Second

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
	grace, cancel := context.WithTimeout(ctx, stopGrace)
	defer cancel()
	var err error
	select {
	case <-done:
	case <-grace.Done():
		err = fmt.Errorf("store: stop: %w", grace.Err())
	}
	// Cancels writes in flight (their messages, unacknowledged, are
	// redelivered later) and ends the reader's iterator.
	abort()
	return errors.Join(err, s.goroutines.Wait(ctx))
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
		b.Farm, _, _, err = bus.ParseTelemetrySubject(msg.Subject())
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
