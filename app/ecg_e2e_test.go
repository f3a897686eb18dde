package app_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/internal/testkit"
	"github.com/medbiz/medbiz/processors/ecg"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
	"github.com/medbiz/medbiz/rules"
)

// mitRecord is the first signal of a MIT-BIH record in mV and its
// reference beats (sample indices).
type mitRecord struct {
	name  string
	fs    float64
	x     []float32
	beats []int64
}

func loadMITRecord(t *testing.T, dir, name string) mitRecord {
	t.Helper()
	h, err := wfdb.ReadHeader(filepath.Join(dir, name+".hea"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := h.ReadSignals()
	if err != nil {
		t.Fatal(err)
	}
	ann, err := wfdb.ReadAnnotations(filepath.Join(dir, name+".atr"))
	if err != nil {
		t.Fatal(err)
	}
	r := mitRecord{name: name, fs: h.FS, x: h.Physical(0, sig[0])}
	for _, a := range ann {
		if wfdb.IsBeat(a.Code) {
			r.beats = append(r.beats, a.Sample)
		}
	}
	return r
}

// rate is the reference rate in beat/min of the annotated beats between
// from and to seconds into the record.
func (r mitRecord) rate(from, to float64) float64 {
	var first, last int64 = -1, -1
	n := 0
	for _, b := range r.beats {
		s := float64(b) / r.fs
		if s < from || s > to {
			continue
		}
		if first < 0 {
			first = b
		}
		last = b
		n++
	}
	if n < 2 {
		return math.NaN()
	}
	return 60 * float64(n-1) / (float64(last-first) / r.fs)
}

// beatIn returns the first annotated beat between from and to seconds.
func (r mitRecord) beatIn(from, to float64) (float64, bool) {
	for _, b := range r.beats {
		if s := float64(b) / r.fs; s > from && s <= to {
			return s, true
		}
	}
	return 0, false
}

// ecgPatch is a device publishing one contiguous timeline of 1-s frames
// (QoS 1), as a patch does: a frame starts where the previous one ended,
// since anything else is a gap that restarts the processor's monitor.
type ecgPatch struct {
	t     *testing.T
	cl    paho.Client
	topic string
	fs    float64
	start time.Time // event time of sample 0
	sent  int       // samples sent so far
}

// at is the event time of sample i of the timeline.
func (p *ecgPatch) at(i int) time.Time {
	return p.start.Add(time.Duration(float64(i) / p.fs * float64(time.Second)))
}

// send publishes x after what was sent before, in 1-s frames.
func (p *ecgPatch) send(x []float32) {
	p.t.Helper()
	n := int(p.fs)
	buf := make([]byte, 0, 16*n)
	for i := 0; i < len(x); i += n {
		frame := x[i:min(i+n, len(x))]
		buf = append(buf[:0], `{"ts": `...)
		buf = strconv.AppendInt(buf, p.at(p.sent).UnixMilli(), 10)
		buf = append(buf, `, "ecg": {"fs": `...)
		buf = strconv.AppendFloat(buf, p.fs, 'f', -1, 64)
		buf = append(buf, `, "unit": "mV", "samples": [`...)
		for j, v := range frame {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, float64(v), 'f', 4, 32)
		}
		buf = append(buf, "]}}"...)
		testkit.Publish(p.t, p.cl, p.topic, 1, string(buf))
		p.sent += len(frame)
	}
}

// flatlineNoise is a heart that stopped: the isoelectric level it was at,
// with ordinary front-end noise (gaussian, sigma mV) and no QRS.
func flatlineNoise(level float32, seconds, fs, sigma float64, seed int64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	x := make([]float32, int(seconds*fs))
	for i := range x {
		x[i] = level + float32(sigma*rng.NormFloat64())
	}
	return x
}

// alertLog keeps each received alert message whole (started and ts
// included), next to the inbox that the assertions read.
type alertLog struct {
	mu  sync.Mutex
	got []rules.Event
}

func (a *alertLog) all() []rules.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]rules.Event(nil), a.got...)
}

