package rules

import (
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/medbiz/medbiz/telemetry"
)

// sqiGood is the ECG signal-quality index below which the ECG processor's
// beats and rate are not trusted (coordinated with processors/ecg).
const sqiGood = 0.5

// Options tune the engine. Zero values take the defaults below.
type Options struct {
	// Freshness is how long a latest value counts; older values are
	// missing. Merged over DefaultFreshness and, for context metrics,
	// DefaultContextFreshness.
	Freshness map[string]time.Duration
	// EscalateEvery re-sends an unacknowledged critical alert with a
	// rising escalation level (wall clock). Default 5 minutes; negative
	// disables.
	EscalateEvery time.Duration
	// DeadmanAfter replaces the default of deadman rules (params.after_s)
	// when set; per-patient overrides still win.
	DeadmanAfter time.Duration
	// Skew is how far behind a patient's newest event time a measurement
	// may arrive and still be placed in the windows. Default 2 minutes.
	Skew   time.Duration
	Logger *slog.Logger
}

// DefaultFreshness is how long a value stands for "now": never alert on
// stale data (docs/clinical.md#alarm-fatigue). Continuous signals go stale
// fast, spot checks slowly.
var DefaultFreshness = map[string]time.Duration{
	"hr": 5 * time.Minute, "spo2": 5 * time.Minute, "rr": 5 * time.Minute,
	"sys": 30 * time.Minute, "dia": 30 * time.Minute, "map": 30 * time.Minute,
	"temp": 6 * time.Hour, "glucose": 6 * time.Hour,
	"ecg_rr": time.Minute, "ecg_irregularity": time.Minute, "ecg_sqi": time.Minute, "ecg_hr": time.Minute,
	"ecg_since_beat": time.Minute,
}

// Engine evaluates rule packs for many patients. It is safe for concurrent
// use: one mutex guards all state, since evaluation takes microseconds and a
// single lock keeps Snapshot consistent.
type Engine struct {
	mu       sync.Mutex
	pack     *Pack
	clock    Clock
	opts     Options
	fresh    map[string]time.Duration
	log      *slog.Logger
	patients map[string]*patientState
	// regions holds each region's context windows (context.go).
	regions map[string]*regionState
	// vm is reused across evaluations (guarded by mu): expr.Run would
	// allocate a fresh VM and stack every time.
	vm vm.VM
}

type alertState struct {
	Event      Event     `json:"event"`
	RaisedWall time.Time `json:"raised_wall"`
}

type ruleState struct {
	Pending      bool        `json:"pending,omitempty"`
	PendingSince int64       `json:"pending_since,omitempty"`
	Clearing     bool        `json:"clearing,omitempty"`
	ClearSince   int64       `json:"clear_since,omitempty"`
	Alert        *alertState `json:"alert,omitempty"`
	LastID       string      `json:"last_id,omitempty"`
}

type patientState struct {
	Info     PatientInfo           `json:"info"`
	Series   map[string]*series    `json:"series"`
	Events   []eventPoint          `json:"events"`
	Cursor   int64                 `json:"cursor"`    // newest event time evaluated
	ObsBase  int64                 `json:"obs_base"`  // newest measurement time at LastWall
	LastWall time.Time             `json:"last_wall"` // wall clock of the last Observe
	Rules    map[string]*ruleState `json:"rules"`     // by rule id
	Offline  map[string]time.Time  `json:"offline"`   // devices that went offline unexpectedly
	Started  bool                  `json:"started"`   // has sent data at least once

	eng    *Engine
	env    Env
	now    int64
	params []float64
	cur    *ruleState
}

