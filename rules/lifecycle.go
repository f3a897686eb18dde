package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Tick drives everything that runs on the wall clock: deadman alerts,
// escalation of unacknowledged critical alerts, and the re-evaluation of
// each patient at its projected event time (newest event time plus the
// wall time since it arrived), so that rules about something not happening
// (no motion after a fall, a stopped heart) fire without a new measurement.
func (e *Engine) Tick(now time.Time) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	keys := make([]string, 0, len(e.patients))
	for k := range e.patients {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		st := e.patients[k]
		out = e.offline(st, now, out)
		if !st.Started {
			continue
		}
		if proj := st.ObsBase + int64(now.Sub(st.LastWall)); proj > st.Cursor && st.timeSensitive() {
			st.Cursor = proj
			out = e.evaluate(st, proj, out)
		}
		out = e.deadman(st, now, out)
		out = e.escalate(st, now, out)
	}
	return out
}

// timeSensitive says whether re-evaluating the patient later, with no new
// data, can change anything: a rule waiting out its "for" or "clear_for",
// an open alert (its clear or escalation may depend on time), or a recent
// event (fall, SOS, apnea). Skipping the others keeps Tick cheap for
// thousands of quiet patients; values only age out, which never raises.
func (st *patientState) timeSensitive() bool {
	for _, rs := range st.Rules {
		if rs.Pending || rs.Clearing || rs.Alert != nil {
			return true
		}
	}
	if n := len(st.Events); n > 0 && st.Cursor-st.Events[n-1].T <= int64(st.eng.pack.eventKeep) {
		return true
	}
	return false
}

func (e *Engine) systemRule(st *patientState, kind string) *Rule {
	for _, r := range e.pack.ForProfile(st.Info.Profile) {
		if r.Kind == kind {
			return r
		}
	}
	return nil
}

func (e *Engine) deadman(st *patientState, now time.Time, out []Event) []Event {
	r := e.systemRule(st, KindDeadman)
	if r == nil {
		return out
	}
	rs := st.rule(r.ID)
	if rs.Alert != nil {
		return out
	}
	after := time.Duration(r.Params["after_s"] * float64(time.Second))
	if e.opts.DeadmanAfter > 0 {
		after = e.opts.DeadmanAfter
	}
	_, k1 := st.Info.Overrides[r.ID+".after_s"]
	_, k2 := st.Info.Overrides["after_s"]
	if k1 || k2 {
		after = time.Duration(paramOf(st.Info, r, "after_s") * float64(time.Second))
	}
	silent := now.Sub(st.LastWall)
	if after <= 0 || silent < after {
		return out
	}
	at := now.UTC()
	ev := Event{ID: alertID(st.Info.ID, r.ID, at), Farm: st.Info.Farm, Patient: st.Info.ID, Rule: r.ID,
		Severity: r.Severity, State: StateActive, Started: at, TS: at, Values: map[string]float64{"silent_s": silent.Seconds()}}
	ev.Message = st.render(r, r.Message, ev.Values, map[string]string{"minutes": formatValue(float64(int(silent.Minutes())))})
	rs.Alert = &alertState{Event: ev, RaisedWall: now}
	return append(out, ev)
}

// resolveDeadman closes a deadman alert once data flows again.
func (e *Engine) resolveDeadman(st *patientState, out []Event) []Event {
	r := e.systemRule(st, KindDeadman)
	if r == nil {
		return out
	}
	rs := st.Rules[r.ID]
	if rs == nil || rs.Alert == nil {
		return out
	}
	ev := rs.Alert.Event
	ev.State = StateResolved
	ev.TS = time.Unix(0, st.Cursor).UTC()
	rs.Alert = nil
	return append(out, ev)
}

func (e *Engine) escalate(st *patientState, now time.Time, out []Event) []Event {
	if e.opts.EscalateEvery <= 0 {
		return out
	}
	first := len(out)
	for _, rs := range st.Rules {
		a := rs.Alert
		if a == nil || a.Event.State != StateActive || a.Event.Severity != SeverityCritical {
			continue
		}
		due := a.RaisedWall.Add(time.Duration(a.Event.Escalation+1) * e.opts.EscalateEvery)
		if now.Before(due) {
			continue
		}
		a.Event.Escalation++
		a.Event.TS = now.UTC()
		out = append(out, a.Event)
	}
	// Map order is random; callers and tests see a stable order.
	esc := out[first:]
	sort.Slice(esc, func(i, j int) bool { return esc[i].Rule < esc[j].Rule })
	return out
}

// DeviceOffline reports an unexpected disconnect (an MQTT will message).
// One alert per patient covers all its offline devices.
func (e *Engine) DeviceOffline(p PatientInfo, device string, at time.Time) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.state(p)
	if _, already := st.Offline[device]; !already {
		st.Offline[device] = at
	}
	r := e.systemRule(st, KindDeviceOffline)
	if r == nil || offlineGrace(st, r) > 0 {
		return nil // raised by Tick once the grace period has passed
	}
	return e.raiseOffline(st, r, device, at, e.clock.Now(), nil)
}

// offlineGrace is how long a device may stay away before device_offline
// is raised (params.grace_s): a network blip the device recovers from by
// itself is nobody's emergency.
func offlineGrace(st *patientState, r *Rule) time.Duration {
	return time.Duration(paramOf(st.Info, r, "grace_s") * float64(time.Second))
}