// subscribeAlertLog subscribes a caregiver to filter, feeding both box and
// times.
func subscribeAlertLog(t *testing.T, cl paho.Client, box *inbox, times *alertLog, filter string) {
	t.Helper()
	tok := cl.Subscribe(filter, 1, func(c paho.Client, m paho.Message) {
		box.handler(c, m)
		var ev rules.Event
		if json.Unmarshal(m.Payload(), &ev) == nil {
			times.mu.Lock()
			times.got = append(times.got, ev)
			times.mu.Unlock()
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

// ecgSeries reads a derived ECG series of one patient from start on.
func ecgSeries(t *testing.T, r *testkit.HTTP, patient, metric string, start time.Time) testkit.Series {
	t.Helper()
	q := fmt.Sprintf("metric=%s&source=ecg&start=%s&stop=now", metric, start.Format(time.RFC3339Nano))
	code, s, body := r.Series("f1", patient, q)
	if code != http.StatusOK {
		t.Fatalf("series %s: %d %s", q, code, body)
	}
	return s
}

// waitECGDerived waits until the derived ecg_sqi of a patient reaches until:
// the ECG processor has handled every frame before it.
func waitECGDerived(t *testing.T, r *testkit.HTTP, patient string, from, until time.Time) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, "derived ecg_sqi of "+patient+" up to "+until.Format(time.RFC3339), func() bool {
		s := ecgSeries(t, r, patient, "ecg_sqi", from)
		if len(s.Points) == 0 {
			return false
		}
		last, err := time.Parse(time.RFC3339Nano, s.Points[len(s.Points)-1].T)
		return err == nil && !last.Before(until)
	})
}

// TestECGRecordThroughMedbiz replays a MIT-BIH record from an ecg_patch
// through a real medbiz: the derived heart rate is stored and matches the
// reference annotations, a heart that stops raises ecg_asystole within 5 s
// of event time, and a lead that comes off or saturates on another patient
// raises only the informational ecg_signal_poor.
func TestECGRecordThroughMedbiz(t *testing.T) {
	dir := mitdbtest.Dir(t)
	rec := loadMITRecord(t, dir, "101")
	rec2 := loadMITRecord(t, dir, "112")
	if rec.fs != 360 || rec2.fs != 360 {
		t.Fatalf("MIT-BIH records at %v and %v Hz, want 360", rec.fs, rec2.fs)
	}

	a := testkit.Start(t, testkit.Config(t.TempDir()))
	h := testkit.API(t, a)
	h.Farm("f1")
	h.Patient("f1", "p1", "adult", "")
	h.Patient("f1", "p2", "adult", "")
	dev1 := h.Device("f1", "e1", "p1", "ecg_patch")
	dev2 := h.Device("f1", "e2", "p2", "ecg_patch")
	cg1 := h.Caregiver("f1", "c1", "p1")
	cg2 := h.Caregiver("f1", "c2", "p2")
	r := reader(t, h, h.FarmToken("f1", "read"))

	box1, times1 := &inbox{}, &alertLog{}
	subscribeAlertLog(t, testkit.MQTT(t, a.MQTTAddr(), cg1), box1, times1, "farms/f1/alerts/p1")
	box2, times2 := &inbox{}, &alertLog{}
	subscribeAlertLog(t, testkit.MQTT(t, a.MQTTAddr(), cg2), box2, times2, "farms/f1/alerts/p2")

	// Event time starts 20 minutes ago, so 2 minutes of record replay in
	// seconds and every frame is in the past.
	t0 := time.Now().Add(-20 * time.Minute).Truncate(time.Second).UTC()
	p1 := &ecgPatch{t: t, cl: testkit.MQTT(t, a.MQTTAddr(), dev1), topic: testkit.TelemetryTopic("f1", "e1"), fs: rec.fs, start: t0}

	// 1. About 90 s of record 101; the heart stops half-way between the
	// last beat before 90 s and the one after it.
	cut := int64(90 * rec.fs)
	var lastBeat int64
	for i, b := range rec.beats {
		if b >= cut && i > 0 {
			lastBeat = rec.beats[i-1]
			cut = lastBeat + (b-lastBeat)/2
			break
		}
	}
	p1.send(rec.x[:cut])
	stopped := p1.at(int(cut))
	waitECGDerived(t, r, "p1", t0, stopped.Add(-2*time.Second))

	// Derived hr: about one value a second, each plausible, and on average
	// the rate the cardiologists' annotations give over the same span
	// (after the detector's learning and the first 8 beats of its mean).
	const from, to = 15.0, 85.0
	hr := ecgSeries(t, r, "p1", "hr", t0)
	var sum float64
	n := 0
	for _, p := range hr.Points {
		pt, err := time.Parse(time.RFC3339Nano, p.T)
		if err != nil {
			t.Fatalf("hr point time %q: %v", p.T, err)
		}
		s := pt.Sub(t0).Seconds()
		if s < from || s > to {
			continue
		}
		if p.V < 40 || p.V > 120 {
			t.Errorf("derived hr %.1f at %.0f s of record %s", p.V, s, rec.name)
		}
		sum += p.V
		n++
	}
	if n < int(to-from)-5 {
		t.Fatalf("%d derived hr values between %.0f and %.0f s, want about one a second (series: %d points)", n, from, to, len(hr.Points))
	}
	got, want := sum/float64(n), rec.rate(from-6, to)
	t.Logf("record %s %.0f–%.0f s: derived hr %.1f beat/min (%d values), annotations %.1f", rec.name, from, to, got, n, want)
	if math.Abs(got-want) > 3 {
		t.Errorf("derived hr %.1f beat/min, annotated rate %.1f", got, want)
	}
	if bad := box1.all(); len(bad) > 0 {
		t.Errorf("alerts on a sinus rhythm: %+v", bad)
	}

	// 2. Asystole: the baseline with ordinary noise, no QRS, 30 s.
	level := float32(0)
	for _, v := range rec.x[cut-36 : cut] {
		level += v / 36
	}
	p1.send(flatlineNoise(level, 30, rec.fs, 0.025, 1))
	act := box1.wait(t, "ecg_asystole", "active")
	if act.Severity != "critical" {
		t.Errorf("ecg_asystole raised as %s", act.Severity)
	}
	var started time.Time
	for _, ev := range times1.all() {
		if ev.ID == act.ID && ev.State == "active" {
			started = ev.Started
			if !ev.TS.Equal(ev.Started) {
				t.Errorf("first active message has ts %v and started %v", ev.TS, ev.Started)
			}
		}
	}
	delay := started.Sub(stopped)
	t.Logf("asystole from %s (last beat %.2f s before): alert started %.2f s after in event time",
		stopped.Format(time.RFC3339Nano), stopped.Sub(p1.at(int(lastBeat))).Seconds(), delay.Seconds())
	if delay < 0 || delay > 5*time.Second {
		t.Errorf("ecg_asystole started %v after the heart stopped (at %v), want within 5 s", delay, stopped)
	}

	// 3. Another patient: good beats, the lead comes off (a constant
	// value), beats again, then the amplifier saturates at its rail. Only
	// the technical alert, never an asystole or anything critical.
	p2 := &ecgPatch{t: t, cl: testkit.MQTT(t, a.MQTTAddr(), dev2), topic: testkit.TelemetryTopic("f1", "e2"), fs: rec2.fs, start: t0}
	sec := int(rec2.fs)
	p2.send(rec2.x[:40*sec])
	off := make([]float32, 35*sec)
	for i := range off {
		off[i] = rec2.x[40*sec-1]
	}
	p2.send(off)
	poor := box2.wait(t, "ecg_signal_poor", "active")
	if poor.Severity != "info" {
		t.Errorf("ecg_signal_poor raised as %s", poor.Severity)
	}
	p2.send(rec2.x[75*sec : 110*sec])
	box2.wait(t, "ecg_signal_poor", "resolved")
	// Rail saturation: the signal amplified past the 5 mV rail of the
	// front end, clipped there most of the time.
	sat := make([]float32, 35*sec)
	for i := range sat {
		sat[i] = float32(math.Max(-5, math.Min(5, 40*float64(rec2.x[110*sec+i]))))
	}
	p2.send(sat)
	testkit.Eventually(t, 30*time.Second, "a second ecg_signal_poor for the saturated signal", func() bool {
		n := 0
		for _, m := range box2.all() {
			if m.Rule == "ecg_signal_poor" && m.State == "active" {
				n++
			}
		}
		return n >= 2
	})
	// Everything both patches sent has been through the ECG processor;
	// the rules read the same stream as the store, give them a moment.
	waitECGDerived(t, r, "p1", t0, p1.at(p1.sent).Add(-time.Second))
	waitECGDerived(t, r, "p2", t0, p2.at(p2.sent).Add(-time.Second))
	time.Sleep(2 * time.Second)
	for _, m := range box1.all() {
		if m.Rule != "ecg_asystole" || m.State != "active" {
			t.Errorf("patient p1 got %s (%s %s) besides the asystole", m.Rule, m.Severity, m.State)
		}
	}
	var seen []string
	for _, m := range box2.all() {
		seen = append(seen, m.Rule+" "+m.Severity+" "+m.State)
		if m.Rule != "ecg_signal_poor" || m.Severity != "info" {
			t.Errorf("lead off or saturated: caregiver of p2 received %s (%s %s): %s", m.Rule, m.Severity, m.State, m.Message)
		}
	}
	t.Logf("caregiver of p2 received: %v", seen)
	for _, ev := range times2.all() {
		if ev.Rule == "ecg_signal_poor" && ev.State == "active" {
			t.Logf("ecg_signal_poor started %.1f s into the timeline", ev.Started.Sub(t0).Seconds())
		}
	}
}

// rhythmTruth is what a record's reference annotations say about the
// rhythm rules: the longest stretches of annotated rate below 40 and above
// 150 (mean of 8 RR, as the processor computes hr), and its atrial
// fibrillation episodes, in seconds from the record's start.
type rhythmTruth struct {
	brady, tachy span
	af           []span
}

type span struct{ from, to float64 }

func (s span) len() float64 { return s.to - s.from }

func truthOf(t *testing.T, dir string, r mitRecord) rhythmTruth {
	t.Helper()
	var tr rhythmTruth
	var brady, tachy span
	inBrady, inTachy := false, false
	for i := 8; i < len(r.beats); i++ {
		at := float64(r.beats[i]) / r.fs
		rate := 60 / (float64(r.beats[i]-r.beats[i-8]) / 8 / r.fs)
		track := func(on bool, cur *span, in *bool, best *span) {
			switch {
			case on && !*in:
				*cur, *in = span{at, at}, true
			case on:
				cur.to = at
			default:
				*in = false
			}
			if cur.len() > best.len() {
				*best = *cur
			}
		}
		track(rate < 40, &brady, &inBrady, &tr.brady)
		track(rate > 150, &tachy, &inTachy, &tr.tachy)
	}
	ann, err := wfdb.ReadAnnotations(filepath.Join(dir, r.name+".atr"))
	if err != nil {
		t.Fatal(err)
	}
	end := float64(len(r.x)) / r.fs
	cur, curFrom := "", 0.0
	for _, a := range append(ann, wfdb.Annotation{Sample: int64(len(r.x)), Aux: "(END"}) {
		if len(a.Aux) == 0 || a.Aux[0] != '(' {
			continue
		}
		at := min(float64(a.Sample)/r.fs, end)
		if cur == "(AFIB" {
			// A few seconds of another label (a run of ventricular
			// beats, flutter) do not end the fibrillation.
			if n := len(tr.af); n > 0 && curFrom-tr.af[n-1].to < 10 {
				tr.af[n-1].to = at
			} else {
				tr.af = append(tr.af, span{curFrom, at})
			}
		}
		cur, curFrom = strings.TrimRight(a.Aux, "\x00"), at
	}
	return tr
}

// TestRhythmRulesOnMITBIH runs the ECG processor's monitor and the shipped
// rule pack (adult profile) over every MIT-BIH record here, in 1-s frames
// with a 1-s wall-clock Tick as in medbiz, and checks the rhythm rules
// against the cardiologists' annotations: an alert where a record has a
// long enough episode, at a time inside it, and none where it has none;
// and no ecg_asystole where the annotations show beats (none of these
// records has a 4 s pause; 116 at 1359 s and 208 at 1388 s raised one
// while an overloaded lead slid back without ECG on it).
// Two patients share the replay: one with the default sustain_min of the
// irregular-rhythm rule (10) and one with an override of 5.
func TestRhythmRulesOnMITBIH(t *testing.T) {
	dir := mitdbtest.Dir(t)
	pack, err := rules.LoadDir(filepath.Join(testkit.Root(), "configs", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	sustains := []float64{10, 5}
	for _, name := range mitdbtest.Records(t, dir) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rec := loadMITRecord(t, dir, name)
			truth := truthOf(t, dir, rec)
			evs := replayRules(rec, pack, sustains)
			t0 := time.Unix(0, 0).UTC()
			for i, sustain := range sustains {
				patient := fmt.Sprintf("p%d", i)
				first := map[string]float64{}
				var seen []string
				for _, e := range evs {
					if e.Patient != patient {
						continue
					}
					if _, ok := first[e.Rule]; !ok && e.State == "active" {
						first[e.Rule] = e.Started.Sub(t0).Seconds()
					}
					seen = append(seen, fmt.Sprintf("%s %s %s %.0fs", e.Rule, e.Severity, e.State, e.TS.Sub(t0).Seconds()))
				}
				t.Logf("sustain_min %v: annotated rate <40 for %.0f s, >150 for %.0f s, AF %v; alerts %v",
					sustain, truth.brady.len(), truth.tachy.len(), truth.af, seen)
				// A critical asystole alarm says no beat for 4 s: the
				// annotations must show none in that time but its last
				// second (a beat there may not be confirmed yet).
				for _, e := range evs {
					if e.Patient != patient || e.Rule != "ecg_asystole" || e.State != "active" {
						continue
					}
					at := e.Started.Sub(t0).Seconds()
					if b, ok := rec.beatIn(at-4+0.15, at-1); ok {
						t.Errorf("false ecg_asystole (%s) at %.0f s: annotated beat at %.2f s", e.Severity, at, b)
					}
				}
				s, ok := first["ecg_bradycardia"]
				switch {
				case truth.brady.len() >= 15 && !ok:
					t.Errorf("annotated rate under 40 from %.0f to %.0f s: no ecg_bradycardia", truth.brady.from, truth.brady.to)
				case truth.brady.len() >= 15 && (s < truth.brady.from+9 || s > truth.brady.to+5):
					t.Errorf("ecg_bradycardia at %.0f s, annotated rate under 40 from %.0f to %.0f s", s, truth.brady.from, truth.brady.to)
				case truth.brady.len() < 5 && ok:
					t.Errorf("ecg_bradycardia at %.0f s; the annotated rate never stays under 40 for 5 s", s)
				}
				s, ok = first["ecg_tachycardia"]
				switch {
				case truth.tachy.len() >= 40 && !ok:
					t.Errorf("annotated rate over 150 from %.0f to %.0f s: no ecg_tachycardia", truth.tachy.from, truth.tachy.to)
				case truth.tachy.len() >= 40 && (s < truth.tachy.from+20 || s > truth.tachy.to+10):
					t.Errorf("ecg_tachycardia at %.0f s, annotated rate over 150 from %.0f to %.0f s", s, truth.tachy.from, truth.tachy.to)
				case truth.tachy.len() < 20 && ok:
					t.Errorf("ecg_tachycardia at %.0f s; the annotated rate never stays over 150 for 20 s", s)
				}
				s, ok = first["ecg_irregular_rhythm"]
				var long *span
				for j, ep := range truth.af {
					// 32 RR before the first irregularity value, then
					// sustain_min minutes of them.
					if ep.len() >= sustain*60+60 && long == nil {
						long = &truth.af[j]
					}
				}
				switch {
				case long != nil && !ok:
					t.Errorf("sustain %v min: AF from %.0f to %.0f s, no ecg_irregular_rhythm", sustain, long.from, long.to)
				case long != nil && (s < long.from+sustain*60 || s > long.to+30):
					t.Errorf("sustain %v min: ecg_irregular_rhythm at %.0f s, AF from %.0f to %.0f s", sustain, s, long.from, long.to)
				case len(truth.af) == 0 && ok:
					t.Errorf("sustain %v min: ecg_irregular_rhythm at %.0f s on a record without AF", sustain, s)
				}
			}
		})
	}
}

// fixedClock is the wall clock of a replay, set to follow event time as
// for a live patient.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// replayRules feeds a record through one ECG monitor and a rule engine on
// behalf of one adult patient per sustain_min (p0, p1, ...).
func replayRules(rec mitRecord, pack *rules.Pack, sustains []float64) []rules.Event {
	t0 := time.Unix(0, 0).UTC()
	clock := &fixedClock{t0}
	eng := rules.NewEngine(pack, clock, rules.Options{})
	var infos []rules.PatientInfo
	for i, s := range sustains {
		infos = append(infos, rules.PatientInfo{Farm: "f1", ID: fmt.Sprintf("p%d", i), Profile: "adult",
			Overrides: map[string]float64{"ecg_irregular_rhythm.sustain_min": s}})
	}
	m := ecg.NewMonitor(rec.fs, ecg.MonitorOptions{})
	var out []rules.Event
	n := int(rec.fs)
	for i := 0; i < len(rec.x); i += n {
		start := t0.Add(time.Duration(float64(i) / rec.fs * float64(time.Second)))
		ms := m.Process(start, rec.x[i:min(i+n, len(rec.x))])
		clock.t = start.Add(time.Second)
		for _, info := range infos {
			out = append(out, eng.Observe(info, ms)...)
		}
		out = append(out, eng.Tick(clock.t)...)
	}
	return out
}
