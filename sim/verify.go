package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/rules"
)

// Alert is an alert message (docs/contract.md#alert-message) as a
// caregiver received it.
type Alert struct {
	rules.Event
	Received time.Time
}

type mark struct {
	at   time.Time // event time
	wall time.Time // publish wall time
}

// ScenarioResult is the verdict on one injected scenario.
type ScenarioResult struct {
	Scenario *Scenario
	Detected bool
	Alert    *Alert
	Latency  time.Duration
}

// Summary is the outcome of a verified run.
type Summary struct {
	Results     []ScenarioResult
	Secondary   []*Alert // other alerts on a person during their scenario
	False       []*Alert // alerts no scenario explains
	Scenarios   int
	Detected    int
	Missed      int
	P99Latency  time.Duration
	Preexisting int // alerts already active before the run published anything
}

// Verifier subscribes as the caregivers and matches the alerts that arrive
// against the injected scenarios.
type Verifier struct {
	fleet *Fleet
	log   *slog.Logger

	mu        sync.Mutex
	started   bool
	marks     map[*Scenario][]mark
	seen      map[string]bool
	results   map[*Scenario]*ScenarioResult
	secondary []*Alert
	false_    []*Alert
	preexist  int
	conns     []*deviceConn
	changed   chan struct{}
}

// NewVerifier prepares verification of the fleet's scenarios.
func NewVerifier(f *Fleet, log *slog.Logger) *Verifier {
	if log == nil {
		log = slog.Default()
	}
	return &Verifier{
		fleet: f, log: log.With("component", "sim-verify"),
		marks: map[*Scenario][]mark{}, seen: map[string]bool{},
		results: map[*Scenario]*ScenarioResult{}, changed: make(chan struct{}, 1),
	}
}

// maxMarks bounds what is kept per scenario (an hour of 1 Hz samples).
const maxMarks = 4000

// Published records a scenario-carrying message; pass it as
// RunConfig.OnPublish.
func (v *Verifier) Published(m Msg, wall time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.started = true
	if m.Scenario == nil {
		return
	}
	if ms := v.marks[m.Scenario]; len(ms) < maxMarks {
		v.marks[m.Scenario] = append(ms, mark{m.At, wall})
	}
}

// Start marks the beginning of publishing: alerts received before it were
// already active and are not judged.
func (v *Verifier) Start() {
	v.mu.Lock()
	v.started = true
	v.mu.Unlock()
}

