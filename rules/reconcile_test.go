package rules

import (
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

// A snapshot older than the last events is brought in line with the open
// alerts: one raised after it is not raised again and still resolves, one
// resolved after it is not resolved twice.
func TestReconcileAfterStaleSnapshot(t *testing.T) {
	pack, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	p := PatientInfo{Farm: "f1", ID: "p1", Profile: "elderly"}
	spo2 := func(at time.Time, v float64, secs int) []telemetry.Measurement {
		var ms []telemetry.Measurement
		for s := 0; s <= secs; s += 2 {
			ms = append(ms, telemetry.Measurement{Time: at.Add(time.Duration(s) * time.Second), Metric: "spo2", Value: v})
		}
		return ms
	}
	eng := NewEngine(pack, clock, Options{})
	eng.Observe(p, spo2(t0, 97, 10))
	stale, err := eng.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var raised Event
	for _, ev := range eng.Observe(p, spo2(t0.Add(12*time.Second), 88, 40)) {
		if ev.Rule == "spo2_low" && ev.State == "active" {
			raised = ev
		}
	}
	if raised.ID == "" {
		t.Fatal("spo2_low not raised")
	}

	// Restart from the stale snapshot, reconciled with the open alert.
	again := NewEngine(pack, clock, Options{})
	if err := again.Restore(stale); err != nil {
		t.Fatal(err)
	}
	again.Reconcile([]Event{raised}, func(string, string) (PatientInfo, bool) { return p, true })
	for _, ev := range again.Observe(p, spo2(t0.Add(12*time.Second), 88, 40)) {
		if ev.State == "active" {
			t.Errorf("raised again after restart: %+v", ev)
		}
	}
	var resolved Event
	for _, ev := range again.Observe(p, spo2(t0.Add(54*time.Second), 97, 40)) {
		if ev.State == "resolved" {
			resolved = ev
		}
	}
	if resolved.ID != raised.ID {
		t.Errorf("resolved %+v, want the id %s", resolved, raised.ID)
	}

	// A snapshot that still holds an alert resolved since is not resolved twice.
	withAlert, _ := eng.Snapshot()
	third := NewEngine(pack, clock, Options{})
	if err := third.Restore(withAlert); err != nil {
		t.Fatal(err)
	}
	third.Reconcile(nil, func(string, string) (PatientInfo, bool) { return p, true })
	for _, ev := range third.Observe(p, spo2(t0.Add(54*time.Second), 97, 40)) {
		t.Errorf("an alert resolved elsewhere produced %+v", ev)
	}
	if len(third.Active("f1", "p1")) != 0 {
		t.Error("reconciled engine still holds the alert")
	}
}
