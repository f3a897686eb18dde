package rules

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// hotRule reads context with every helper kind, to exercise them on one
// engine.
const hotRule = `# medbiz is a monitoring aid, not a medical device.
rules:
  - id: hot
    profiles: [elderly]
    severity: warning
    when: ctx("heat_index") >= hot && ctx_count("heat_index", "6h") >= 2 && hr > 60
    clear: ctx_max("heat_index", "6h") < hot
    params: {hot: 33}
    message: "heat index {{heat_index}} °C, hr {{hr}}"
    source: "test"
`

func ctxAt(d time.Duration, metric string, v float64) telemetry.Measurement {
	return telemetry.Measurement{Time: t0.Add(d), Metric: metric, Value: v}
}

func hotEngine(t *testing.T) (*Engine, *fakeClock) {
	t.Helper()
	p, err := ParsePack("hot.yaml", []byte(hotRule))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: t0}
	return NewEngine(p, clock, Options{}), clock
}

func TestContextRaisesForPatientsOfTheRegionOnly(t *testing.T) {
	eng, _ := hotEngine(t)
	if err := eng.ObserveContext("seoul", []telemetry.Measurement{
		ctxAt(-time.Hour, telemetry.HeatIndex, 34), ctxAt(0, telemetry.HeatIndex, 35.2),
	}); err != nil {
		t.Fatal(err)
	}
	inSeoul := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "seoul"}
	inBusan := PatientInfo{Farm: "f1", ID: "p2", Profile: "elderly", Region: "busan"}
	nowhere := PatientInfo{Farm: "f1", ID: "p3", Profile: "elderly"}
	evs := eng.Observe(inSeoul, []telemetry.Measurement{m(time.Minute, "hr", 80)})
	if len(evs) != 1 || evs[0].Rule != "hot" || evs[0].State != StateActive {
		t.Fatalf("seoul: %+v", evs)
	}
	// The caregiver sees the context next to the vitals.
	if evs[0].Values["heat_index"] != 35.2 || evs[0].Values["hr"] != 80 || evs[0].Message != "heat index 35.2 °C, hr 80" {
		t.Errorf("values %v, message %q", evs[0].Values, evs[0].Message)
	}
	for _, p := range []PatientInfo{inBusan, nowhere} {
		if evs := eng.Observe(p, []telemetry.Measurement{m(time.Minute, "hr", 80)}); len(evs) != 0 {
			t.Errorf("%s (region %q): %+v", p.ID, p.Region, evs)
		}
	}
}

func TestStaleContextIsMissing(t *testing.T) {
	eng, _ := hotEngine(t)
	if err := eng.ObserveContext("seoul", []telemetry.Measurement{
		ctxAt(-5*time.Hour, telemetry.HeatIndex, 34), ctxAt(-4*time.Hour, telemetry.HeatIndex, 36),
	}); err != nil {
		t.Fatal(err)
	}
	p := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "seoul"}
	// Four hours old is past DefaultContextFreshness: ctx() is NaN although
	// the window still holds both readings.
	if evs := eng.Observe(p, []telemetry.Measurement{m(0, "hr", 80)}); len(evs) != 0 {
		t.Errorf("stale context raised %+v", evs)
	}
	// Options.Freshness reaches context metrics too.
	p2, _ := ParsePack("hot.yaml", []byte(hotRule))
	lenient := NewEngine(p2, &fakeClock{t: t0}, Options{Freshness: map[string]time.Duration{telemetry.HeatIndex: 5 * time.Hour}})
	if err := lenient.ObserveContext("seoul", []telemetry.Measurement{
		ctxAt(-5*time.Hour, telemetry.HeatIndex, 34), ctxAt(-4*time.Hour, telemetry.HeatIndex, 36),
	}); err != nil {
		t.Fatal(err)
	}
	if evs := lenient.Observe(p, []telemetry.Measurement{m(0, "hr", 80)}); len(evs) != 1 {
		t.Errorf("with 5h freshness: %+v", evs)
	}
}

