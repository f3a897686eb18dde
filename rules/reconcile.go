package rules

// Reconcile makes the engine's open alerts (active or acknowledged) match
// open, the alerts known to be open elsewhere: the processor keeps them in
// a key-value bucket that it writes before each event is published. After
// a restart from a snapshot older than the last events, an alert raised
// since the snapshot is adopted (so it is not raised again, and still
// resolves), and one resolved since is dropped (so it is not resolved
// twice). Pending sustain timers are not in open and restart from the
// next measurements. info gives the registry's view of a patient the
// snapshot does not know; patients it does not know are skipped.
func (e *Engine) Reconcile(open []Event, info func(farm, patient string) (PatientInfo, bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	want := map[string]map[string]Event{}
	for _, ev := range open {
		k := patientKey(ev.Farm, ev.Patient)
		if want[k] == nil {
			want[k] = map[string]Event{}
		}
		want[k][ev.Rule] = ev
	}
	for k, st := range e.patients {
		for id, rs := range st.Rules {
			if rs.Alert == nil {
				continue
			}
			if ev, ok := want[k][id]; !ok || ev.ID != rs.Alert.Event.ID {
				rs.Alert = nil
				rs.Pending, rs.Clearing = false, false
			}
		}
	}
	now := e.clock.Now()
	for k, rules := range want {
		st := e.patients[k]
		for _, ev := range rules {
			if st == nil {
				p, ok := info(ev.Farm, ev.Patient)
				if !ok {
					break
				}
				st = e.state(p)
			}
			rs := st.rule(ev.Rule)
			if rs.Alert != nil && rs.Alert.Event.ID == ev.ID {
				rs.Alert.Event = ev
				continue
			}
			rs.Alert = &alertState{Event: ev, RaisedWall: now}
			rs.LastID = ev.ID
			rs.Pending, rs.Clearing = false, false
		}
	}
}
