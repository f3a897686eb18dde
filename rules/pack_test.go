package rules

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

func TestShippedPacks(t *testing.T) {
	p, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatalf("load shipped packs: %v", err)
	}
	for _, prof := range []string{"adult", "elderly", "infant"} {
		if len(p.ForProfile(prof)) == 0 {
			t.Errorf("profile %s has no rules", prof)
		}
	}
	for _, r := range p.Rules {
		// Vital-sign rules cite docs/clinical.md, context rules
		// docs/context.md; the docs test checks that the section exists.
		if !strings.HasPrefix(r.Source, "docs/clinical.md#") && !strings.HasPrefix(r.Source, "docs/context.md#") {
			t.Errorf("%s:%d rule %s does not start its source with its section of docs/clinical.md or docs/context.md: %q", r.File, r.Line, r.ID, r.Source)
		}
	}
	files, _ := filepath.Glob("../configs/rules/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "# medbiz is a monitoring aid, not a medical device") {
			t.Errorf("%s does not start with the not-a-medical-device notice", f)
		}
	}
	// Rules every profile must have (docs/clinical.md#rules).
	want := map[string][]string{
		"elderly": {"shock", "hypertensive", "hypotension", "fever", "hypothermia", "sepsis_screen", "hypoglycemia", "spo2_low", "fall_no_motion", "sos", "no_data", "device_offline", "ecg_asystole", "ecg_signal_poor"},
		"adult":   {"shock", "hypertensive", "hypotension", "fever", "hypothermia", "sepsis_screen", "hypoglycemia", "spo2_low", "fall_no_motion", "sos", "no_data", "device_offline", "ecg_asystole"},
		"infant":  {"fever", "hypothermia", "spo2_low", "bradycardia", "tachycardia", "apnea", "apnea_reported", "sos", "no_data", "device_offline", "ecg_asystole"},
	}
	for prof, ids := range want {
		have := map[string]bool{}
		for _, r := range p.ForProfile(prof) {
			have[r.ID] = true
		}
		for _, id := range ids {
			if !have[id] {
				t.Errorf("profile %s lacks rule %s", prof, id)
			}
		}
	}
}

const goodRule = `# medbiz is a monitoring aid, not a medical device.
rules:
  - id: low_hr
    profiles: [adult]
    severity: warning
    when: hr < limit
    clear: hr > limit + 5
    params: {limit: 40}
    message: "hr {{hr}}"
    source: "docs/clinical.md#hr_abnormal test"
`

func TestPackErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"syntax", strings.Replace(goodRule, "hr < limit", "hr < < limit", 1), "bad.yaml:6:"},
		{"unknown metric", strings.Replace(goodRule, "hr < limit", "pulse < limit", 1), "bad.yaml:6:"},
		{"unknown window metric", strings.Replace(goodRule, "hr < limit", "min(pulse, \"10s\") < limit", 1), "unknown metric"},
		{"bad window", strings.Replace(goodRule, "hr < limit", "min(hr, \"ten\") < limit", 1), "bad window"},
		{"negation in raise", strings.Replace(goodRule, "hr < limit", `"!(hr >= limit)"`, 1), "negation"},
		{"not-equal in raise", strings.Replace(goodRule, "hr < limit", "hr != 60", 1), "not allowed"},
		{"bool equality in raise", strings.Replace(goodRule, "hr < limit", "(hr >= limit) == false", 1), "truth values"},
		{"ternary in raise", strings.Replace(goodRule, "hr < limit", `"hr >= limit ? false : true"`, 1), "?:"},
		{"int conversion", strings.Replace(goodRule, "hr < limit", "int(hr) < limit", 1), "bad.yaml:6:"},
		{"not bool", strings.Replace(goodRule, "hr < limit", "hr + 1", 1), "bad.yaml:6:"},
		{"bad severity", strings.Replace(goodRule, "severity: warning", "severity: urgent", 1), "bad.yaml:5:"},
		{"no source", strings.Replace(goodRule, `    source: "docs/clinical.md#hr_abnormal test"`+"\n", "", 1), "source"},
		{"no clear", strings.Replace(goodRule, "    clear: hr > limit + 5\n", "", 1), "clear"},
		{"bad placeholder", strings.Replace(goodRule, "hr {{hr}}", "hr {{pulse}}", 1), "bad.yaml:9:"},
		{"bad id", strings.Replace(goodRule, "id: low_hr", "id: Low HR", 1), "bad.yaml:3:"},
		{"param shadows metric", strings.Replace(goodRule, "{limit: 40}", "{hr: 40}", 1), "shadows"},
		{"window from param", strings.Replace(goodRule, "hr < limit", "min(hr, limit) < 40", 1), "literal"},
		{"bad yaml", goodRule + "  - [\n", "bad.yaml"},
		{"second line of a block", strings.Replace(goodRule, "when: hr < limit", "when: |\n      hr < limit &&\n      pulse > 1", 1), "bad.yaml:8:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePack("bad.yaml", []byte(c.body))
			if err == nil {
				t.Fatalf("pack compiled:\n%s", c.body)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
	if _, err := ParsePack("good.yaml", []byte(goodRule)); err != nil {
		t.Fatalf("good rule rejected: %v", err)
	}
}

// TestBadPackKeepsOldPack is the reload path: a broken file in the rules
// directory is reported with its file and line, and the engine keeps
// alerting with the pack it had.
func TestBadPackKeepsOldPack(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "adult.yaml"), []byte(goodRule), 0o644); err != nil {
		t.Fatal(err)
	}
	good, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)}
	eng := NewEngine(good, clock, Options{})

	broken := strings.Replace(goodRule, "hr < limit", "hr < limit &&", 1)
	if err := os.WriteFile(filepath.Join(dir, "adult.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	reload := func() {
		p, err := LoadDir(dir)
		if err != nil {
			if !strings.Contains(err.Error(), filepath.Join(dir, "adult.yaml")+":6:") {
				t.Errorf("reload error does not name file and line: %v", err)
			}
			return // the caller keeps its pack
		}
		eng.SetPack(p)
	}
	reload()
	evs := eng.Observe(PatientInfo{Farm: "f1", ID: "p1", Profile: "adult"},
		[]telemetry.Measurement{{Time: clock.t, Metric: "hr", Value: 30}})
	if len(evs) != 1 || evs[0].Rule != "low_hr" || evs[0].Message != "hr 30" {
		t.Fatalf("old pack not alerting after failed reload: %+v", evs)
	}
}

