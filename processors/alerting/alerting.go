// Package alerting is the stream processor that runs the rule engine: it
// feeds each patient's telemetry, device status changes and caregivers'
// acknowledgements into rules.Engine, publishes every alert state change
// to the ALERTS stream, keeps the active-alerts bucket current for
// caregivers who connect later (and to reconcile the engine with after a
// restart), and saves the engine's windows when it stops. It owns no rule
// logic: that is package rules.
package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/processors"
	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/telemetry"
)

// Config configures the alerting processor.
type Config struct {
	// Dir holds the rule packs (*.yaml).
	Dir string
	// EscalateAfter re-sends an unacknowledged critical alert.
	EscalateAfter time.Duration
	// Deadman overrides the packs' no-data time when positive.
	Deadman time.Duration
	// PublishTimeout bounds each wait for the stream.
	PublishTimeout time.Duration
	// Durable prefixes the consumers' names.
	Durable string
}

// StateBucket is the object store holding the engine snapshot.
const StateBucket = "medbiz_rules_state"

// Processor runs the rule engine over the streams.
type Processor struct {
	cfg    Config
	js     jetstream.JetStream
	reg    *registry.Registry
	log    *slog.Logger
	engine *rules.Engine
	active jetstream.KeyValue
	state  jetstream.ObjectStore
	m      metrics

	// mu orders engine calls with the publishing of their events, so
	// caregivers see state changes in the order the engine made them.
	mu sync.Mutex
	// unsent is set when the processor stopped before the stream took an
	// event: no snapshot is saved after that, so the restart replays the
	// unacknowledged telemetry (whose windows the snapshot lacks).
	unsent bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

type metrics struct {
	events   *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	observed prometheus.Counter
}

var _ processors.Processor = (*Processor)(nil)

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// New loads the packs; a pack that does not compile stops start-up.
func New(cfg Config, js jetstream.JetStream, reg *registry.Registry, promReg prometheus.Registerer, log *slog.Logger) (*Processor, error) {
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = 5 * time.Second
	}
	if cfg.Durable == "" {
		cfg.Durable = "rules"
	}
	pack, err := rules.LoadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("rule packs: %w", err)
	}
	p := &Processor{cfg: cfg, js: js, reg: reg, log: log.With("component", "rules")}
	p.engine = rules.NewEngine(pack, wallClock{}, rules.Options{
		EscalateEvery: cfg.EscalateAfter, DeadmanAfter: cfg.Deadman, Logger: log,
	})
	p.m = metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medbiz_alert_events_total", Help: "Alert state changes published, by state and severity.",
		}, []string{"state", "severity"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medbiz_rules_reloads_total", Help: "Rule pack reloads; a failed one keeps the old packs running.",
		}, []string{"result"}),
		observed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_rules_batches_total", Help: "Telemetry batches run through the rule engine.",
		}),
	}
	promReg.MustRegister(p.m.events, p.m.reloads, p.m.observed)
	return p, nil
}

// Start restores the engine's last snapshot and consumes until Stop.
func (p *Processor) Start(ctx context.Context) error {
	var err error
	if p.active, err = p.js.KeyValue(ctx, bus.ActiveAlertsBucket); err != nil {
		return fmt.Errorf("open %s: %w", bus.ActiveAlertsBucket, err)
	}
	p.state, err = p.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: StateBucket, Description: "rule engine snapshot", Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", StateBucket, err)
	}
	if err := p.restore(ctx); err != nil {
		return err
	}
	if err := p.reconcile(ctx); err != nil {
		return err
	}
	telem, err := p.consume(ctx, bus.TelemetryStream, p.cfg.Durable, "medbiz.telemetry.>")
	if err != nil {
		return err
	}
	control, err := p.consume(ctx, bus.ControlStream, p.cfg.Durable+"-control", "")
	if err != nil {
		telem.Stop()
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	processors.Each(runCtx, &p.wg, telem, p.log, p.handleTelemetry)
	processors.Each(runCtx, &p.wg, control, p.log, p.handleControl)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.ticker(runCtx)
	}()
	p.log.Info("rule engine running", "dir", p.cfg.Dir)
	return nil
}