// offline raises device_offline for a device away longer than the grace
// period (wall clock). Callers hold e.mu.
func (e *Engine) offline(st *patientState, now time.Time, out []Event) []Event {
	if len(st.Offline) == 0 {
		return out
	}
	r := e.systemRule(st, KindDeviceOffline)
	if r == nil {
		return out
	}
	if rs := st.Rules[r.ID]; rs != nil && rs.Alert != nil {
		return out
	}
	device, since := "", time.Time{}
	for d, at := range st.Offline {
		if since.IsZero() || at.Before(since) || (at.Equal(since) && d < device) {
			device, since = d, at
		}
	}
	if now.Sub(since) < offlineGrace(st, r) {
		return out
	}
	return e.raiseOffline(st, r, device, since, now, out)
}

func (e *Engine) raiseOffline(st *patientState, r *Rule, device string, at, now time.Time, out []Event) []Event {
	rs := st.rule(r.ID)
	if rs.Alert != nil {
		return out
	}
	at = at.UTC()
	ev := Event{ID: alertID(st.Info.ID, r.ID, at), Farm: st.Info.Farm, Patient: st.Info.ID, Rule: r.ID, Severity: r.Severity,
		State: StateActive, Started: at, TS: now.UTC(), Values: map[string]float64{}}
	ev.Message = st.render(r, r.Message, ev.Values, map[string]string{"device": device})
	rs.Alert = &alertState{Event: ev, RaisedWall: now}
	return append(out, ev)
}

// DeviceOnline resolves the offline alert once no device of the patient is
// offline any more.
func (e *Engine) DeviceOnline(p PatientInfo, device string, at time.Time) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.state(p)
	delete(st.Offline, device)
	if len(st.Offline) > 0 {
		return nil
	}
	r := e.systemRule(st, KindDeviceOffline)
	if r == nil {
		return nil
	}
	rs := st.Rules[r.ID]
	if rs == nil || rs.Alert == nil {
		return nil
	}
	ev := rs.Alert.Event
	ev.State = StateResolved
	ev.TS = at.UTC()
	rs.Alert = nil
	return []Event{ev}
}

// Ack acknowledges an active alert. An acknowledged alert still resolves
// when its clear condition holds.
func (e *Engine) Ack(farm, patient, alertID, by string, at time.Time) (Event, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.patients[patientKey(farm, patient)]
	if st == nil {
		return Event{}, fmt.Errorf("ack %s: %w", alertID, ErrUnknownAlert)
	}
	for _, rs := range st.Rules {
		a := rs.Alert
		if a == nil || a.Event.ID != alertID {
			continue
		}
		if a.Event.State == StateAcknowledged {
			return a.Event, fmt.Errorf("ack %s: %w", alertID, ErrAlreadyAcked)
		}
		a.Event.State = StateAcknowledged
		a.Event.AckedBy = by
		a.Event.TS = at.UTC()
		return a.Event, nil
	}
	return Event{}, fmt.Errorf("ack %s: %w", alertID, ErrUnknownAlert)
}

// Active returns the patient's open (active or acknowledged) alerts, oldest
// first: what a caregiver who connects late must see.
func (e *Engine) Active(farm, patient string) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.patients[patientKey(farm, patient)]
	if st == nil {
		return nil
	}
	var out []Event
	for _, rs := range st.Rules {
		if rs.Alert != nil {
			out = append(out, rs.Alert.Event)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

const snapshotVersion = 1

type snapshot struct {
	Version  int                      `json:"version"`
	Patients map[string]*patientState `json:"patients"`
	// Context is every region's context windows; absent in snapshots
	// written before context existed, which restore with none.
	Context map[string]*regionState `json:"context,omitempty"`
}

// Snapshot serialises every patient's alert state and windowed history.
// Restoring it into an engine with the same pack continues exactly where
// this one stopped: no repeated "active", resolutions still come.
func (e *Engine) Snapshot() ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b, err := json.Marshal(snapshot{Version: snapshotVersion, Patients: e.patients, Context: e.regions})
	if err != nil {
		return nil, fmt.Errorf("snapshot rule state: %w", err)
	}
	return b, nil
}

// Restore replaces the engine's state with a snapshot.
func (e *Engine) Restore(b []byte) error {
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("restore rule state: %w", err)
	}
	if s.Version != snapshotVersion {
		return fmt.Errorf("restore rule state: snapshot version %d, want %d", s.Version, snapshotVersion)
	}
	for k, st := range s.Patients {
		if st == nil || !strings.Contains(k, "/") {
			return fmt.Errorf("restore rule state: bad patient entry %q", k)
		}
		if st.Series == nil {
			st.Series = map[string]*series{}
		}
		if st.Rules == nil {
			st.Rules = map[string]*ruleState{}
		}
		if st.Offline == nil {
			st.Offline = map[string]time.Time{}
		}
		for m, sr := range st.Series {
			if sr == nil {
				delete(st.Series, m)
			}
		}
		for id, rs := range st.Rules {
			if rs == nil {
				delete(st.Rules, id)
			}
		}
	}
	regions := map[string]*regionState{}
	for k, rg := range s.Context {
		if rg == nil || k == "" {
			return fmt.Errorf("restore rule state: bad context region %q", k)
		}
		for m, sr := range rg.Series {
			if sr == nil || !isContextMetric(m) {
				delete(rg.Series, m)
			}
		}
		if rg.Series == nil {
			rg.Series = map[string]*series{}
		}
		regions[k] = rg
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range s.Patients {
		st.attach(e)
	}
	e.patients = s.Patients
	e.regions = regions
	return nil
}
