package app_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/medbiz/medbiz/app"
	"github.com/medbiz/medbiz/internal/testkit"
	"github.com/medbiz/medbiz/sim"
)

// runFleet provisions a simulated fleet on a running medbiz, replays it as
// fast as medbiz acknowledges, and returns what the caregivers received.
func runFleet(t *testing.T, a *app.App, cfg sim.FleetConfig, farm string, speed float64, overrides map[string]float64) sim.Summary {
	t.Helper()
	fleet, err := sim.NewFleet(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	prov := &sim.Provisioner{BaseURL: "http://" + a.HTTPAddr(), Token: a.AdminToken()}
	creds, err := prov.Provision(ctx, fleet, farm)
	if err != nil {
		t.Fatal(err)
	}
	if overrides != nil {
		h := testkit.API(t, a)
		for _, p := range fleet.People {
			if code, body := h.Do("PUT", "/api/v1/farms/"+farm+"/patients/"+p.ID+"/overrides", overrides); code != 200 {
				t.Fatalf("overrides: %d %s", code, body)
			}
		}
	}
	log := testkit.Logger(t)
	broker := "tcp://" + a.MQTTAddr()
	ver := sim.NewVerifier(fleet, log)
	defer ver.Close()
	if err := ver.Connect(ctx, broker, creds); err != nil {
		t.Fatal(err)
	}
	ver.Start()
	stats, err := sim.Run(ctx, fleet, sim.RunConfig{Broker: broker, QoS: 1, Speed: speed, Creds: creds,
		Progress: sim.NewProgress(io.Discard), Logger: log, OnPublish: ver.Published})
	if err != nil {
		t.Fatal(err)
	}
	ver.Wait(ctx, 20*time.Second)
	sum := ver.Summary()
	var out strings.Builder
	sum.Write(&out)
	t.Logf("%+v\n%s", stats, out.String())
	return sum
}

// A normal simulated day of an elderly person and an infant raises no alert.
func TestSimulatedNormalDayIsQuiet(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	start := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	sum := runFleet(t, a, sim.FleetConfig{Seed: 7, Elderly: 1, Infants: 1, Start: start, Duration: 24 * time.Hour}, "day", 0, nil)
	if len(sum.False) != 0 || sum.Preexisting != 0 {
		for _, f := range sum.False {
			t.Errorf("false alert on a normal day: %+v", *f)
		}
	}
}

// Every injected scenario raises the alert it should, through medbiz.
//
// The replay runs as fast as medbiz acknowledges, so one wall second is
// minutes of event time. The rules evaluate a patient at the newest event
// time of any of their devices, and the values the ECG processor derives
// arrive a little after the oximeter's; at that speed the lead-off's
// quality values are minutes stale when evaluated. Lead-off is therefore
// checked in a paced replay (20x), where the lag is a fraction of a second
// of event time, as it is live. A device going offline is reported after a
// 2-minute grace on the wall clock, which a replay compresses to nothing:
// the run sets that grace to 0 for its patients (a per-patient override).
func TestSimulatedScenariosRaiseTheirAlerts(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	sum := runFleet(t, a, sim.FleetConfig{Seed: 3, Elderly: 2, Infants: 1, Start: start, Duration: 3 * time.Hour,
		AllScenarios: true}, "scen", 0, map[string]float64{"device_offline.grace_s": 0})
	if sum.Scenarios == 0 {
		t.Fatal("no scenario injected")
	}
	for _, r := range sum.Results {
		if !r.Detected && r.Scenario.Kind != "lead_off" {
			t.Errorf("scenario %s: expected alert %s did not arrive", r.Scenario.String(), r.Scenario.Rule)
		}
	}
	for _, f := range sum.False {
		t.Errorf("alert no scenario explains: %+v", *f)
	}
}

func TestSimulatedLeadOffPaced(t *testing.T) {
	a := testkit.Start(t, testkit.Config(t.TempDir()))
	spec, err := sim.ParseScenarioSpec("lead_off@e01@1m")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-4 * time.Minute).Truncate(time.Second)
	sum := runFleet(t, a, sim.FleetConfig{Seed: 5, Elderly: 1, Start: start, Duration: 3 * time.Minute, ECG: true,
		Scenarios: []sim.ScenarioSpec{spec}}, "lead", 20, nil)
	if sum.Scenarios != 1 || sum.Detected != 1 {
		t.Errorf("lead-off: %d of %d scenarios detected", sum.Detected, sum.Scenarios)
	}
	for _, f := range sum.False {
		t.Errorf("alert no scenario explains: %+v", *f)
	}
}
