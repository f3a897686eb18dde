package main

import (
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/medbiz/medbiz/app"
)

func init() { commands = append(commands, newServeCmd) }

func newServeCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run medbiz: MQTT broker, stream processors, HTTP API (embedded NATS and InfluxDB unless configured)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := app.LoadConfig(cfgPath, os.Environ())
			if err != nil {
				return err
			}
			a := app.New(cfg, newLogger(cfg.LogLevel))
			// SIGHUP reloads the rule packs; a bad pack is logged and
			// counted, and the running packs stay.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer func() { signal.Stop(hup); close(hup) }()
			go func() {
				for range hup {
					_ = a.Reload()
				}
			}()
			return a.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", os.Getenv("MEDBIZ_CONFIG"), "config file (YAML); without it the built-in defaults apply (see: medbiz config print-defaults)")
	return cmd
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level))) // validated with the config
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
