// Command medbiz is the health-telemetry broker and its tools: serve, the
// provisioning verbs, sim, bench and the ECG tools. It parses flags and
// config, builds what the verb needs, runs it and exits with its error.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// commands holds the constructors of the sub-commands; each verb's file
// adds its own in init, so the verbs stay in separate files.
var commands []func() *cobra.Command

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "medbiz",
		Short:         "MQTT ingestion broker and stream processor for home health monitoring",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "medbiz:", err)
		os.Exit(1)
	}
}
