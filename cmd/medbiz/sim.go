package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/medbiz/medbiz/sim"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newSimCmd) }

type simFlags struct {
	httpURL, mqttURL, token, dataDir, farm, creds string
	elderly, infants                              int
	duration                                      time.Duration
	start, speed                                  string
	qos                                           int
	scenarios                                     []string
	scenarioSet                                   string
	verify                                        bool
	verifyWait                                    time.Duration
	seed                                          uint64
	ecg                                           bool
	logLevel                                      string
}

func newSimCmd() *cobra.Command {
	var f simFlags
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate a fleet of home health devices, inject scenarios and verify the alerts",
		Long: `sim provisions simulated elderly people and infants with their devices
through the HTTP API (or uses saved/anonymous credentials), publishes their
telemetry over MQTT in real time or as a fast replay of a past period, injects
scenarios (name@person@offset, people are e01.. and i01..) and, with --verify,
reports for each scenario whether its alert arrived and how late.

Scenarios: ` + strings.Join(sim.ScenarioKinds(), ", ") + `.

Examples:
  medbiz sim --elderly 3 --infants 2 --scenarios all --verify --duration 30m --speed 10
  medbiz sim --start -24h --speed max --scenario shock@e01@3h --verify
  medbiz sim --http '' --mqtt tcp://localhost:1883      # any broker, no provisioning`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.httpURL, "http", "http://127.0.0.1:8080", "medbiz HTTP API for provisioning; empty: connect anonymously (plain brokers)")
	fl.StringVar(&f.mqttURL, "mqtt", "tcp://127.0.0.1:1883", "MQTT broker URL")
	fl.StringVar(&f.token, "admin-token", os.Getenv("MEDBIZ_ADMIN_TOKEN"), "admin bearer token (env MEDBIZ_ADMIN_TOKEN; default: read DATA_DIR/admin.token)")
	fl.StringVar(&f.dataDir, "data-dir", defaultDataDir(), "where serve keeps a generated admin token (env MEDBIZ_DATA_DIR)")
	fl.StringVar(&f.farm, "farm", "", "farm id (default: a new one, sim<unix time>)")
	fl.StringVar(&f.creds, "creds", "", "credentials file: used if it exists, else written after provisioning")
	fl.IntVar(&f.elderly, "elderly", 2, "elderly people living alone")
	fl.IntVar(&f.infants, "infants", 1, "infants (0–12 months)")
	fl.DurationVar(&f.duration, "duration", 0, "event time to simulate (default 10m, or up to now with a negative --start)")
	fl.StringVar(&f.start, "start", "0", "event time of the start: an offset from now (-24h) or RFC 3339")
	fl.StringVar(&f.speed, "speed", "1", "event time per wall time: 1, 10, … or max (as fast as the broker acks)")
	fl.IntVar(&f.qos, "qos", 1, "MQTT QoS for telemetry (0 or 1)")
	fl.StringArrayVar(&f.scenarios, "scenario", nil, "inject name@person@offset (repeatable), e.g. fall@e01@5m")
	fl.StringVar(&f.scenarioSet, "scenarios", "", "all: inject one of every scenario, spread over the run")
	fl.BoolVar(&f.verify, "verify", false, "subscribe as the caregivers and check every scenario's alert")
	fl.DurationVar(&f.verifyWait, "verify-wait", time.Minute, "how long to wait for alerts after publishing ends")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed: the same seed gives the same fleet and values")
	fl.BoolVar(&f.ecg, "ecg", true, "give the elderly an ECG patch (250 Hz frames, most of the traffic)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

func parseStart(s string, now time.Time) (time.Time, error) {
	if s == "" || s == "0" || s == "now" {
		return now, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--start %q: want an offset like -24h or RFC 3339", s)
	}
	return t, nil
}

func parseSpeed(s string) (float64, error) {
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "x"), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("--speed %q: want a positive number or max", s)
	}
	return v, nil
}

