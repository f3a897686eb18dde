package main

import (
	"log/slog"
	"os"
	"strings"

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
			return app.New(cfg, newLogger(cfg.LogLevel)).Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", os.Getenv("MEDBIZ_CONFIG"), "config file (YAML); without it the defaults of configs/medbiz.yaml apply")
	return cmd
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level))) // validated with the config
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