func TestDuplicateRuleRejected(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.yaml", "b.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(goodRule), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Fatalf("duplicate rule accepted: %v", err)
	}
}

// TestMissingNeverAlarms: every shipped raise condition is false when the
// patient has no fresh value at all, and when values are stale.
func TestMissingNeverAlarms(t *testing.T) {
	pack, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for _, prof := range []string{"adult", "elderly", "infant"} {
		clock := &fakeClock{t: start}
		eng := NewEngine(pack, clock, Options{})
		info := PatientInfo{Farm: "f", ID: "p", Profile: prof, BirthDate: start.AddDate(0, -1, 0)}
		// Abnormal values, then 7 hours of nothing but battery reports: all
		// vitals are stale by then.
		st := eng.state(info)
		for _, m := range metricNames {
			eng.add(st, m, point{start.UnixNano(), 0})
		}
		for _, r := range pack.ForProfile(prof) {
			if r.Kind != KindExpr {
				continue
			}
			later := start.Add(7 * time.Hour)
			st.now = later.UnixNano()
			st.fill(later)
			st.cur = st.rule(r.ID)
			st.resolveParams(r)
			if eng.run(st, r.when, r) {
				t.Errorf("%s rule %s raises on stale data", prof, r.ID)
			}
		}
		// And on a patient with no data at all.
		empty := &patientState{Series: map[string]*series{}, Rules: map[string]*ruleState{}}
		empty.attach(eng)
		empty.Info = info
		empty.now = start.UnixNano()
		empty.fill(start)
		for _, r := range pack.ForProfile(prof) {
			if r.Kind != KindExpr {
				continue
			}
			empty.cur = empty.rule(r.ID)
			empty.resolveParams(r)
			if eng.run(empty, r.when, r) {
				t.Errorf("%s rule %s raises with no data", prof, r.ID)
			}
		}
	}
}

func TestOverrides(t *testing.T) {
	pack, err := ParsePack("adult.yaml", []byte(goodRule))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	eng := NewEngine(pack, &fakeClock{t: start}, Options{})
	obs := func(id string, ov map[string]float64) []Event {
		return eng.Observe(PatientInfo{Farm: "f", ID: id, Profile: "adult", Overrides: ov},
			[]telemetry.Measurement{{Time: start, Metric: "hr", Value: 45}})
	}
	if evs := obs("a", nil); len(evs) != 0 {
		t.Errorf("hr 45 alarmed with the default limit 40: %+v", evs)
	}
	if evs := obs("b", map[string]float64{"limit": 50}); len(evs) != 1 {
		t.Errorf("plain override limit=50 ignored: %+v", evs)
	}
	if evs := obs("c", map[string]float64{"limit": 50, "low_hr.limit": 30}); len(evs) != 0 {
		t.Errorf("rule-scoped override must win over the plain one: %+v", evs)
	}
}

func TestFreshnessOption(t *testing.T) {
	pack, err := ParsePack("adult.yaml", []byte(goodRule))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	eng := NewEngine(pack, &fakeClock{t: start}, Options{Freshness: map[string]time.Duration{"hr": 10 * time.Second}})
	st := eng.state(PatientInfo{Farm: "f", ID: "p", Profile: "adult"})
	eng.add(st, "hr", point{start.UnixNano(), 30})
	st.now = start.Add(11 * time.Second).UnixNano()
	st.fill(start.Add(11 * time.Second))
	if !math.IsNaN(st.env.HR) {
		t.Errorf("hr 11 s old with a 10 s freshness is %v, want missing", st.env.HR)
	}
}