func TestObserveContextKeepsGoodReadingsAndNamesBadOnes(t *testing.T) {
	eng, _ := hotEngine(t)
	err := eng.ObserveContext("seoul", []telemetry.Measurement{
		ctxAt(-time.Hour, telemetry.HeatIndex, 34),
		ctxAt(-time.Hour, "hr", 80),                             // a vital is not context
		{Metric: telemetry.HeatIndex, Value: 40},                // no time
		ctxAt(-30*time.Minute, telemetry.HeatIndex, math.NaN()), // not a number
		ctxAt(-20*time.Minute, telemetry.Humidity, 140),         // impossible
		ctxAt(0, telemetry.HeatIndex, 35),
	})
	if err == nil {
		t.Fatal("bad readings accepted silently")
	}
	for _, want := range []string{"seoul", `"hr" is not a context metric`, "heat_index: no time", "heat_index: NaN", "humidity: 140 outside 0..100"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The two good readings are there: count >= 2 holds and the rule fires.
	p := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "seoul"}
	if evs := eng.Observe(p, []telemetry.Measurement{m(time.Minute, "hr", 80)}); len(evs) != 1 {
		t.Errorf("good readings lost: %+v", evs)
	}
	if err := eng.ObserveContext("", []telemetry.Measurement{ctxAt(0, telemetry.HeatIndex, 35)}); err == nil {
		t.Error("empty region accepted")
	}
}

func TestContextRepeatedReadingReplaces(t *testing.T) {
	eng, _ := hotEngine(t)
	p := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "seoul"}
	// The same observation delivered three times is one reading: the rule
	// wants two in six hours and stays quiet.
	for i := 0; i < 3; i++ {
		if err := eng.ObserveContext("seoul", []telemetry.Measurement{ctxAt(0, telemetry.HeatIndex, 35)}); err != nil {
			t.Fatal(err)
		}
	}
	if evs := eng.Observe(p, []telemetry.Measurement{m(time.Minute, "hr", 80)}); len(evs) != 0 {
		t.Fatalf("a repeated reading counted twice: %+v", evs)
	}
	if n := len(eng.regions["seoul"].Series[telemetry.HeatIndex].Pts); n != 1 {
		t.Errorf("%d points held for one observation", n)
	}
	// A corrected value at the same instant replaces the old one.
	if err := eng.ObserveContext("seoul", []telemetry.Measurement{ctxAt(0, telemetry.HeatIndex, 31)}); err != nil {
		t.Fatal(err)
	}
	if v := eng.regions["seoul"].Series[telemetry.HeatIndex].Pts[0].V; v != 31 {
		t.Errorf("value after correction %v", v)
	}
}

func TestContextHistoryIsTrimmed(t *testing.T) {
	eng, _ := hotEngine(t)
	// A week of hourly readings; the rule reads 6 h, freshness is 3 h, skew
	// 2 min: a little over 6 h is kept.
	for h := 0; h < 7*24; h++ {
		if err := eng.ObserveContext("seoul", []telemetry.Measurement{ctxAt(time.Duration(h)*time.Hour, telemetry.HeatIndex, 30)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(eng.regions["seoul"].Series[telemetry.HeatIndex].Pts); n != 7 {
		t.Errorf("%d hourly points kept, want 7 (6 h window + skew)", n)
	}
}

func TestCtxMaxPrevReadsTheWindowBefore(t *testing.T) {
	pack, err := ParsePack("two.yaml", []byte(`# medbiz is a monitoring aid, not a medical device.
rules:
  - id: two_days
    profiles: [elderly]
    severity: warning
    when: ctx_max("apparent_temp", "24h") >= 33 && ctx_max_prev("apparent_temp", "24h") >= 33 && hr > 0
    clear: hr > 0
    message: "two hot days"
    source: "test"
`))
	if err != nil {
		t.Fatal(err)
	}
	p := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "r"}
	cases := []struct {
		name  string
		at    []time.Duration // hot readings, offsets from t0; the evaluation is at 48h
		fires bool
	}{
		{"hot yesterday and today", []time.Duration{10 * time.Hour, 34 * time.Hour}, true},
		{"hot today only", []time.Duration{30 * time.Hour, 40 * time.Hour}, false},
		{"hot yesterday only", []time.Duration{2 * time.Hour, 20 * time.Hour}, false},
		// (0, 24h] is yesterday, (24h, 48h] today: the boundary reading
		// belongs to yesterday.
		{"boundary", []time.Duration{24 * time.Hour, 47 * time.Hour}, true},
		{"too old for yesterday", []time.Duration{0, 47 * time.Hour}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eng := NewEngine(pack, &fakeClock{t: t0}, Options{})
			var ms []telemetry.Measurement
			for h := time.Duration(0); h <= 48*time.Hour; h += time.Hour {
				v := 25.0
				for _, a := range c.at {
					if a == h {
						v = 34
					}
				}
				ms = append(ms, ctxAt(h, telemetry.ApparentTemp, v))
			}
			if err := eng.ObserveContext("r", ms); err != nil {
				t.Fatal(err)
			}
			evs := eng.Observe(p, []telemetry.Measurement{m(48*time.Hour, "hr", 70)})
			if (len(evs) == 1) != c.fires {
				t.Errorf("events %+v, want fired=%v", evs, c.fires)
			}
		})
	}
}

func TestContextCompileErrors(t *testing.T) {
	cases := []struct{ when, want string }{
		{`ctx("hr") > 1`, `unknown context metric "hr"`},
		{`ctx("pm2.5") > 1`, "unknown context metric"},
		{`ctx(heat_index) > 1`, "must be a quoted literal"},
		{`ctx_max("aqi", "49h") > 1`, "longer than 48h"},
		{`ctx_max_prev("aqi", "25h") > 1`, "twice its window"},
		{`ctx_max("aqi") > 1`, "takes 2 arguments"},
		{`ctx_max("aqi", limit) > 1`, "literal"},
	}
	for _, c := range cases {
		body := strings.Replace(goodRule, "hr < limit", c.when, 1)
		if _, err := ParsePack("bad.yaml", []byte(body)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.when, err, c.want)
		}
	}
	bad := strings.Replace(goodRule, "hr {{hr}}", "hr {{heat}}", 1)
	if _, err := ParsePack("bad.yaml", []byte(bad)); err == nil {
		t.Error("unknown placeholder accepted")
	}
	ok := strings.Replace(goodRule, "hr {{hr}}", "hr {{hr}} in {{aqi}}", 1)
	if _, err := ParsePack("ok.yaml", []byte(ok)); err != nil {
		t.Errorf("context placeholder rejected: %v", err)
	}
}

