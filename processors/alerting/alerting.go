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
	"github.com/medbiz/medbiz/internal/goroutine"
	"github.com/medbiz/medbiz/internal/retry"
	"github.com/medbiz/medbiz/processors"
	"github.com/medbiz/medbiz/registry"
	"github.com/medbiz/medbiz/rules"
	"github.com/medbiz/medbiz/telemetry"
)

// Config configures the alerting processor; every value comes from the
// medbiz config (app.DefaultConfig holds the defaults).
type Config struct {
	// Packs are the folders of rule packs, loaded in order (rules.Load) at
	// New and on every Reload.
	Packs []rules.Source
	// EscalateAfter re-sends an unacknowledged critical alert.
	EscalateAfter time.Duration
	// Deadman overrides the packs' no-data time when positive.
	Deadman time.Duration
	// PublishTimeout bounds each wait for the stream.
	PublishTimeout time.Duration
	// Telemetry and Control are the consumers read: bus.AlertingConsumer
	// and bus.AlertingControlConsumer.
	Telemetry, Control bus.Consumer
}

func (c Config) validate() error {
	switch {
	case c.PublishTimeout <= 0:
		return fmt.Errorf("alerting: publish timeout %v: must be positive", c.PublishTimeout)
	case c.Telemetry.Config.Durable == "" || c.Control.Config.Durable == "":
		return errors.New("alerting: no consumers (bus.AlertingConsumer and bus.AlertingControlConsumer)")
	}
	return nil
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

	cancel     context.CancelFunc
	goroutines goroutine.Group
	once       sync.Once
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
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pack, err := rules.Load(cfg.Packs...)
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
	telem, err := p.cfg.Telemetry.Messages(ctx, p.js)
	if err != nil {
		return err
	}
	control, err := p.cfg.Control.Messages(ctx, p.js)
	if err != nil {
		telem.Stop()
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	processors.Each(runCtx, &p.goroutines, telem, p.log, p.handleTelemetry)
	processors.Each(runCtx, &p.goroutines, control, p.log, p.handleControl)
	p.goroutines.Go(func() { p.ticker(runCtx) })
	p.log.Info("rule engine running", "packs", p.cfg.Packs)
	return nil
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

// handleControl dispatches a CONTROL message by its subject: an
// acknowledgement (medbiz.acks.*) or a device status change
// (medbiz.status.*). A message that names another subject, does not
// decode, or disagrees with its subject is terminated: it can never be
// handled.
func (p *Processor) handleControl(ctx context.Context, msg jetstream.Msg) {
	sub, err := bus.ParseSubject(msg.Subject())
	if err == nil {
		switch sub.Kind {
		case bus.KindAck:
			err = p.handleAck(ctx, sub, msg)
		case bus.KindStatus:
			err = p.handleStatus(ctx, sub, msg)
		default:
			err = fmt.Errorf("%s: not a control subject", msg.Subject())
		}
	}
	switch {
	case errors.Is(err, errStopped):
		// Unacknowledged: redelivered to the next run.
	case err != nil:
		p.log.Error("control message dropped", "subject", msg.Subject(), "error", err)
		_ = msg.TermWithReason(err.Error())
	default:
		_ = msg.Ack()
	}
}

// errStopped reports that the processor stopped before the stream took
// the events a message caused.
var errStopped = errors.New("stopped before the events were published")

// handleAck applies a caregiver's acknowledgement.
func (p *Processor) handleAck(ctx context.Context, sub bus.Subject, msg jetstream.Msg) error {
	var a bus.AckMessage
	if err := json.Unmarshal(msg.Data(), &a); err != nil {
		return fmt.Errorf("acknowledgement: %w", err)
	}
	if a.Farm != sub.Farm || a.Patient != sub.Patient || a.AlertID == "" {
		return fmt.Errorf("acknowledgement of %q for %s/%s on the subject of %s/%s", a.AlertID, a.Farm, a.Patient, sub.Farm, sub.Patient)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ev, err := p.engine.Ack(a.Farm, a.Patient, a.AlertID, a.By, a.TS)
	switch {
	case err == nil:
		if !p.emit(ctx, []rules.Event{ev}) {
			return errStopped
		}
	case errors.Is(err, rules.ErrAlreadyAcked):
	default:
		p.log.Info("acknowledgement of no open alert", "alert", a.AlertID, "by", a.By, "error", err)
	}
	return nil
}

// handleStatus applies a device's online/offline change.
func (p *Processor) handleStatus(ctx context.Context, sub bus.Subject, msg jetstream.Msg) error {
	var s bus.StatusMessage
	if err := json.Unmarshal(msg.Data(), &s); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if s.Farm != sub.Farm || s.Patient != sub.Patient || s.Device != sub.Device || (s.Status != "online" && s.Status != "offline") {
		return fmt.Errorf("status %q of %s/%s/%s on the subject of %s/%s/%s", s.Status, s.Farm, s.Patient, s.Device, sub.Farm, sub.Patient, sub.Device)
	}
	info, ok := p.patient(s.Farm, s.Patient)
	if !ok {
		return nil // the patient is gone: nothing to alert about
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var evs []rules.Event
	if s.Status == "online" {
		evs = p.engine.DeviceOnline(info, s.Device, s.TS)
	} else if s.Unexpected {
		evs = p.engine.DeviceOffline(info, s.Device, s.TS)
	}
	if !p.emit(ctx, evs) {
		return errStopped
	}
	return nil
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

// retry runs fn, each attempt bounded by PublishTimeout, until it
// succeeds (true) or ctx ends (false), pausing as retry.Transient says.
func (p *Processor) retry(ctx context.Context, what string, fn func(context.Context) error) bool {
	err := retry.Transient().Do(ctx, func() error {
		opCtx, cancel := context.WithTimeout(ctx, p.cfg.PublishTimeout)
		defer cancel()
		return fn(opCtx)
	}, func(err error, wait time.Duration) {
		p.log.Warn(what+": retrying", "error", err, "wait", wait)
	})
	return err == nil
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
	pack, err := rules.Load(p.cfg.Packs...)
	if err != nil {
		p.m.reloads.WithLabelValues("error").Inc()
		p.log.Error("rule packs rejected; the previous packs keep running", "error", err)
		return err
	}
	p.engine.SetPack(pack)
	p.m.reloads.WithLabelValues("ok").Inc()
	p.log.Info("rule packs reloaded", "packs", p.cfg.Packs)
	return nil
}

// Stop ends consumption, then saves a last snapshot.
func (p *Processor) Stop(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		if p.cancel != nil {
			p.cancel()
		}
		if err = p.goroutines.Wait(ctx); err != nil {
			err = fmt.Errorf("alerting stop: %w", err)
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
