package rules

import (
	"math"
	"time"
)

// maxPoints caps one metric's history whatever the windows say, so a device
// sending 50 values a second cannot grow a patient's memory without bound.
const maxPoints = 8192

// maxEvents caps the event history of one patient.
const maxEvents = 256

type point struct {
	T int64   `json:"t"` // unix nanoseconds, event time
	V float64 `json:"v"`
}

type eventPoint struct {
	T    int64  `json:"t"`
	Kind string `json:"k"`
}

// series is one metric's history in time order.
type series struct {
	Pts []point `json:"p"`
}

// insert places a point in time order; devices send in order, so the
// common case is an append.
func (s *series) insert(p point) {
	n := len(s.Pts)
	if n == 0 || s.Pts[n-1].T <= p.T {
		s.Pts = append(s.Pts, p)
		return
	}
	i := s.search(p.T + 1)
	s.Pts = append(s.Pts, point{})
	copy(s.Pts[i+1:], s.Pts[i:])
	s.Pts[i] = p
}

// search returns the first index with T >= t.
func (s *series) search(t int64) int {
	lo, hi := 0, len(s.Pts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.Pts[m].T < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// trim drops points older than cutoff and enforces the point cap. It copies
// down instead of re-slicing so the backing array does not creep forward
// and grow forever.
func (s *series) trim(cutoff int64) {
	i := s.search(cutoff)
	if n := len(s.Pts) - maxPoints; n > i {
		i = n
	}
	// Keep the newest point even when it is older than the cutoff: it is
	// what since() and staleness checks look at.
	if i >= len(s.Pts) {
		i = len(s.Pts) - 1
	}
	if i <= 0 {
		return
	}
	s.Pts = s.Pts[:copy(s.Pts, s.Pts[i:])]
}

// window returns the points with t-d < T <= t.
func (s *series) window(t, d int64) []point {
	return s.Pts[s.search(t-d+1):s.search(t+1)]
}

// last returns the newest point at or before t.
func (s *series) last(t int64) (point, bool) {
	i := s.search(t+1) - 1
	if i < 0 {
		return point{}, false
	}
	return s.Pts[i], true
}

func (st *patientState) seriesOf(metric string) *series {
	return st.Series[metric]
}

// bind points the env's functions at this patient's state. The closures
// are created once per patient, not per evaluation.
func (st *patientState) bind() {
	st.env.Min = st.fnMin
	st.env.Max = st.fnMax
	st.env.Avg = st.fnAvg
	st.env.Count = st.fnCount
	st.env.Delta = st.fnDelta
	st.env.Since = st.fnSince
	st.env.Has = st.fnHas
	st.env.LastEvent = st.fnLastEvent
	st.env.EventSince = st.fnEventSince
	st.env.Unanswered = st.fnUnanswered
	st.env.Score = st.fnScore
	st.env.Band = st.fnBand
	st.env.ActiveFor = st.fnActiveFor
	st.env.Param = st.fnParam
	st.bindContext()
}

func (st *patientState) windowOf(arg string) []point {
	m, w, _ := splitArgs(arg)
	s := st.seriesOf(m)
	if s == nil {
		return nil
	}
	return s.window(st.now, parseWindow(w))
}

func (st *patientState) fnMin(arg string) float64 { return minOf(st.windowOf(arg)) }

func (st *patientState) fnMax(arg string) float64 { return maxOf(st.windowOf(arg)) }

func (st *patientState) fnAvg(arg string) float64 {
	pts := st.windowOf(arg)
	if len(pts) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, p := range pts {
		sum += p.V
	}
	return sum / float64(len(pts))
}

func (st *patientState) fnCount(arg string) float64 { return float64(len(st.windowOf(arg))) }

func (st *patientState) fnDelta(arg string) float64 {
	pts := st.windowOf(arg)
	if len(pts) < 2 {
		return math.NaN()
	}
	return pts[len(pts)-1].V - pts[0].V
}

// fresh returns the latest value of a metric if it is within its freshness
// limit at the evaluation time.
func (st *patientState) fresh(metric string) (point, bool) {
	s := st.seriesOf(metric)
	if s == nil {
		return point{}, false
	}
	p, ok := s.last(st.now)
	if !ok || st.now-p.T > int64(st.eng.freshness(metric)) {
		return point{}, false
	}
	return p, true
}

func (st *patientState) fnSince(arg string) float64 {
	p, ok := st.fresh(arg)
	if !ok {
		return math.NaN()
	}
	return float64(st.now-p.T) / 1e9
}

func (st *patientState) fnHas(arg string) bool {
	_, ok := st.fresh(arg)
	return ok
}

// lastEventAt returns the time of the newest event of kind at or before now.
func (st *patientState) lastEventAt(kind string) (int64, bool) {
	for i := len(st.Events) - 1; i >= 0; i-- {
		e := st.Events[i]
		if e.Kind == kind && e.T <= st.now {
			return e.T, true
		}
	}
	return 0, false
}

func (st *patientState) fnLastEvent(arg string) bool {
	kind, w, _ := splitArgs(arg)
	t, ok := st.lastEventAt(kind)
	return ok && st.now-t < parseWindow(w)
}

func (st *patientState) fnEventSince(arg string) float64 {
	t, ok := st.lastEventAt(arg)
	if !ok {
		return math.NaN()
	}
	return float64(st.now-t) / 1e9
}

// fnUnanswered: the newest trigger event happened at least wait ago and no
// answer event came after it. The trigger must be in the retained event
// history, so an old fall does not alarm forever.
func (st *patientState) fnUnanswered(arg string) bool {
	trig, ans, w := splitArgs(arg)
	t, ok := st.lastEventAt(trig)
	if !ok || st.now-t < parseWindow(w) {
		return false
	}
	if a, ok := st.lastEventAt(ans); ok && a >= t {
		return false
	}
	return true
}

func (st *patientState) fnScore(arg string) float64 {
	total, used, maxPts := 0, 0, 0
	for _, m := range news2Metrics {
		p, ok := st.fresh(m)
		if !ok || math.IsNaN(p.V) {
			continue
		}
		s := news2Points(m, p.V)
		total += s
		used++
		if s > maxPts {
			maxPts = s
		}
	}
	switch arg {
	case "news2_params":
		return float64(used)
	case "news2_max":
		if used == 0 {
			return math.NaN()
		}
		return float64(maxPts)
	}
	if used == 0 {
		return math.NaN()
	}
	return float64(total)
}

func (st *patientState) fnBand(arg string) float64 {
	p, ok := st.fresh(arg)
	if !ok {
		return math.NaN()
	}
	return pewsBand(arg, p.V, st.env.AgeMonths)
}

func (st *patientState) fnActiveFor() float64 {
	rs := st.cur
	if rs == nil || rs.Alert == nil {
		return math.NaN()
	}
	return float64(st.now-rs.Alert.Event.Started.UnixNano()) / 1e9
}

func (st *patientState) fnParam(i int) float64 {
	if i < 0 || i >= len(st.params) {
		return math.NaN()
	}
	return st.params[i]
}

// fill loads the latest fresh values and the age into the env.
func (st *patientState) fill(at time.Time) {
	for i, m := range metricNames {
		v := math.NaN()
		if p, ok := st.fresh(m); ok {
			v = p.V
		}
		*st.env.metricPtr(i) = v
	}
	st.env.AgeDays, st.env.AgeMonths = ageAt(st.Info.BirthDate, at)
}

// resolveParams fills st.params for rule r: "<rule>.<param>" override,
// then "<param>" override, then the default.
func (st *patientState) resolveParams(r *Rule) {
	st.params = st.params[:0]
	for i, name := range r.paramNames {
		v, ok := st.Info.Overrides[r.paramKeys[i]]
		if !ok {
			v, ok = st.Info.Overrides[name]
		}
		if !ok {
			v = r.Params[name]
		}
		st.params = append(st.params, v)
	}
}

// param returns one resolved parameter of a rule for a patient.
func paramOf(info PatientInfo, r *Rule, name string) float64 {
	if v, ok := info.Overrides[r.ID+"."+name]; ok {
		return v
	}
	if v, ok := info.Overrides[name]; ok {
		return v
	}
	return r.Params[name]
}
