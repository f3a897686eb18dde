package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func shipped(t testing.TB) *Pack {
	t.Helper()
	p, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func m(d time.Duration, metric string, v float64) telemetry.Measurement {
	return telemetry.Measurement{Time: t0.Add(d), Metric: metric, Value: v}
}

var elderly = PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly"}

func TestNoRepeatedEvents(t *testing.T) {
	eng := NewEngine(shipped(t), &fakeClock{t: t0}, Options{})
	var evs []Event
	for i := 0; i < 100; i++ {
		evs = append(evs, eng.Observe(elderly, []telemetry.Measurement{m(time.Duration(i)*time.Second, "glucose", 60)})...)
	}
	if len(evs) != 1 || evs[0].State != StateActive || evs[0].Rule != "hypoglycemia" {
		t.Fatalf("100 low readings gave %d events, want one active: %+v", len(evs), evs)
	}
	if got := eng.Active("f1", "p1"); len(got) != 1 || got[0].ID != evs[0].ID {
		t.Fatalf("Active = %+v", got)
	}
}

func TestAckRules(t *testing.T) {
	clock := &fakeClock{t: t0}
	eng := NewEngine(shipped(t), clock, Options{})
	evs := eng.Observe(elderly, []telemetry.Measurement{m(0, "glucose", 60)})
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	id := evs[0].ID
	if _, err := eng.Ack("f1", "p1", "nope", "c1", t0); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("ack of unknown id: %v", err)
	}
	if _, err := eng.Ack("f2", "p1", id, "c1", t0); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("ack from another farm: %v", err)
	}
	ack, err := eng.Ack("f1", "p1", id, "c1", t0.Add(time.Second))
	if err != nil || ack.State != StateAcknowledged || ack.AckedBy != "c1" || ack.ID != id {
		t.Fatalf("ack = %+v, %v", ack, err)
	}
	if _, err := eng.Ack("f1", "p1", id, "c2", t0.Add(2*time.Second)); !errors.Is(err, ErrAlreadyAcked) {
		t.Errorf("second ack: %v", err)
	}
	// Severity rise re-opens the acknowledged alert: same id, active again.
	evs = eng.Observe(elderly, []telemetry.Measurement{m(time.Minute, "glucose", 50)})
	if len(evs) != 1 || evs[0].ID != id || evs[0].Severity != SeverityCritical || evs[0].State != StateActive || evs[0].AckedBy != "" {
		t.Fatalf("rise = %+v", evs)
	}
	if !strings.Contains(evs[0].Message, "level 2") || evs[0].Values["glucose"] != 50 {
		t.Errorf("rise message/values: %q %v", evs[0].Message, evs[0].Values)
	}
	// Acknowledged, then resolved by a normal reading.
	if _, err := eng.Ack("f1", "p1", id, "c1", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	evs = eng.Observe(elderly, []telemetry.Measurement{m(3*time.Minute, "glucose", 100)})
	if len(evs) != 1 || evs[0].State != StateResolved || evs[0].ID != id {
		t.Fatalf("resolve = %+v", evs)
	}
	if _, err := eng.Ack("f1", "p1", id, "c1", t0.Add(4*time.Minute)); !errors.Is(err, ErrUnknownAlert) {
		t.Errorf("ack after resolve: %v", err)
	}
	if len(eng.Active("f1", "p1")) != 0 {
		t.Errorf("resolved alert still listed")
	}
}

func TestEscalationViaTick(t *testing.T) {
	clock := &fakeClock{t: t0}
	eng := NewEngine(shipped(t), clock, Options{EscalateEvery: 2 * time.Minute})
	evs := eng.Observe(elderly, []telemetry.Measurement{m(0, "glucose", 40)})
	if len(evs) != 1 || evs[0].Severity != SeverityCritical {
		t.Fatalf("%+v", evs)
	}
	var levels []int
	for s := 1; s <= 300; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		clock.Set(now)
		for _, e := range eng.Tick(now) {
			if e.Rule == "hypoglycemia" {
				levels = append(levels, e.Escalation)
				if !e.TS.Equal(now) || e.State != StateActive {
					t.Errorf("escalation event %+v", e)
				}
			}
		}
	}
	if fmt.Sprint(levels) != "[1 2]" {
		t.Fatalf("escalations in 5 min every 2 min: %v, want [1 2]", levels)
	}
	// An acknowledged alert is not escalated.
	if _, err := eng.Ack("f1", "p1", evs[0].ID, "c1", t0.Add(301*time.Second)); err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(20 * time.Minute))
	for _, e := range eng.Tick(t0.Add(20 * time.Minute)) {
		if e.Rule == "hypoglycemia" {
			t.Errorf("acknowledged alert escalated: %+v", e)
		}
	}
}

