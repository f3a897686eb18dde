package main

import (
	"bytes"
	"strings"
	"testing"
)

// runCLI runs the medbiz command line in-process.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// TestECGEvalNeedsAFolder: without --db or MEDBIZ_MITDB, eval says what it
// needs instead of looking for records in a folder the user does not have.
func TestECGEvalNeedsAFolder(t *testing.T) {
	t.Setenv("MEDBIZ_MITDB", "")
	_, err := runCLI(t, "ecg", "eval")
	if err == nil || !strings.Contains(err.Error(), "pass --db or set MEDBIZ_MITDB") {
		t.Fatalf("ecg eval without a folder: %v", err)
	}
}
