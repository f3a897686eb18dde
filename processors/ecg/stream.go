package ecg

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/processors"
	"github.com/medbiz/medbiz/telemetry"
)

// StreamConfig configures the ECG stream processor.
type StreamConfig struct {
	// Stream is the stream holding the ECG subjects (TELEMETRY).
	Stream string
	// Durable names the consumer; nodes sharing it share the devices.
	Durable string
	// PublishTimeout bounds the wait for the stream to hold derived values.
	PublishTimeout time.Duration
	// IdleEvict drops a device's monitor after this long without frames.
	IdleEvict time.Duration
}

// Processor runs one Monitor per ECG device over medbiz.ecg.> and publishes
// what it derives (hr, ecg_rr, ecg_irregularity, ecg_sqi, ecg_since_beat)
// as telemetry of the same device, where the store and the rules read it.
// A frame is acknowledged only after its derived values are in the stream.
type Processor struct {
	cfg StreamConfig
	js  jetstream.JetStream
	log *slog.Logger

	frames  prometheus.Counter
	derived prometheus.Counter

	monitors map[string]*deviceMonitor // farm.patient.device, owned by the run goroutine
	evicted  time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type deviceMonitor struct {
	m    *Monitor
	fs   float64
	seen time.Time
}

var _ processors.Processor = (*Processor)(nil)

// NewProcessor builds the processor; Start consumes.
func NewProcessor(cfg StreamConfig, js jetstream.JetStream, reg prometheus.Registerer, log *slog.Logger) *Processor {
	if cfg.Stream == "" {
		cfg.Stream = bus.TelemetryStream
	}
	if cfg.Durable == "" {
		cfg.Durable = "ecg"
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.IdleEvict <= 0 {
		cfg.IdleEvict = 10 * time.Minute
	}
	p := &Processor{
		cfg: cfg, js: js, log: log.With("component", "ecg"), monitors: map[string]*deviceMonitor{},
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_ecg_frames_total", Help: "ECG frames run through the QRS detector.",
		}),
		derived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_ecg_derived_total", Help: "Measurements derived from ECG (hr, ecg_rr, ecg_sqi, ...).",
		}),
	}
	reg.MustRegister(p.frames, p.derived)
	return p
}

// Start creates the durable consumer and consumes until Stop.
func (p *Processor) Start(ctx context.Context) error {
	cons, err := p.js.CreateOrUpdateConsumer(ctx, p.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       p.cfg.Durable,
		FilterSubject: "medbiz.ecg.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("ecg consumer: %w", err)
	}
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("ecg consumer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	processors.Each(runCtx, &p.wg, iter, p.log, p.handle)
	return nil
}

// Stop ends consumption and waits for the frame in hand.
func (p *Processor) Stop(ctx context.Context) error {
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
		return fmt.Errorf("ecg stop: %w", ctx.Err())
	}
}

func (p *Processor) handle(ctx context.Context, msg jetstream.Msg) {
	var b telemetry.Batch
	if err := telemetry.UnmarshalBatch(msg.Data(), &b); err != nil {
		p.log.Error("undecodable ECG batch dropped", "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	now := time.Now()
	key := b.Farm + "." + b.Patient + "." + b.Device
	var out []telemetry.Measurement
	for _, f := range b.ECG {
		dm := p.monitors[key]
		if dm == nil || dm.fs != f.FS {
			dm = &deviceMonitor{m: NewMonitor(f.FS, MonitorOptions{}), fs: f.FS}
			p.monitors[key] = dm
		}
		dm.seen = now
		out = append(out, dm.m.Process(f.Start, f.Samples)...)
		p.frames.Inc()
	}
	if len(out) > 0 {
		derived := telemetry.Batch{Farm: b.Farm, Patient: b.Patient, Device: b.Device, Received: b.Received, Measurements: out}
		data, err := telemetry.MarshalBatch(&derived)
		if err != nil {
			p.log.Error("derived ECG values not encoded", "device", b.Device, "error", err)
			_ = msg.Term()
			return
		}
		// The monitor has taken these samples and would skip them if the
		// frame came again, so retry here until the stream holds the result.
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
			pctx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
			_, err = p.js.Publish(pctx, bus.TelemetrySubject(b.Farm, b.Patient, b.Device), data)
			cancel()
			if err == nil {
				break
			}
			p.log.Warn("derived ECG values not published; retrying", "device", b.Device, "error", err)
			_ = msg.InProgress()
			select {
			case <-ctx.Done():
				return // unacknowledged: redelivered to the next run
			case <-time.After(wait):
			}
		}
		p.derived.Add(float64(len(out)))
	}
	_ = msg.Ack()
	if now.Sub(p.evicted) > time.Minute {
		p.evict(now)
	}
}

// evict forgets monitors of devices that stopped sending.
func (p *Processor) evict(now time.Time) {
	p.evicted = now
	for k, dm := range p.monitors {
		if now.Sub(dm.seen) > p.cfg.IdleEvict {
			delete(p.monitors, k)
		}
	}
}