func TestDeviceOfflineOnline(t *testing.T) {
	eng := NewEngine(shipped(t), &fakeClock{t: t0}, Options{})
	if evs := eng.DeviceOffline(elderly, "d1", t0); len(evs) != 0 {
		t.Fatalf("raised within the grace period: %+v", evs)
	}
	if evs := eng.Tick(t0.Add(119 * time.Second)); len(evs) != 0 {
		t.Fatalf("raised before the 2-minute grace: %+v", evs)
	}
	evs := eng.Tick(t0.Add(120 * time.Second))
	if len(evs) != 1 || evs[0].Rule != "device_offline" || evs[0].Message != "Device d1 went offline unexpectedly" ||
		!evs[0].Started.Equal(t0) {
		t.Fatalf("%+v", evs)
	}
	if evs := eng.DeviceOffline(elderly, "d2", t0.Add(121*time.Second)); len(evs) != 0 {
		t.Errorf("second device repeated the alert: %+v", evs)
	}
	if evs := eng.Tick(t0.Add(300 * time.Second)); len(evs) != 0 {
		t.Errorf("second device raised again: %+v", evs)
	}
	if evs := eng.DeviceOnline(elderly, "d1", t0.Add(302*time.Second)); len(evs) != 0 {
		t.Errorf("resolved while d2 still offline: %+v", evs)
	}
	evs2 := eng.DeviceOnline(elderly, "d2", t0.Add(303*time.Second))
	if len(evs2) != 1 || evs2[0].State != StateResolved || evs2[0].ID != evs[0].ID {
		t.Errorf("online: %+v", evs2)
	}
}

// TestSnapshotRestore: a restarted engine continues alerts and windows
// where the old one stopped.
func TestSnapshotRestore(t *testing.T) {
	pack := shipped(t)
	clock := &fakeClock{t: t0}
	a := NewEngine(pack, clock, Options{})
	evs := a.Observe(elderly, []telemetry.Measurement{m(0, "sys", 190), m(0, "dia", 100)})
	if len(evs) != 1 || evs[0].Rule != "hypertensive" {
		t.Fatalf("%+v", evs)
	}
	infant := PatientInfo{Farm: "f1", ID: "baby", Profile: "infant", BirthDate: t0.AddDate(0, -1, 0)}
	for s := 0; s < 40; s++ {
		v := 98.0
		if s >= 30 {
			v = 85
		}
		if e := a.Observe(infant, []telemetry.Measurement{m(time.Duration(s)*time.Second, "spo2", v)}); len(e) != 0 {
			t.Fatalf("early alert %+v", e)
		}
	}
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := NewEngine(pack, clock, Options{})
	if err := b.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if act := b.Active("f1", "p1"); len(act) != 1 || act[0].ID != evs[0].ID || act[0].State != StateActive {
		t.Fatalf("restored Active = %+v", act)
	}
	// The condition still holds after the restart: no duplicate "active".
	if e := b.Observe(elderly, []telemetry.Measurement{m(time.Minute, "hr", 72)}); len(e) != 0 {
		t.Errorf("duplicate after restore: %+v", e)
	}
	// The SpO2 hold started before the restart completes at 45 s.
	var got []string
	for s := 40; s < 50; s++ {
		for _, e := range b.Observe(infant, []telemetry.Measurement{m(time.Duration(s)*time.Second, "spo2", 85)}) {
			got = append(got, fmt.Sprintf("%s %s %s", e.TS.Sub(t0), e.Rule, e.State))
		}
	}
	if fmt.Sprint(got) != "[45s spo2_low active]" {
		t.Errorf("after restore: %v", got)
	}
	// A normal reading still resolves the restored alert, with its id.
	e := b.Observe(elderly, []telemetry.Measurement{m(10*time.Minute, "sys", 140), m(10*time.Minute, "dia", 85)})
	if len(e) != 1 || e[0].State != StateResolved || e[0].ID != evs[0].ID || !e[0].Started.Equal(evs[0].Started) {
		t.Errorf("resolve after restore: %+v", e)
	}
	if err := b.Restore([]byte("{")); err == nil {
		t.Error("garbage snapshot accepted")
	}
	if act := b.Active("f1", "baby"); len(act) != 1 {
		t.Errorf("failed restore changed state: %+v", act)
	}
}

