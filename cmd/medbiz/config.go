package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/medbiz/medbiz/configs"
)

func init() { commands = append(commands, newConfigCmd) }

// newConfigCmd shows what the binary carries, for an installed medbiz
// without its source tree at hand.
func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show the built-in configuration and rule packs"}
	cmd.AddCommand(&cobra.Command{
		Use:   "print-defaults",
		Short: "Print every config key with its default and a comment (a starting point for --config)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(configs.MedbizYAML)
			return err
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "export-rules DIR",
		Short: "Write the built-in rule packs into DIR, to edit them and set rules.dir to DIR",
		Long: `export-rules writes the rule packs built into medbiz (common.yaml, adult.yaml,
elderly.yaml, infant.yaml) into DIR, creating it. It never overwrites a file.
A pack in rules.dir replaces the built-in pack of the same name, so edit the
copies you want to change and delete the others.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return exportRules(args[0], cmd.OutOrStdout()) },
	})
	return cmd
}

func exportRules(dir string, out io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export rules: %w", err)
	}
	names, err := fs.Glob(configs.Rules, "*.yaml")
	if err != nil {
		return fmt.Errorf("export rules: %w", err)
	}
	var errs []error
	for _, name := range names {
		data, err := fs.ReadFile(configs.Rules, name)
		if err != nil {
			return fmt.Errorf("export rules: %w", err)
		}
		dst := filepath.Join(dir, name)
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			errs = append(errs, fmt.Errorf("export rules: %w", err))
			continue
		}
		_, werr := f.Write(data)
		if err := errors.Join(werr, f.Close()); err != nil {
			return fmt.Errorf("export rules: write %s: %w", dst, err)
		}
		fmt.Fprintln(out, dst)
	}
	return errors.Join(errs...)
}
