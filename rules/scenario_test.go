package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/medbiz/medbiz/telemetry"
)

// fakeClock is the injected wall clock of every test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// track is a regularly sampled signal of a scenario: piecewise constant
// values from each offset on, one sample every Every from From to To.
type track struct {
	Metric string             `yaml:"metric"`
	Source string             `yaml:"source"`
	Region string             `yaml:"region"` // context tracks: default the patient's region
	Every  string             `yaml:"every"`
	From   string             `yaml:"from"`
	To     string             `yaml:"to"`
	Values map[string]float64 `yaml:"values"`
}

// scenario is one golden file of testdata/scenarios: a patient, what their
// devices send, and every alert event a caregiver must see, in order.
type scenario struct {
	Name      string             `yaml:"name"`
	Profile   string             `yaml:"profile"`
	BirthDate string             `yaml:"birth_date"`
	Start     time.Time          `yaml:"start"`
	Overrides map[string]float64 `yaml:"overrides"`
	// Region is the patient's region; Context are tracks of public context
	// readings fed to the engine per region (ObserveContext) before the
	// patient's measurements of the same instant.
	Region  string  `yaml:"region"`
	Tracks  []track `yaml:"tracks"`
	Context []track `yaml:"context"`
	Points  []struct {
		At     string             `yaml:"at"`
		Values map[string]float64 `yaml:"values"`
	} `yaml:"points"`
	Events []struct {
		At   string `yaml:"at"`
		Kind string `yaml:"kind"`
		// Delay delivers the event this long after its timestamp.
		Delay string `yaml:"delay"`
	} `yaml:"events"`
	// Status is what the broker's status hook reports (MQTT will message or
	// reconnect).
	Status []struct {
		At     string `yaml:"at"`
		Device string `yaml:"device"`
		Online bool   `yaml:"online"`
	} `yaml:"status"`
	Acks []struct {
		At   string `yaml:"at"`
		Rule string `yaml:"rule"`
		By   string `yaml:"by"`
	} `yaml:"acks"`
	Tick   string `yaml:"tick"`
	End    string `yaml:"end"`
	Expect []struct {
		At         string `yaml:"at"`
		Rule       string `yaml:"rule"`
		Severity   string `yaml:"severity"`
		State      string `yaml:"state"`
		Escalation int    `yaml:"escalation"`
	} `yaml:"expect"`
}

func mustDur(t *testing.T, s string) time.Duration {
	t.Helper()
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("bad duration %q: %v", s, err)
	}
	return d
}

type statusChange struct {
	device string
	online bool
}

type instant struct {
	ctx    map[string][]telemetry.Measurement // by region
	ms     []telemetry.Measurement
	status []statusChange
	acks   []string // rule ids
	by     []string
	tick   bool
}