func (p *Processor) consume(ctx context.Context, stream, durable, filter string) (jetstream.MessagesContext, error) {
	cons, err := p.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: filter,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	return it, nil
}

// ticker drives the wall-clock rules (deadman, escalation).
//
// The engine's windows are saved only when the processor stops: saving
// them serialises every patient's history under the engine's lock, which
// under load stalled alerts for seconds. Open alerts do not depend on it
// (they are in the active-alerts bucket, see reconcile); after a crash the
// windows refill from new measurements and sustain timers start again.
func (p *Processor) ticker(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.mu.Lock()
			p.emit(ctx, p.engine.Tick(now))
			p.mu.Unlock()
		}
	}
}

// patient is the engine's view of a registered patient.
func (p *Processor) patient(farm, id string) (rules.PatientInfo, bool) {
	pt, ok := p.reg.Patient(farm, id)
	if !ok {
		return rules.PatientInfo{}, false
	}
	info := rules.PatientInfo{Farm: farm, ID: id, Profile: pt.Profile, Overrides: pt.Overrides}
	if pt.BirthDate != "" {
		info.BirthDate, _ = time.Parse("2006-01-02", pt.BirthDate)
	}
	return info, true
}

func (p *Processor) handleTelemetry(ctx context.Context, msg jetstream.Msg) {
	var b telemetry.Batch
	if err := telemetry.UnmarshalBatch(msg.Data(), &b); err != nil {
		p.log.Error("undecodable telemetry skipped by the rules", "subject", msg.Subject(), "error", err)
		_ = msg.Term()
		return
	}
	info, ok := p.patient(b.Farm, b.Patient)
	if !ok || len(b.Measurements) == 0 {
		_ = msg.Ack()
		return
	}
	p.mu.Lock()
	evs := p.engine.Observe(info, b.Measurements)
	sent := p.emit(ctx, evs)
	p.mu.Unlock()
	p.m.observed.Inc()
	if sent {
		_ = msg.Ack()
	}
}