func TestSnapshotKeepsContext(t *testing.T) {
	a, clock := hotEngine(t)
	if err := a.ObserveContext("seoul", []telemetry.Measurement{
		ctxAt(-time.Hour, telemetry.HeatIndex, 34), ctxAt(0, telemetry.HeatIndex, 35),
	}); err != nil {
		t.Fatal(err)
	}
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hotEngine(t)
	b.clock = clock
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	p := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "seoul"}
	if evs := b.Observe(p, []telemetry.Measurement{m(time.Minute, "hr", 80)}); len(evs) != 1 {
		t.Fatalf("restored context not read: %+v", evs)
	}
	// A snapshot written before context existed restores with none.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(snap, &raw); err != nil {
		t.Fatal(err)
	}
	delete(raw, "context")
	old, _ := json.Marshal(raw)
	c, _ := hotEngine(t)
	if err := c.Restore(old); err != nil {
		t.Fatalf("snapshot without context: %v", err)
	}
	if evs := c.Observe(p, []telemetry.Measurement{m(time.Minute, "hr", 80)}); len(evs) != 0 {
		t.Errorf("context from nowhere: %+v", evs)
	}
	if err := c.Restore([]byte(`{"version":1,"patients":{},"context":{"seoul":null}}`)); err == nil {
		t.Error("null region accepted")
	}
}

// TestNormalDayInAHeatWave replays the ordinary elderly day of
// TestNormalDayNoAlert in the middle of a heat wave with poor air: the
// context rules need the person's own signs, so nothing is raised.
func TestNormalDayInAHeatWave(t *testing.T) {
	ms := normalDay("elderly", 42)
	start := ms[0].Time.Truncate(24 * time.Hour)
	clock := &fakeClock{t: start}
	eng := NewEngine(shipped(t), clock, Options{})
	var ctx []telemetry.Measurement
	for h := -48 * time.Hour; h <= 24*time.Hour; h += time.Hour {
		ctx = append(ctx,
			telemetry.Measurement{Time: start.Add(h), Metric: telemetry.ApparentTemp, Value: 35},
			telemetry.Measurement{Time: start.Add(h), Metric: telemetry.AQI, Value: 160})
	}
	info := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly", Region: "seoul"}
	k := 0
	for i := 0; i < len(ms); {
		j := i
		for j < len(ms) && ms[j].Time.Equal(ms[i].Time) {
			j++
		}
		// Context arrives as the hours pass, as from a live feed.
		n := k
		for n < len(ctx) && !ctx[n].Time.After(ms[i].Time) {
			n++
		}
		if n > k {
			if err := eng.ObserveContext("seoul", ctx[k:n]); err != nil {
				t.Fatal(err)
			}
			k = n
		}
		clock.Set(ms[i].Time)
		for _, e := range append(eng.Observe(info, ms[i:j]), eng.Tick(ms[i].Time)...) {
			t.Errorf("normal day in a heat wave raised %s %s at %s: %s", e.Rule, e.State, e.TS.Format("15:04"), e.Message)
		}
		i = j
	}
	// The heat wave was visible to the rules all along.
	if got := eng.regions["seoul"].Series[telemetry.ApparentTemp]; len(got.Pts) < 48 {
		t.Errorf("only %d hours of context held", len(got.Pts))
	}
}