// runScenario replays a scenario against the pure engine, with the wall
// clock following event time (a live patient), and returns the events as
// "offset rule severity state [escN]" lines.
func runScenario(t *testing.T, pack *Pack, sc *scenario) []string {
	t.Helper()
	start := sc.Start
	if start.IsZero() {
		start = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	}
	info := PatientInfo{Farm: "f1", ID: "p1", Profile: sc.Profile, Overrides: sc.Overrides, Region: sc.Region}
	if sc.BirthDate != "" {
		bd, err := time.Parse("2006-01-02", sc.BirthDate)
		if err != nil {
			t.Fatalf("birth_date: %v", err)
		}
		info.BirthDate = bd
	}
	at := map[time.Duration]*instant{}
	get := func(d time.Duration) *instant {
		if at[d] == nil {
			at[d] = &instant{}
		}
		return at[d]
	}
	var last time.Duration
	for _, tr := range sc.Tracks {
		for d, m := range sample(t, tr, start) {
			get(d).ms = append(get(d).ms, m)
			last = max(last, d)
		}
	}
	for _, tr := range sc.Context {
		region := tr.Region
		if region == "" {
			region = sc.Region
		}
		if region == "" {
			t.Fatalf("context track %s: no region (set region on the track or the scenario)", tr.Metric)
		}
		for d, m := range sample(t, tr, start) {
			in := get(d)
			if in.ctx == nil {
				in.ctx = map[string][]telemetry.Measurement{}
			}
			in.ctx[region] = append(in.ctx[region], m)
		}
	}
	for _, p := range sc.Points {
		d := mustDur(t, p.At)
		names := make([]string, 0, len(p.Values))
		for k := range p.Values {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			get(d).ms = append(get(d).ms, telemetry.Measurement{Time: start.Add(d), Metric: k, Value: p.Values[k]})
		}
		last = max(last, d)
	}
	for _, ev := range sc.Events {
		d := mustDur(t, ev.At)
		sent := d + mustDur(t, ev.Delay)
		get(sent).ms = append(get(sent).ms, telemetry.Measurement{Time: start.Add(d), Metric: telemetry.Event, Value: 1, Text: ev.Kind})
		last = max(last, sent)
	}
	for _, st := range sc.Status {
		d := mustDur(t, st.At)
		get(d).status = append(get(d).status, statusChange{st.Device, st.Online})
		last = max(last, d)
	}
	for _, a := range sc.Acks {
		in := get(mustDur(t, a.At))
		in.acks = append(in.acks, a.Rule)
		in.by = append(in.by, a.By)
	}
	end := last + 2*time.Minute
	if sc.End != "" {
		end = mustDur(t, sc.End)
	}
	tick := time.Second
	if sc.Tick != "" {
		tick = mustDur(t, sc.Tick)
	}
	for d := time.Duration(0); d <= end; d += tick {
		get(d).tick = true
	}
	offsets := make([]time.Duration, 0, len(at))
	for d := range at {
		offsets = append(offsets, d)
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })

	clock := &fakeClock{t: start}
	eng := NewEngine(pack, clock, Options{})
	var got []string
	emit := func(evs ...Event) {
		for _, e := range evs {
			if e.Farm != "f1" || e.Patient != "p1" || e.ID == "" || e.Message == "" {
				t.Errorf("malformed event %+v", e)
			}
			line := fmt.Sprintf("%s %s %s %s", e.TS.Sub(start), e.Rule, e.Severity, e.State)
			if e.Escalation > 0 {
				line += fmt.Sprintf(" esc%d", e.Escalation)
			}
			got = append(got, line)
		}
	}
	for _, d := range offsets {
		in := at[d]
		clock.Set(start.Add(d))
		regions := make([]string, 0, len(in.ctx))
		for r := range in.ctx {
			regions = append(regions, r)
		}
		sort.Strings(regions)
		for _, r := range regions {
			if err := eng.ObserveContext(r, in.ctx[r]); err != nil {
				t.Fatalf("context at %s: %v", d, err)
			}
		}
		if len(in.ms) > 0 {
			emit(eng.Observe(info, in.ms)...)
		}
		for _, chg := range in.status {
			if chg.online {
				emit(eng.DeviceOnline(info, chg.device, start.Add(d))...)
			} else {
				emit(eng.DeviceOffline(info, chg.device, start.Add(d))...)
			}
		}
		for i, rule := range in.acks {
			found := false
			for _, a := range eng.Active("f1", "p1") {
				if a.Rule == rule {
					ev, err := eng.Ack("f1", "p1", a.ID, in.by[i], start.Add(d))
					if err != nil {
						t.Fatalf("ack %s at %s: %v", rule, d, err)
					}
					emit(ev)
					found = true
				}
			}
			if !found {
				t.Fatalf("ack at %s: no open alert of rule %s", d, rule)
			}
		}
		if in.tick {
			emit(eng.Tick(start.Add(d))...)
		}
	}
	return got
}

// sample expands a track into its measurements by offset.
func sample(t *testing.T, tr track, start time.Time) map[time.Duration]telemetry.Measurement {
	t.Helper()
	every, from, to := mustDur(t, tr.Every), mustDur(t, tr.From), mustDur(t, tr.To)
	if every <= 0 {
		t.Fatalf("track %s: every must be > 0", tr.Metric)
	}
	type bp struct {
		at time.Duration
		v  float64
	}
	var bps []bp
	for k, v := range tr.Values {
		bps = append(bps, bp{mustDur(t, k), v})
	}
	sort.Slice(bps, func(i, j int) bool { return bps[i].at < bps[j].at })
	out := map[time.Duration]telemetry.Measurement{}
	for d := from; d <= to; d += every {
		v, ok := 0.0, false
		for _, b := range bps {
			if b.at <= d {
				v, ok = b.v, true
			}
		}
		if ok {
			out[d] = telemetry.Measurement{Time: start.Add(d), Metric: tr.Metric, Value: v, Source: tr.Source}
		}
	}
	return out
}

func TestGoldenScenarios(t *testing.T) {
	pack, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatalf("load packs: %v", err)
	}
	files, err := filepath.Glob("testdata/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var sc scenario
			dec := yaml.NewDecoder(strings.NewReader(string(data)))
			dec.KnownFields(true)
			if err := dec.Decode(&sc); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			got := runScenario(t, pack, &sc)
			var want []string
			for _, e := range sc.Expect {
				line := fmt.Sprintf("%s %s %s %s", mustDur(t, e.At), e.Rule, e.Severity, e.State)
				if e.Escalation > 0 {
					line += fmt.Sprintf(" esc%d", e.Escalation)
				}
				want = append(want, line)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s (%s)\n got:\n  %s\nwant:\n  %s", f, sc.Name, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}
