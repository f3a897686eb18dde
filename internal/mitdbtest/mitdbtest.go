// Package mitdbtest finds the MIT-BIH records for tests and benchmarks:
// $MEDBIZ_MITDB, or ../shared/data/mitdb relative to the project root
// (the folder holding go.mod). The records are never copied into the
// project.
package mitdbtest

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Dir returns the database folder or skips the test when it is absent.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, ok := Find()
	if !ok {
		tb.Skipf("MIT-BIH records not found at %q: set MEDBIZ_MITDB to the folder holding the .hea/.dat/.atr files", dir)
	}
	return dir
}

// Find resolves the folder and reports whether it holds any header.
func Find() (string, bool) {
	dir := os.Getenv("MEDBIZ_MITDB")
	if dir == "" {
		root := projectRoot()
		dir = filepath.Join(root, "..", "shared", "data", "mitdb")
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.hea"))
	return dir, len(m) > 0
}

// Records lists the record names (header file names without .hea) in dir.
func Records(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.hea"))
	if err != nil {
		tb.Fatalf("list records: %v", err)
	}
	var out []string
	for _, p := range m {
		out = append(out, strings.TrimSuffix(filepath.Base(p), ".hea"))
	}
	sort.Strings(out)
	return out
}

func projectRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return wd
		}
	}
}