// NewEngine builds an engine over a compiled pack.
func NewEngine(p *Pack, clock Clock, opts Options) *Engine {
	if opts.EscalateEvery == 0 {
		opts.EscalateEvery = 5 * time.Minute
	}
	if opts.Skew <= 0 {
		opts.Skew = 2 * time.Minute
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	fresh := map[string]time.Duration{}
	for k, v := range DefaultFreshness {
		fresh[k] = v
	}
	for _, m := range telemetry.ContextMetrics() {
		fresh[m] = DefaultContextFreshness
	}
	for k, v := range opts.Freshness {
		fresh[k] = v
	}
	return &Engine{pack: p, clock: clock, opts: opts, fresh: fresh, log: lg.With("component", "rules"), patients: map[string]*patientState{}, regions: map[string]*regionState{}}
}

func (e *Engine) freshness(metric string) time.Duration {
	if d, ok := e.fresh[metric]; ok {
		return d
	}
	return 5 * time.Minute
}

// SetPack swaps the rules atomically. Live alerts keep their state; an
// alert whose rule disappeared stays until acknowledged and is then left
// alone (it can no longer resolve by itself).
func (e *Engine) SetPack(p *Pack) {
	if p == nil {
		return
	}
	e.mu.Lock()
	e.pack = p
	e.mu.Unlock()
}

func patientKey(farm, id string) string { return farm + "/" + id }

func (e *Engine) state(p PatientInfo) *patientState {
	k := patientKey(p.Farm, p.ID)
	st, ok := e.patients[k]
	if !ok {
		st = &patientState{Series: map[string]*series{}, Rules: map[string]*ruleState{}, Offline: map[string]time.Time{}}
		e.patients[k] = st
		st.attach(e)
	}
	st.Info = p
	return st
}

func (st *patientState) attach(e *Engine) {
	st.eng = e
	st.bind()
}

func (st *patientState) rule(id string) *ruleState {
	rs, ok := st.Rules[id]
	if !ok {
		rs = &ruleState{}
		st.Rules[id] = rs
	}
	return rs
}

// retention is how long a metric's history must be kept.
func (e *Engine) retention(metric string) int64 {
	d := e.pack.retention[metric]
	if f := e.freshness(metric); f > d {
		d = f
	}
	return int64(d + e.opts.Skew)
}

// Observe feeds one batch of a patient's measurements, evaluates the
// patient's rules at each new event time, and returns the alert state
// changes. Measurements more than Skew older than the newest one seen are
// dropped; those within it are placed in time order.
func (e *Engine) Observe(p PatientInfo, ms []telemetry.Measurement) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.state(p)
	var out []Event
	if !sort.SliceIsSorted(ms, func(i, j int) bool { return ms[i].Time.Before(ms[j].Time) }) {
		ms = append([]telemetry.Measurement(nil), ms...)
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].Time.Before(ms[j].Time) })
	}
	accepted, late := false, false
	for i, m := range ms {
		t := m.Time.UnixNano()
		if m.Time.IsZero() || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			continue
		}
		if st.Started && t < st.Cursor-int64(e.opts.Skew) {
			e.log.Debug("late measurement dropped", "farm", p.Farm, "patient", p.ID, "metric", m.Metric, "t", m.Time)
			continue
		}
		e.record(st, m, t)
		accepted = true
		if i+1 < len(ms) && ms[i+1].Time.Equal(m.Time) {
			continue // evaluate once per instant
		}
		if st.Started && t < st.Cursor {
			// A late value is in its place in the windows now; it is
			// evaluated with the next new instant, or at the end.
			late = true
			continue
		}
		st.Cursor, st.Started, late = t, true, false
		out = e.evaluate(st, st.Cursor, out)
	}
	if late {
		out = e.evaluate(st, st.Cursor, out)
	}
	if accepted {
		st.LastWall = e.clock.Now()
		st.ObsBase = st.Cursor
		out = e.resolveDeadman(st, out)
	}
	return out
}

func (e *Engine) record(st *patientState, m telemetry.Measurement, t int64) {
	if m.Metric == telemetry.Event {
		ev := eventPoint{T: t, Kind: m.Text}
		i := len(st.Events)
		for i > 0 && st.Events[i-1].T > t {
			i--
		}
		st.Events = append(st.Events, eventPoint{})
		copy(st.Events[i+1:], st.Events[i:])
		st.Events[i] = ev
		cut := 0
		for cut < len(st.Events) && (st.Events[cut].T < t-int64(e.pack.eventKeep) || len(st.Events)-cut > maxEvents) {
			cut++
		}
		st.Events = st.Events[:copy(st.Events, st.Events[cut:])]
		return
	}
	if !isMetric(m.Metric) {
		return // battery, weight, steps: no rule reads them
	}
	if m.Metric == telemetry.HR && m.Source == "ecg" {
		e.add(st, "ecg_hr", point{t, m.Value})
		// Quality gate: a heart rate counted from a noisy or lead-off ECG
		// is not a heart rate; it stays in ecg_hr but never reaches the
		// rules that read hr.
		if s := st.Series["ecg_sqi"]; s != nil {
			if q, ok := s.last(t); ok && t-q.T <= int64(e.freshness("ecg_sqi")) && q.V < sqiGood {
				return
			}
		}
	}
	e.add(st, m.Metric, point{t, m.Value})
}

func (e *Engine) add(st *patientState, metric string, p point) {
	s := st.Series[metric]
	if s == nil {
		s = &series{}
		st.Series[metric] = s
	}
	s.insert(p)
	s.trim(s.Pts[len(s.Pts)-1].T - e.retention(metric))
}

// evaluate runs every expression rule of the patient's profile at event
// time t.
func (e *Engine) evaluate(st *patientState, t int64, out []Event) []Event {
	st.now = t
	at := time.Unix(0, t).UTC()
	st.fill(at)
	for _, r := range e.pack.ForProfile(st.Info.Profile) {
		if r.Kind != KindExpr {
			continue
		}
		out = e.evalRule(st, r, t, at, out)
	}
	st.cur = nil
	return out
}

func (e *Engine) run(st *patientState, prog *vm.Program, r *Rule) bool {
	v, err := e.vm.Run(prog, &st.env)
	if err != nil {
		// A runtime error (division of a NaN is not one; a bad type is)
		// must not raise an alarm.
		e.log.Warn("rule evaluation failed", "rule", r.ID, "file", r.File, "line", r.Line, "err", err)
		return false
	}
	b, _ := v.(bool)
	return b
}