func (p *Processor) handleControl(ctx context.Context, msg jetstream.Msg) {
	var head struct {
		AlertID string `json:"alert_id"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal(msg.Data(), &head); err != nil {
		_ = msg.Term()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case head.AlertID != "":
		var a bus.AckMessage
		_ = json.Unmarshal(msg.Data(), &a)
		ev, err := p.engine.Ack(a.Farm, a.Patient, a.AlertID, a.By, a.TS)
		switch {
		case err == nil:
			if !p.emit(ctx, []rules.Event{ev}) {
				return
			}
		case errors.Is(err, rules.ErrAlreadyAcked):
		default:
			p.log.Info("acknowledgement of no open alert", "alert", a.AlertID, "by", a.By, "error", err)
		}
	case head.Status != "":
		var s bus.StatusMessage
		_ = json.Unmarshal(msg.Data(), &s)
		info, ok := p.patient(s.Farm, s.Patient)
		if !ok {
			break
		}
		var evs []rules.Event
		if s.Status == "online" {
			evs = p.engine.DeviceOnline(info, s.Device, s.TS)
		} else if s.Unexpected {
			evs = p.engine.DeviceOffline(info, s.Device, s.TS)
		}
		if !p.emit(ctx, evs) {
			return
		}
	}
	_ = msg.Ack()
}

// emit publishes state changes in order: the active-alerts bucket first
// (so a caregiver connecting now learns it, and a restart reconciles the
// engine with it, so it neither repeats nor forgets them), then the ALERTS
// stream. It retries
// until the stream takes each one or the processor stops: an alert is
// never dropped because NATS was briefly away. It reports false when the
// processor stopped first. Callers hold p.mu.
func (p *Processor) emit(ctx context.Context, evs []rules.Event) bool {
	if len(evs) == 0 {
		return true
	}
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			p.log.Error("alert not encoded", "rule", ev.Rule, "error", err)
			continue
		}
		key := bus.ActiveAlertKey(ev.Farm, ev.Patient, ev.ID)
		ok := p.retry(ctx, "publish alert "+ev.ID, func(ctx context.Context) error {
			if ev.State == "resolved" {
				if err := p.active.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
					return err
				}
			} else if _, err := p.active.Put(ctx, key, data); err != nil {
				return err
			}
			_, err := p.js.Publish(ctx, bus.AlertSubject(ev.Farm, ev.Patient), data)
			return err
		})
		if !ok {
			p.unsent = true
			return false
		}
		p.m.events.WithLabelValues(ev.State, ev.Severity).Inc()
		p.log.Info("alert", "id", ev.ID, "farm", ev.Farm, "patient", ev.Patient, "rule", ev.Rule,
			"severity", ev.Severity, "state", ev.State, "escalation", ev.Escalation)
	}
	return true
}

// retry runs fn until it succeeds (true) or ctx ends (false).
func (p *Processor) retry(ctx context.Context, what string, fn func(context.Context) error) bool {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		opCtx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
		err := fn(opCtx)
		cancel()
		if err == nil {
			return true
		}
		p.log.Warn(what+": retrying", "error", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// snapshot saves the engine. Callers hold p.mu.
func (p *Processor) snapshot(ctx context.Context) {
	if p.unsent {
		return
	}
	data, err := p.engine.Snapshot()
	if err != nil {
		p.log.Error("rule engine snapshot", "error", err)
		return
	}
	opCtx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
	defer cancel()
	if _, err := p.state.PutBytes(opCtx, "engine", data); err != nil {
		p.log.Warn("rule engine snapshot not saved", "error", err)
	}
}

func (p *Processor) restore(ctx context.Context) error {
	data, err := p.state.GetBytes(ctx, "engine")
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read rule engine snapshot: %w", err)
	}
	if err := p.engine.Restore(data); err != nil {
		return fmt.Errorf("restore rule engine snapshot: %w", err)
	}
	p.log.Info("rule engine state restored", "bytes", len(data))
	return nil
}

// reconcile aligns the restored engine with the active-alerts bucket,
// which emit writes before each event is published: the snapshot may be
// older than the last events.
func (p *Processor) reconcile(ctx context.Context) error {
	lister, err := p.active.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list active alerts: %w", err)
	}
	var open []rules.Event
	for key := range lister.Keys() {
		e, err := p.active.Get(ctx, key)
		if err != nil {
			continue
		}
		var ev rules.Event
		if err := json.Unmarshal(e.Value(), &ev); err != nil {
			p.log.Warn("unreadable active alert skipped", "key", key, "error", err)
			continue
		}
		open = append(open, ev)
	}
	p.engine.Reconcile(open, p.patient)
	p.log.Info("rule engine reconciled with the active alerts", "open", len(open))
	return nil
}

// Reload compiles the packs again and swaps them in; a pack with an error
// is rejected, counted, and the running packs stay.
func (p *Processor) Reload() error {
	pack, err := rules.LoadDir(p.cfg.Dir)
	if err != nil {
		p.m.reloads.WithLabelValues("error").Inc()
		p.log.Error("rule packs rejected; the previous packs keep running", "error", err)
		return err
	}
	p.engine.SetPack(pack)
	p.m.reloads.WithLabelValues("ok").Inc()
	p.log.Info("rule packs reloaded", "dir", p.cfg.Dir)
	return nil
}

// Stop ends consumption, then saves a last snapshot.
func (p *Processor) Stop(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		done := make(chan struct{})
		go func() { p.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("rules stop: %w", ctx.Err())
			return
		}
		if p.state != nil {
			p.mu.Lock()
			p.snapshot(context.WithoutCancel(ctx))
			p.mu.Unlock()
		}
	})
	return err
}
