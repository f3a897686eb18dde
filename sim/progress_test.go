package sim

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// TestProgressPlainLinesInAPipe: away from a terminal every update is one
// whole line with no control characters, at most one per interval.
func TestProgressPlainLinesInAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if p := NewProgress(w); p.tty {
		t.Fatal("a pipe was taken for a terminal")
	}
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	for i := range 100 {
		p.Update(time.Duration(i)*time.Second, 100*time.Second, i, false)
	}
	p.Update(100*time.Second, 100*time.Second, 100, true)
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Fatalf("control characters in pipe output: %q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines for one interval plus the end, want 2: %q", len(lines), out)
	}
	if want := "sim: 100.0% event time 1m40s/1m40s sent=100"; lines[1] != want {
		t.Errorf("last line %q, want %q", lines[1], want)
	}
}

// TestProgressBarOnATerminal: on a terminal the bar redraws in place and
// the end of the run finishes its line.
func TestProgressBarOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true)
	p.Update(30*time.Second, 60*time.Second, 7, true)
	mid := buf.String()
	if !strings.Contains(mid, "\r") || !strings.Contains(mid, "50%") || !strings.Contains(mid, "sim 30s/1m0s sent=7") {
		t.Fatalf("bar at half way: %q", mid)
	}
	if strings.HasSuffix(mid, "\n") {
		t.Error("the line was finished before the end")
	}
	p.Update(60*time.Second, 60*time.Second, 12, true)
	end := buf.String()[len(mid):]
	if !strings.Contains(end, "100%") || !strings.Contains(end, "sent=12") || !strings.HasSuffix(end, "\n") {
		t.Fatalf("bar at the end: %q", end)
	}
}