func (e *Engine) evalRule(st *patientState, r *Rule, t int64, at time.Time, out []Event) []Event {
	rs := st.rule(r.ID)
	st.cur = rs
	st.resolveParams(r)
	if rs.Alert == nil {
		if !e.run(st, r.when, r) {
			rs.Pending = false
			return out
		}
		if !rs.Pending {
			rs.Pending, rs.PendingSince = true, t
		}
		if t-rs.PendingSince < int64(r.For) {
			return out
		}
		rs.Pending = false
		sev := r.Severity
		id := alertID(st.Info.ID, r.ID, at)
		if id == rs.LastID {
			// Resolved and raised again within one millisecond.
			id += "-1"
		}
		rs.LastID = id
		ev := Event{
			ID: id, Farm: st.Info.Farm, Patient: st.Info.ID, Rule: r.ID,
			State: StateActive, Started: at, TS: at,
		}
		rs.Alert = &alertState{Event: ev, RaisedWall: e.clock.Now()}
		if r.Escalate != nil && e.run(st, r.Escalate.prog, r) {
			sev = r.Escalate.Severity
		}
		rs.Alert.Event.Severity = sev
		e.refresh(st, r, rs.Alert)
		return append(out, rs.Alert.Event)
	}
	a := rs.Alert
	if r.Escalate != nil && severityRank(a.Event.Severity) < severityRank(r.Escalate.Severity) && e.run(st, r.Escalate.prog, r) {
		// A rise needs attention again, so it re-opens an acknowledged
		// alert and restarts the escalation timer.
		a.Event.Severity = r.Escalate.Severity
		a.Event.State = StateActive
		a.Event.AckedBy = ""
		a.Event.Escalation = 0
		a.Event.TS = at
		a.RaisedWall = e.clock.Now()
		e.refresh(st, r, a)
		out = append(out, a.Event)
	}
	if !e.run(st, r.clear, r) {
		rs.Clearing = false
		return out
	}
	if !rs.Clearing {
		rs.Clearing, rs.ClearSince = true, t
	}
	if t-rs.ClearSince < int64(r.ClearFor) {
		return out
	}
	if r.ResolveAfterAck && a.Event.State != StateAcknowledged {
		return out
	}
	rs.Clearing = false
	ev := a.Event
	ev.State = StateResolved
	ev.TS = at
	ev.Values = st.values(r)
	rs.Alert = nil
	return append(out, ev)
}

// refresh sets the alert's values and message from the current env.
func (e *Engine) refresh(st *patientState, r *Rule, a *alertState) {
	a.Event.Values = st.values(r)
	msg := r.Message
	if r.Escalate != nil && r.Escalate.Message != "" && a.Event.Severity == r.Escalate.Severity {
		msg = r.Escalate.Message
	}
	a.Event.Message = st.render(r, msg, a.Event.Values, nil)
}

func (st *patientState) values(r *Rule) map[string]float64 {
	v := make(map[string]float64, len(r.metrics))
	for i, m := range metricNames {
		for _, want := range r.metrics {
			if want == m {
				if x := *st.env.metricPtr(i); !math.IsNaN(x) {
					v[m] = x
				}
			}
		}
	}
	st.ctxValues(r, v)
	return v
}

// render fills {{name}} placeholders from values, params and extras.
func (st *patientState) render(r *Rule, msg string, vals map[string]float64, extra map[string]string) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, "{{")
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		j := strings.Index(msg[i:], "}}")
		if j < 0 {
			b.WriteString(msg)
			return b.String()
		}
		b.WriteString(msg[:i])
		name := strings.TrimSpace(msg[i+2 : i+j])
		switch {
		case extra[name] != "":
			b.WriteString(extra[name])
		case name == "age_months":
			b.WriteString(formatValue(math.Round(st.env.AgeMonths*10) / 10))
		case name == "age_days":
			b.WriteString(formatValue(math.Floor(st.env.AgeDays)))
		case name == "news2":
			b.WriteString(formatValue(st.fnScore("news2")))
		default:
			if v, ok := vals[name]; ok {
				b.WriteString(formatValue(v))
			} else if _, ok := r.Params[name]; ok {
				b.WriteString(formatValue(paramOf(st.Info, r, name)))
			} else if isMetric(name) {
				b.WriteString(formatValue(*st.env.metricPtr(indexOfMetric(name))))
			} else if isContextMetric(name) {
				b.WriteString(formatValue(st.fnCtx(name)))
			} else {
				b.WriteString("?")
			}
		}
		msg = msg[i+j+2:]
	}
}

func indexOfMetric(name string) int {
	for i, m := range metricNames {
		if m == name {
			return i
		}
	}
	return -1
}

// alertID is unique and stable per episode and a valid MQTT topic level.
func alertID(patient, rule string, started time.Time) string {
	return fmt.Sprintf("%s-%s-%d", patient, rule, started.UnixMilli())
}