func TestOutOfOrderWithinSkew(t *testing.T) {
	infant := PatientInfo{Farm: "f1", ID: "baby", Profile: "infant", BirthDate: t0.AddDate(0, -1, 0)}
	eng := NewEngine(shipped(t), &fakeClock{t: t0}, Options{Skew: time.Minute})
	// 20 s of low SpO2 delivered newest first, then one late batch.
	var batch []telemetry.Measurement
	for s := 19; s >= 0; s-- {
		batch = append(batch, m(time.Duration(s)*time.Second, "spo2", 85))
	}
	evs := eng.Observe(infant, batch)
	// Five readings are needed (at 4 s), then the 15 s hold: 19 s.
	if len(evs) != 1 || evs[0].Rule != "spo2_low" || evs[0].Severity != SeverityWarning || !evs[0].Started.Equal(t0.Add(19*time.Second)) {
		t.Fatalf("unsorted batch: %+v", evs)
	}
	st := eng.patients["f1/baby"]
	eng.Observe(infant, []telemetry.Measurement{m(-30*time.Second, "spo2", 97), m(-5*time.Minute, "spo2", 99)})
	pts := st.Series["spo2"].Pts
	if len(pts) != 21 || pts[0].T != t0.Add(-30*time.Second).UnixNano() {
		t.Errorf("late point within skew not placed first, or one beyond skew kept: %d points, first %v", len(pts), time.Unix(0, pts[0].T))
	}
}

func TestEventJSON(t *testing.T) {
	e := Event{ID: "p1-sos-1764230400123", Farm: "f1", Patient: "p1", Rule: "sos", Severity: "critical", State: "active",
		Started: time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC), TS: time.Date(2026, 11, 27, 8, 0, 1, 0, time.UTC),
		Message: "SOS", Values: map[string]float64{"hr": 72}}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"p1-sos-1764230400123","farm":"f1","patient":"p1","rule":"sos","severity":"critical","state":"active","started":"2026-11-27T08:00:00.123Z","ts":"2026-11-27T08:00:01.000Z","message":"SOS","values":{"hr":72}}`
	if string(b) != want {
		t.Errorf("json:\n%s\nwant\n%s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || back.ID != e.ID || !back.Started.Equal(e.Started.Truncate(time.Millisecond)) {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

func TestAlertIDIsTopicLevel(t *testing.T) {
	eng := NewEngine(shipped(t), &fakeClock{t: t0}, Options{})
	evs := eng.Observe(PatientInfo{Farm: "f1", ID: "anna-1", Profile: "adult"}, []telemetry.Measurement{m(0, "glucose", 40)})
	re := regexp.MustCompile(`^[a-z0-9_-]+$`)
	if len(evs) != 1 || !re.MatchString(evs[0].ID) {
		t.Fatalf("id %+v", evs)
	}
}

func TestConcurrentUse(t *testing.T) {
	clock := &fakeClock{t: t0}
	eng := NewEngine(shipped(t), clock, Options{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := PatientInfo{Farm: "f1", ID: fmt.Sprintf("p%d", g), Profile: "elderly"}
			for s := 0; s < 200; s++ {
				for _, e := range eng.Observe(p, []telemetry.Measurement{m(time.Duration(s)*time.Second, "glucose", 50)}) {
					_, _ = eng.Ack(e.Farm, e.Patient, e.ID, "c", e.TS)
				}
				eng.Tick(t0.Add(time.Duration(s) * time.Second))
				if s%50 == 0 {
					if _, err := eng.Snapshot(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for g := 0; g < 4; g++ {
		if act := eng.Active("f1", fmt.Sprintf("p%d", g)); len(act) != 1 || act[0].State != StateAcknowledged {
			t.Errorf("p%d: %+v", g, act)
		}
	}
}
