package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/medbiz/medbiz/sim/bench"
	"github.com/spf13/cobra"
)

func init() { commands = append(commands, newBenchCmd) }

// newMedbizBenchTarget builds the in-process medbiz target. It stays nil
// until the app wiring provides it (a file of package main setting it in
// init); until then `medbiz bench` measures the mochi baseline only.
var newMedbizBenchTarget func(ctx context.Context, log *slog.Logger) (bench.Target, error)

func newBenchCmd() *cobra.Command {
	var (
		quick    bool
		jsonPath string
		logLevel string
		rf       remoteFlags
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure ingest rate, alert latency and connection cost against a plain mochi baseline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			return runBench(cmd.Context(), cmd, bench.DefaultOptions(quick), jsonPath, rf, log)
		},
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "a small run that ends within 90 s on two cores")
	cmd.Flags().StringVar(&jsonPath, "json", "", "also write the results as JSON to this file")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&rf.target, "target", "auto", "auto (in-process medbiz when built in, else baseline only), mochi, or remote (a running medbiz serve)")
	cmd.Flags().StringVar(&rf.http, "http", "http://127.0.0.1:8080", "remote target: medbiz HTTP API")
	cmd.Flags().StringVar(&rf.mqtt, "mqtt", "127.0.0.1:1883", "remote target: MQTT TCP listener host:port")
	cmd.Flags().StringVar(&rf.token, "admin-token", os.Getenv("MEDBIZ_ADMIN_TOKEN"), "remote target: admin token (env MEDBIZ_ADMIN_TOKEN)")
	cmd.Flags().IntVar(&rf.pid, "pid", 0, "remote target: the server's pid, for RSS per connection")
	return cmd
}

type remoteFlags struct {
	target, http, mqtt, token string
	pid                       int
}

// medbizTarget picks the target measured against the baseline; nil means
// the baseline runs alone.
func (rf remoteFlags) medbizTarget(ctx context.Context, log *slog.Logger) (bench.Target, error) {
	switch rf.target {
	case "mochi":
		return nil, nil
	case "remote":
		if rf.token == "" {
			return nil, errors.New("--target remote needs --admin-token or MEDBIZ_ADMIN_TOKEN")
		}
		return bench.NewRemoteTarget(ctx, rf.http, rf.token, rf.mqtt, rf.pid)
	case "auto", "":
		if newMedbizBenchTarget == nil {
			return nil, nil
		}
		return newMedbizBenchTarget(ctx, log)
	}
	return nil, fmt.Errorf("--target %q: want auto, mochi or remote", rf.target)
}

func runBench(ctx context.Context, cmd *cobra.Command, o bench.Options, jsonPath string, rf remoteFlags, log *slog.Logger) error {
	begin := time.Now()
	var med *bench.Measurements
	t, err := rf.medbizTarget(ctx, log)
	if err != nil {
		return fmt.Errorf("bench: start medbiz: %w", err)
	}
	if t != nil {
		m, merr := bench.Measure(ctx, t, o, false, log)
		cerr := t.Close(context.WithoutCancel(ctx))
		if err := errors.Join(merr, cerr); err != nil {
			return fmt.Errorf("bench medbiz: %w", err)
		}
		med = &m
	} else if rf.target != "mochi" {
		fmt.Fprintln(cmd.ErrOrStderr(), "medbiz bench: the medbiz target is not built into this binary yet; "+
			"measuring the plain mochi baseline only (medbiz fields are null in --json; --target remote measures a running medbiz serve)")
	}
	base, err := bench.StartMochi(ctx, nil)
	if err != nil {
		return err
	}
	baseM, merr := bench.Measure(ctx, base, o, med != nil, log)
	if err := errors.Join(merr, base.Close(context.WithoutCancel(ctx))); err != nil {
		return fmt.Errorf("bench baseline: %w", err)
	}
	cols := []bench.Measurements{baseM}
	if med != nil {
		cols = []bench.Measurements{*med, baseM}
	}
	bench.WriteTable(cmd.OutOrStdout(), cols...)
	rep := bench.NewReport(med, baseM)
	if rep.Ratio != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "ratio qos1 medbiz/mochi: %.3f\n", *rep.Ratio)
	}
	log.Info("bench done", "wall", time.Since(begin).Round(time.Millisecond))
	if jsonPath != "" {
		return rep.WriteJSON(jsonPath)
	}
	return nil
}
