// Package docs_test keeps the repository's citations inside it: no file may
// name a path outside the repository or a design document that is not in
// it, and every citation of a page under docs/ (and every relative link of
// a Markdown file) must reach a file and heading that exist.
package docs_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// outside lists what no file may contain. The strings are assembled so
// that this file does not match them itself.
var outside = []struct{ text, why string }{
	{"/wo" + "rk/", "names a path outside the repository"},
	{"../sha" + "red", "names a path outside the repository"},
	{`"..", "sha` + `red"`, "builds a path outside the repository"},
	{"INTER" + "FACES.md", "cites a document that is not in the repository (use docs/contract.md)"},
	{"ARCHI" + "TECTURE.md", "cites a document that is not in the repository (use docs/architecture.md)"},
	{"REFER" + "ENCE.md", "cites a document that is not in the repository (use docs/clinical.md)"},
}

// pendingMITDB excuses, file by file, the one path outside the repository
// that is still allowed: the MIT-BIH records read from a folder next to the
// project until they are moved into it. Only lines naming that folder are
// excused, and only in these files; delete an entry once its file no
// longer names the folder (TestPendingMITDBStillNeeded says when).
var pendingMITDB = map[string]string{
	"README.md":                       "../sha" + "red/data/mitdb",
	"internal/mitdbtest/mitdbtest.go": "sha" + "red",
}

func excused(name, line string) bool {
	want, ok := pendingMITDB[name]
	return ok && strings.Contains(line, want) && strings.Contains(line, "mitdb")
}

func TestNoPathOutsideTheRepository(t *testing.T) {
	root := repoRoot(t)
	for _, name := range trackedFiles(t, root) {
		data := readText(t, root, name)
		if data == nil {
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			if excused(name, line) {
				continue
			}
			for _, o := range outside {
				if strings.Contains(line, o.text) {
					t.Errorf("%s:%d %s: %s", name, i+1, o.why, strings.TrimSpace(line))
				}
			}
		}
	}
}

// TestPendingMITDBStillNeeded fails once a file of pendingMITDB no longer
// names the folder, so that its excuse cannot outlive its reason.
func TestPendingMITDBStillNeeded(t *testing.T) {
	root := repoRoot(t)
	for name := range pendingMITDB {
		data := readText(t, root, name)
		found := false
		for _, line := range strings.Split(string(data), "\n") {
			found = found || excused(name, line)
		}
		if !found {
			t.Errorf("%s no longer names the MIT-BIH folder outside the repository: remove it from pendingMITDB", name)
		}
	}
}

// docsCitation finds "docs/<page>.md" with an optional "#section" where it
// starts a path (not inside a longer one).
var docsCitation = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])(docs/[A-Za-z0-9_-]+\.md)(#[A-Za-z0-9_-]*)?`)

// mdLink finds the target of a Markdown inline link.
var mdLink = regexp.MustCompile(`\]\(([^()\s]+)\)`)

func TestCitationsReachTheirSection(t *testing.T) {
	root := repoRoot(t)
	anchors := map[string]map[string]bool{} // repo-relative .md path -> its anchors
	check := func(where, target, anchor string) {
		full := filepath.Join(root, filepath.FromSlash(target))
		if _, err := os.Stat(full); err != nil {
			t.Errorf("%s cites %s, which does not exist", where, target)
			return
		}
		if anchor == "" || !strings.HasSuffix(target, ".md") {
			return
		}
		if anchors[target] == nil {
			b, err := os.ReadFile(full)
			if err != nil {
				t.Fatal(err)
			}
			anchors[target] = headingAnchors(b)
		}
		if !anchors[target][anchor] {
			t.Errorf("%s cites %s#%s, but %s has no such heading", where, target, anchor, target)
		}
	}
	for _, name := range trackedFiles(t, root) {
		data := readText(t, root, name)
		if data == nil {
			continue
		}
		inCode := false
		for i, line := range strings.Split(string(data), "\n") {
			where := name + ":" + strconv.Itoa(i+1)
			for _, m := range docsCitation.FindAllStringSubmatch(line, -1) {
				check(where, m[1], strings.TrimPrefix(m[2], "#"))
			}
			if !strings.HasSuffix(name, ".md") {
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inCode = !inCode
			}
			if inCode {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				link := m[1]
				if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
					continue
				}
				target, anchor, _ := strings.Cut(link, "#")
				if target == "" {
					target = name
				} else {
					target = path.Clean(path.Join(path.Dir(name), target))
				}
				if strings.HasPrefix(target, "../") {
					t.Errorf("%s links %s, outside the repository", where, link)
					continue
				}
				check(where, target, anchor)
			}
		}
	}
}

// TestHeadingAnchors pins the anchor rules to what GitHub renders.
func TestHeadingAnchors(t *testing.T) {
	md := "# Part two: the Farm\n## fever (adult)\n```\n# not a heading\n```\n## `spo2_low`\n## Data\n## Data\n"
	got := headingAnchors([]byte(md))
	for _, want := range []string{"part-two-the-farm", "fever-adult", "spo2_low", "data", "data-1"} {
		if !got[want] {
			t.Errorf("no anchor %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Errorf("a line in a code block made an anchor: %v", got)
	}
}

// headingAnchors returns the anchors GitHub gives a Markdown file's
// headings: lower case, punctuation dropped, spaces turned into hyphens, a
// repeated anchor numbered -1, -2, ...
func headingAnchors(md []byte) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inCode := false
	for _, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
			continue
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			seen[a]++
			a = a + "-" + strconv.Itoa(n)
		} else {
			seen[a] = 1
		}
		out[a] = true
	}
	return out
}

// repoRoot is the folder holding go.mod, above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the docs package")
		}
		dir = parent
	}
}

// trackedFiles lists the repository's files, slash-separated and relative
// to root: git's list in a clone, every file under root otherwise (a
// source tree without .git).
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err == nil {
		var files []string
		for _, f := range bytes.Split(out, []byte{0}) {
			if len(f) > 0 {
				files = append(files, string(f))
			}
		}
		return files
	}
	t.Logf("git ls-files: %v; checking every file under %s", err, root)
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readText returns a file's content, or nil for a binary file or one that
// git lists but the work tree no longer has (deleted, not yet committed).
func readText(t *testing.T, root, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil
	}
	return data
}