func runSim(cmd *cobra.Command, f simFlags) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	ctx := cmd.Context()
	now := time.Now().Truncate(time.Millisecond)
	start, err := parseStart(f.start, now)
	if err != nil {
		return err
	}
	speed, err := parseSpeed(f.speed)
	if err != nil {
		return err
	}
	if f.qos < 0 || f.qos > 1 {
		return fmt.Errorf("--qos %d: want 0 or 1", f.qos)
	}
	dur := f.duration
	if dur == 0 {
		dur = 10 * time.Minute
		if start.Before(now) {
			dur = now.Sub(start)
		}
	}
	cfg := sim.FleetConfig{Seed: f.seed, Elderly: f.elderly, Infants: f.infants, Start: start, Duration: dur, ECG: f.ecg}
	switch f.scenarioSet {
	case "":
	case "all":
		cfg.AllScenarios = true
	default:
		return fmt.Errorf("--scenarios %q: only \"all\" is known", f.scenarioSet)
	}
	for _, s := range f.scenarios {
		spec, err := sim.ParseScenarioSpec(s)
		if err != nil {
			return err
		}
		cfg.Scenarios = append(cfg.Scenarios, spec)
	}
	fleet, err := sim.NewFleet(cfg)
	if err != nil {
		return err
	}
	farm := f.farm
	if farm == "" {
		farm = fmt.Sprintf("sim%d", now.Unix())
	}
	creds, err := simCredentials(cmd, f, fleet, farm)
	if err != nil {
		return err
	}
	log.Info("fleet ready", "farm", creds.Farm, "people", len(fleet.People), "devices", len(fleet.Devices),
		"scenarios", len(fleet.Scenarios), "start", start.Format(time.RFC3339), "duration", dur, "speed", f.speed)
	for _, s := range fleet.Scenarios {
		log.Info("scenario", "spec", s.String(), "onset", s.Onset.Format(time.RFC3339), "expect", s.Rule)
	}

	var ver *sim.Verifier
	rc := sim.RunConfig{Broker: f.mqttURL, QoS: byte(f.qos), Speed: speed, Creds: creds,
		Progress: sim.NewProgress(cmd.ErrOrStderr()), Logger: log}
	if f.verify {
		ver = sim.NewVerifier(fleet, log)
		defer ver.Close()
		if err := ver.Connect(ctx, f.mqttURL, creds); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		rc.OnPublish = ver.Published
		ver.Start()
	}
	if _, err := sim.Run(ctx, fleet, rc); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if ver == nil {
		return nil
	}
	ver.Wait(ctx, f.verifyWait)
	sum := ver.Summary()
	sum.Write(cmd.OutOrStdout())
	if sum.Missed > 0 || len(sum.False) > 0 {
		return errors.New("verify: not every scenario raised exactly its alert")
	}
	return nil
}

// simCredentials loads saved credentials, or provisions the fleet (and
// saves them when --creds names a new file), or goes anonymous without
// --http.
func simCredentials(cmd *cobra.Command, f simFlags, fleet *sim.Fleet, farm string) (*sim.Credentials, error) {
	if f.creds != "" {
		c, err := sim.LoadCredentials(f.creds)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	if f.httpURL == "" {
		return sim.AnonymousCredentials(fleet, farm), nil
	}
	token := f.token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(f.dataDir, "admin.token"))
		if err != nil {
			return nil, fmt.Errorf("no admin token: pass --admin-token or MEDBIZ_ADMIN_TOKEN (%w)", err)
		}
		token = strings.TrimSpace(string(b))
	}
	p := &sim.Provisioner{BaseURL: f.httpURL, Token: token}
	c, err := p.Provision(cmd.Context(), fleet, farm)
	if err != nil {
		return nil, err
	}
	if f.speed != "1" {
		// device_offline waits 2 minutes of wall clock for a device to come
		// back; a replay compresses hours into seconds, so the simulated
		// patients report an offline device at once.
		for _, per := range fleet.People {
			if err := p.SetOverrides(cmd.Context(), farm, per.ID, map[string]float64{"device_offline.grace_s": 0}); err != nil {
				return nil, err
			}
		}
	}
	if f.creds != "" {
		if err := sim.SaveCredentials(f.creds, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}
