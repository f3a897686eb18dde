package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/medbiz/medbiz/processors/ecg"
)

func init() { commands = append(commands, newECGCmd) }

// newECGCmd is `medbiz ecg`: the QRS detector run over WFDB records.
func newECGCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ecg",
		Short: "Run the streaming QRS detector over WFDB records and score it",
	}
	var frame time.Duration
	detect := &cobra.Command{
		Use:   "detect PATH/RECORD.hea",
		Short: "Print the R-peak sample index of every beat found in the record's first signal",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			beats, _, err := ecg.DetectRecord(args[0], frame)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			for _, b := range beats {
				fmt.Fprintln(w, b)
			}
			return w.Flush()
		},
	}
	detect.Flags().DurationVar(&frame, "frame", time.Second, "samples are fed in frames of this duration, as a device sends them")

	var db string
	var evalFrame time.Duration
	eval := &cobra.Command{
		Use:   "eval",
		Short: "Score the detector (ANSI/AAMI EC57: 150 ms window, first 5 min unscored) on every record of a folder",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" {
				return fmt.Errorf("no record folder: pass --db or set MEDBIZ_MITDB")
			}
			if _, err := os.Stat(db); err != nil {
				return fmt.Errorf("record folder: %w", err)
			}
			rs, gross, err := ecg.EvalDB(filepath.Clean(db), evalFrame)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			for _, r := range rs {
				fmt.Fprintln(w, r)
			}
			fmt.Fprintf(w, "gross Se=%.2f +P=%.2f TP=%d FN=%d FP=%d\n", gross.Se(), gross.PPV(), gross.TP, gross.FN, gross.FP)
			return w.Flush()
		},
	}
	eval.Flags().StringVar(&db, "db", os.Getenv("MEDBIZ_MITDB"), "folder of WFDB records (.hea, .dat, .atr) (env MEDBIZ_MITDB)")
	eval.Flags().DurationVar(&evalFrame, "frame", time.Second, "frame duration fed to the detector")
	cmd.AddCommand(detect, eval)
	return cmd
}
