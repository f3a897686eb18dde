package rules

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// Context is public data about a region (weather, air quality) that rules
// read next to a patient's vitals. The engine keeps one set of windows per
// region, shared by every patient of that region (PatientInfo.Region), so
// a thousand people in one city cost one history. Context is read when a
// patient is evaluated (a measurement of theirs, or Tick): a new context
// reading alone evaluates nobody, and a patient without a region, or in a
// region without fresh readings, sees NaN exactly like a stale vital, so
// every rule that reads no context behaves as if context did not exist.

// DefaultContextFreshness is how long a context reading stands for "now".
// The public services observe hourly and publish with a delay of up to an
// hour, so three hours allow for one missed poll.
const DefaultContextFreshness = 3 * time.Hour

// regionState is one region's context history.
type regionState struct {
	Series map[string]*series `json:"series"`
}

func isContextMetric(name string) bool {
	_, ok := telemetry.LookupContext(name)
	return ok
}

// noteContext records which context metrics a rule reads and how much
// history it needs.
func (p *patcher) noteContext(fn string, parts []string) {
	r := p.rule
	if r.ctxRead == nil {
		r.ctxRead = map[string]bool{}
	}
	r.ctxRead[parts[0]] = true
	if len(parts) < 2 {
		return
	}
	d, _ := time.ParseDuration(parts[1])
	if fn == "ctx_max_prev" {
		d *= 2
	}
	if r.ctxWindows == nil {
		r.ctxWindows = map[string]time.Duration{}
	}
	if d > r.ctxWindows[parts[0]] {
		r.ctxWindows[parts[0]] = d
	}
}

// ObserveContext records context readings of one region (metric names from
// telemetry.ContextMetrics, values in their units, Time the observation
// time). A reading at an instant already held replaces it, so a feed that
// delivers the same observation twice changes nothing. Readings that are
// not context (an unknown metric, no time, a value that is not finite) are
// skipped and named in the error; the others are kept.
func (e *Engine) ObserveContext(region string, ms []telemetry.Measurement) error {
	if region == "" {
		return errors.New("observe context: empty region")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rg := e.regions[region]
	if rg == nil {
		rg = &regionState{Series: map[string]*series{}}
		e.regions[region] = rg
	}
	var errs []error
	for _, m := range ms {
		spec, ok := telemetry.LookupContext(m.Metric)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%q is not a context metric", m.Metric))
			continue
		case m.Time.IsZero():
			errs = append(errs, fmt.Errorf("%s: no time", m.Metric))
			continue
		case math.IsNaN(m.Value) || math.IsInf(m.Value, 0) || m.Value < spec.Min || m.Value > spec.Max:
			errs = append(errs, fmt.Errorf("%s: %v outside %v..%v", m.Metric, m.Value, spec.Min, spec.Max))
			continue
		}
		s := rg.Series[m.Metric]
		if s == nil {
			s = &series{}
			rg.Series[m.Metric] = s
		}
		s.upsert(point{m.Time.UnixNano(), m.Value})
		s.trim(s.Pts[len(s.Pts)-1].T - e.ctxRetention(m.Metric))
	}
	if len(errs) > 0 {
		return fmt.Errorf("observe context of %s: %w", region, errors.Join(errs...))
	}
	return nil
}

// ctxRetention is how long a context metric's history must be kept: the
// longest window reading it, at least its freshness, plus the skew a
// patient's event time may lag behind.
func (e *Engine) ctxRetention(metric string) int64 {
	d := e.pack.ctxRetention[metric]
	if f := e.freshness(metric); f > d {
		d = f
	}
	return int64(d + e.opts.Skew)
}

// upsert inserts a point, replacing one at the same instant.
func (s *series) upsert(p point) {
	if i := s.search(p.T); i < len(s.Pts) && s.Pts[i].T == p.T {
		s.Pts[i].V = p.V
		return
	}
	s.insert(p)
}

func (st *patientState) ctxSeries(metric string) *series {
	if st.Info.Region == "" {
		return nil
	}
	rg := st.eng.regions[st.Info.Region]
	if rg == nil {
		return nil
	}
	return rg.Series[metric]
}

// ctxFresh returns the newest context value at or before the evaluation
// time if it is within its freshness.
func (st *patientState) ctxFresh(metric string) (point, bool) {
	s := st.ctxSeries(metric)
	if s == nil {
		return point{}, false
	}
	p, ok := s.last(st.now)
	if !ok || st.now-p.T > int64(st.eng.freshness(metric)) {
		return point{}, false
	}
	return p, true
}

func (st *patientState) fnCtx(arg string) float64 {
	if p, ok := st.ctxFresh(arg); ok {
		return p.V
	}
	return math.NaN()
}

func (st *patientState) fnCtxHas(arg string) bool {
	_, ok := st.ctxFresh(arg)
	return ok
}

func (st *patientState) fnCtxSince(arg string) float64 {
	p, ok := st.ctxFresh(arg)
	if !ok {
		return math.NaN()
	}
	return float64(st.now-p.T) / 1e9
}

// ctxWindow returns the context points in (end-d, end].
func (st *patientState) ctxWindow(arg string, back int64) []point {
	m, w, _ := splitArgs(arg)
	s := st.ctxSeries(m)
	if s == nil {
		return nil
	}
	d := parseWindow(w)
	return s.window(st.now-back*d, d)
}

func (st *patientState) fnCtxMin(arg string) float64 { return minOf(st.ctxWindow(arg, 0)) }
func (st *patientState) fnCtxMax(arg string) float64 { return maxOf(st.ctxWindow(arg, 0)) }

// fnCtxMaxPrev is the maximum over the window of the same length just
// before the current one: with "24h", yesterday's maximum next to
// ctx_max's today, for criteria that span two days.
func (st *patientState) fnCtxMaxPrev(arg string) float64 { return maxOf(st.ctxWindow(arg, 1)) }

func (st *patientState) fnCtxAvg(arg string) float64 {
	pts := st.ctxWindow(arg, 0)
	if len(pts) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, p := range pts {
		sum += p.V
	}
	return sum / float64(len(pts))
}

func (st *patientState) fnCtxCount(arg string) float64 { return float64(len(st.ctxWindow(arg, 0))) }

func minOf(pts []point) float64 {
	if len(pts) == 0 {
		return math.NaN()
	}
	v := pts[0].V
	for _, p := range pts[1:] {
		v = math.Min(v, p.V)
	}
	return v
}

func maxOf(pts []point) float64 {
	if len(pts) == 0 {
		return math.NaN()
	}
	v := pts[0].V
	for _, p := range pts[1:] {
		v = math.Max(v, p.V)
	}
	return v
}

// bindContext points the env's context functions at this patient.
func (st *patientState) bindContext() {
	st.env.Ctx = st.fnCtx
	st.env.CtxHas = st.fnCtxHas
	st.env.CtxSince = st.fnCtxSince
	st.env.CtxMin = st.fnCtxMin
	st.env.CtxMax = st.fnCtxMax
	st.env.CtxAvg = st.fnCtxAvg
	st.env.CtxCount = st.fnCtxCount
	st.env.CtxMaxPrev = st.fnCtxMaxPrev
}

// ctxValues adds the fresh context values a rule reads to an alert's
// values, so a caregiver sees the heat next to the vitals.
func (st *patientState) ctxValues(r *Rule, v map[string]float64) {
	for _, m := range r.ctxMetrics {
		if p, ok := st.ctxFresh(m); ok {
			v[m] = p.V
		}
	}
}
