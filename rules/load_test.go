package rules

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/medbiz/medbiz/configs"
)

// builtin is the packs as the binary ships them.
var builtin = Source{Name: "builtin", FS: configs.Rules}

func ruleIDs(p *Pack, profile string) map[string]*Rule {
	out := map[string]*Rule{}
	for _, r := range p.ForProfile(profile) {
		out[r.ID] = r
	}
	return out
}

// TestEmbeddedPacksAreTheShippedFiles: the binary carries exactly the
// files of configs/rules, so what the repository tests is what runs.
func TestEmbeddedPacksAreTheShippedFiles(t *testing.T) {
	files, err := filepath.Glob("../configs/rules/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("shipped packs: %v %v", files, err)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(configs.Rules, filepath.Base(f))
		if err != nil {
			t.Fatalf("%s not built in: %v", filepath.Base(f), err)
		}
		if string(got) != string(want) {
			t.Errorf("built-in %s differs from the file", filepath.Base(f))
		}
	}
	fromDisk, err := LoadDir("../configs/rules")
	if err != nil {
		t.Fatal(err)
	}
	fromBinary, err := Load(builtin)
	if err != nil {
		t.Fatalf("built-in packs: %v", err)
	}
	if len(fromDisk.Rules) != len(fromBinary.Rules) {
		t.Errorf("built-in packs have %d rules, the files %d", len(fromBinary.Rules), len(fromDisk.Rules))
	}
	if r := fromBinary.Rules[0]; !strings.HasPrefix(r.File, "builtin"+string(filepath.Separator)) {
		t.Errorf("a built-in rule is named %q, want builtin/<file>", r.File)
	}
}

// TestFolderOverridesAndExtendsBuiltin is rules.dir laid over the built-in
// packs: a file named like a shipped pack replaces it, a new name adds a
// pack, and the other shipped packs stay.
func TestFolderOverridesAndExtendsBuiltin(t *testing.T) {
	base, err := Load(builtin)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ruleIDs(base, "adult")["sepsis_screen"]; !ok {
		t.Fatal("the shipped adult pack has no sepsis_screen; pick another rule for this test")
	}
	extra := strings.NewReplacer("id: low_hr", "id: glucose_very_high", "profiles: [adult]", "profiles: [elderly]",
		"hr < limit", "glucose > limit", "hr > limit + 5", "glucose < limit - 5", "limit: 40", "limit: 400", "hr {{hr}}", "glucose {{glucose}}").Replace(goodRule)
	dir := fstest.MapFS{
		"adult.yaml":   {Data: []byte(goodRule)}, // replaces the shipped adult pack
		"extra.yaml":   {Data: []byte(extra)},    // a pack of its own
		"notes.txt":    {Data: []byte("not a pack")},
		"old.yaml.bak": {Data: []byte("rules: [")},
	}
	p, err := Load(builtin, Source{Name: "/etc/medbiz/rules", FS: dir})
	if err != nil {
		t.Fatalf("layered packs: %v", err)
	}
	adult := ruleIDs(p, "adult")
	if r, ok := adult["low_hr"]; !ok || r.File != filepath.Join("/etc/medbiz/rules", "adult.yaml") {
		t.Errorf("the folder's adult.yaml is not loaded: %+v", r)
	}
	if _, ok := adult["sepsis_screen"]; ok {
		t.Error("the shipped adult.yaml still runs although the folder replaces it")
	}
	if _, ok := adult["sos"]; !ok {
		t.Error("common.yaml's rules for adults are gone: only adult.yaml was replaced")
	}
	elderly := ruleIDs(p, "elderly")
	if _, ok := elderly["glucose_very_high"]; !ok {
		t.Error("the added pack's rule is missing")
	}
	for id := range ruleIDs(base, "elderly") {
		if _, ok := elderly[id]; !ok {
			t.Errorf("shipped elderly rule %s lost by adding a pack", id)
		}
	}

	// A pack whose rule list is empty drops the shipped pack of that name.
	p, err = Load(builtin, Source{Name: "dir", FS: fstest.MapFS{"infant.yaml": {Data: []byte("rules: []\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ruleIDs(p, "infant")["apnea"]; ok {
		t.Error("an empty infant.yaml did not drop the shipped infant pack")
	}
	if _, ok := ruleIDs(p, "infant")["sos"]; !ok {
		t.Error("common.yaml's infant rules went with infant.yaml")
	}
}

// TestBadFolderFileRejected: one bad file in the folder fails the whole
// load with its path and line, and a folder that does not exist is an
// error rather than silently no packs.
func TestBadFolderFileRejected(t *testing.T) {
	dir := t.TempDir()
	broken := strings.Replace(goodRule, "hr < limit", "hr < < limit", 1)
	if err := os.WriteFile(filepath.Join(dir, "zz-local.yaml"), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(builtin, Source{Name: dir, FS: os.DirFS(dir)})
	if err == nil {
		t.Fatalf("a broken pack was accepted: %d rules", len(p.Rules))
	}
	if want := filepath.Join(dir, "zz-local.yaml") + ":6:"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	if p != nil {
		t.Error("a pack was returned with the error")
	}

	// The same rule id in a folder pack and a shipped pack, for one profile.
	dup := strings.Replace(goodRule, "id: low_hr", "id: sos", 1)
	_, err = Load(builtin, Source{Name: "dir", FS: fstest.MapFS{"mine.yaml": {Data: []byte(dup)}}})
	if err == nil || !strings.Contains(err.Error(), "already defined at builtin") {
		t.Errorf("a rule clashing with a built-in one: %v", err)
	}

	missing := filepath.Join(dir, "nope")
	if _, err := Load(builtin, Source{Name: missing, FS: os.DirFS(missing)}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing folder: %v", err)
	}
	if _, err := LoadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.yaml files") {
		t.Errorf("empty folder alone: %v", err)
	}
}