// Connect subscribes one caregiver per person to that person's alerts.
func (v *Verifier) Connect(ctx context.Context, broker string, creds *Credentials) error {
	for _, p := range v.fleet.People {
		login := creds.Caregivers[p.ID]
		id := p.ID
		c, err := dial(ctx, clientOpts{broker: broker, clientID: clientID(login, creds.Farm, "cg-"+p.ID), login: login,
			onLost: func(err error) {
				v.log.Warn("caregiver connection lost: alerts may be missed", "patient", id, "err", err)
			}})
		if err != nil {
			return fmt.Errorf("caregiver of %s: %w", p.ID, err)
		}
		v.conns = append(v.conns, c)
		tok := c.client.Subscribe(AlertTopic(creds.Farm, p.ID), 1, func(_ mqtt.Client, msg mqtt.Message) {
			v.receive(time.Now(), msg.Payload())
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return fmt.Errorf("caregiver of %s: subscribe %s: %w", p.ID, AlertTopic(creds.Farm, p.ID), errors.Join(tok.Error(), errTimeout(tok)))
		}
		if st, ok := tok.(*mqtt.SubscribeToken); ok {
			for topic, qos := range st.Result() {
				if qos == 0x80 {
					return fmt.Errorf("caregiver of %s: subscribe %s refused", p.ID, topic)
				}
			}
		}
	}
	return nil
}

func errTimeout(t mqtt.Token) error {
	select {
	case <-t.Done():
		return nil
	default:
		return errors.New("timed out")
	}
}

// Close disconnects the caregivers.
func (v *Verifier) Close() {
	for _, c := range v.conns {
		c.client.Disconnect(250)
	}
}

func (v *Verifier) receive(now time.Time, payload []byte) {
	var a Alert
	if err := json.Unmarshal(payload, &a.Event); err != nil {
		v.log.Warn("undecodable alert", "err", err, "payload", string(payload))
		return
	}
	a.Received = now
	v.mu.Lock()
	defer v.mu.Unlock()
	key := a.ID
	if key == "" {
		key = a.Patient + "/" + a.Rule + "/" + a.Started.String()
	}
	// Every state change is a message; only the first one of an alert
	// (normally "active") is a new alert.
	if v.seen[key] || (a.State != "" && a.State != "active") {
		v.seen[key] = true
		return
	}
	v.seen[key] = true
	if !v.started {
		v.preexist++
		return
	}
	v.judge(&a)
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

// judge files an alert: the detection of a scenario, a secondary alert
// during one, or a false alert.
func (v *Verifier) judge(a *Alert) {
	ts, hasTS := a.TS, !a.TS.IsZero()
	var best *Scenario
	for _, s := range v.fleet.Scenarios {
		ms := v.marks[s]
		if s.Person != a.Patient || s.Rule != a.Rule || len(ms) == 0 || ms[0].wall.After(a.Received) || v.results[s] != nil {
			continue
		}
		if best == nil || s.Onset.Before(best.Onset) {
			best = s
		}
	}
	if best != nil {
		ms := v.marks[best]
		from := ms[0]
		if hasTS {
			// The message that completed the rule's condition: the last
			// scenario message at or before the alert's event time.
			for _, m := range ms {
				if m.at.After(ts) || m.wall.After(a.Received) {
					break
				}
				from = m
			}
		}
		v.results[best] = &ScenarioResult{Scenario: best, Detected: true, Alert: a, Latency: a.Received.Sub(from.wall)}
		return
	}
	for _, s := range v.fleet.Scenarios {
		ms := v.marks[s]
		if s.Person != a.Patient || len(ms) == 0 || ms[0].wall.After(a.Received) {
			continue
		}
		inEvent := hasTS && !ts.Before(s.Onset) && ts.Before(s.End().Add(15*time.Minute))
		inWall := a.Received.Before(ms[len(ms)-1].wall.Add(2 * time.Minute))
		if inEvent || inWall {
			v.secondary = append(v.secondary, a)
			return
		}
	}
	v.false_ = append(v.false_, a)
}

// Wait returns once every scenario was detected (plus a short settle time
// for late false alerts) or after timeout.
func (v *Verifier) Wait(ctx context.Context, timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		v.mu.Lock()
		done := len(v.results) == len(v.fleet.Scenarios)
		v.mu.Unlock()
		if done {
			settle := time.NewTimer(min(3*time.Second, timeout))
			defer settle.Stop()
			select {
			case <-settle.C:
			case <-deadline.C:
			case <-ctx.Done():
			}
			return
		}
		select {
		case <-v.changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// Summary computes the verdicts so far.
func (v *Verifier) Summary() Summary {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := Summary{Scenarios: len(v.fleet.Scenarios), Preexisting: v.preexist}
	var lat []time.Duration
	for _, sc := range v.fleet.Scenarios {
		if r := v.results[sc]; r != nil {
			s.Results = append(s.Results, *r)
			s.Detected++
			lat = append(lat, r.Latency)
		} else {
			s.Results = append(s.Results, ScenarioResult{Scenario: sc})
			s.Missed++
		}
	}
	s.Secondary = append(s.Secondary, v.secondary...)
	s.False = append(s.False, v.false_...)
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		s.P99Latency = lat[int(math.Ceil(0.99*float64(len(lat))))-1]
	}
	return s
}

// Write prints the report; its last line is the machine-readable summary.
func (s Summary) Write(w io.Writer) {
	for _, r := range s.Results {
		if r.Detected {
			fmt.Fprintf(w, "DETECTED %-36s rule=%s alert=%s severity=%s latency_ms=%d\n",
				r.Scenario, r.Scenario.Rule, r.Alert.ID, r.Alert.Severity, r.Latency.Milliseconds())
		} else {
			fmt.Fprintf(w, "MISSED   %-36s rule=%s\n", r.Scenario, r.Scenario.Rule)
		}
	}
	for _, a := range s.Secondary {
		fmt.Fprintf(w, "SECONDARY patient=%s rule=%s severity=%s alert=%s\n", a.Patient, a.Rule, a.Severity, a.ID)
	}
	for _, a := range s.False {
		fmt.Fprintf(w, "FALSE    patient=%s rule=%s severity=%s alert=%s ts=%s message=%q\n", a.Patient, a.Rule, a.Severity, a.ID,
			a.TS.UTC().Format(time.RFC3339Nano), a.Message)
	}
	if s.Preexisting > 0 {
		fmt.Fprintf(w, "(ignored %d alerts already active before the run)\n", s.Preexisting)
	}
	fmt.Fprintf(w, "scenarios=%d detected=%d missed=%d false_alerts=%d p99_latency_ms=%d\n",
		s.Scenarios, s.Detected, s.Missed, len(s.False), s.P99Latency.Milliseconds())
}
