package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/medbiz/medbiz/app"
	"github.com/medbiz/medbiz/configs"
	"github.com/medbiz/medbiz/rules"
)

// TestPrintDefaultsIsAUsableConfig: what print-defaults shows loads as a
// config file and gives exactly the defaults.
func TestPrintDefaultsIsAUsableConfig(t *testing.T) {
	out, err := runCLI(t, "config", "print-defaults")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "medbiz.yaml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := app.LoadConfig(path, nil)
	if err != nil {
		t.Fatalf("printed defaults do not load: %v", err)
	}
	if !reflect.DeepEqual(cfg, app.DefaultConfig()) {
		t.Errorf("printed defaults differ from the defaults:\n%+v\n%+v", cfg, app.DefaultConfig())
	}
}

// TestExportRules: the exported packs compile to the built-in ones, and a
// second export overwrites nothing and says which files were in the way.
func TestExportRules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	out, err := runCLI(t, "config", "export-rules", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, filepath.Join(dir, "elderly.yaml")) {
		t.Errorf("export did not list elderly.yaml: %q", out)
	}
	exported, err := rules.LoadDir(dir)
	if err != nil {
		t.Fatalf("exported packs: %v", err)
	}
	builtin, err := rules.Load(rules.Source{Name: "builtin", FS: configs.Rules})
	if err != nil {
		t.Fatal(err)
	}
	if len(exported.Rules) != len(builtin.Rules) {
		t.Errorf("exported %d rules, built in %d", len(exported.Rules), len(builtin.Rules))
	}

	mine := []byte("rules: []\n")
	if err := os.WriteFile(filepath.Join(dir, "infant.yaml"), mine, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "config", "export-rules", dir)
	if err == nil || !strings.Contains(err.Error(), "infant.yaml") || !strings.Contains(err.Error(), "file exists") {
		t.Fatalf("export over existing files: %v, want an error naming them", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "infant.yaml")); !bytes.Equal(got, mine) {
		t.Error("export overwrote an existing pack")
	}
}
