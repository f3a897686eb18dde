package sim

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Progress reports a long run on stderr. On a terminal it is a bar redrawn
// in place (schollz/progressbar, with the time left). Anywhere else (a
// pipe, a log file, CI) it is a plain line every ten seconds, written
// here: the library always redraws with carriage returns and ANSI
// line-clears and has no line-per-update mode, so a log would keep its
// control characters.
type Progress struct {
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar // made at the first update on a terminal
	every time.Duration
	last  time.Time
}

// NewProgress writes to w; a nil w disables progress.
func NewProgress(w io.Writer) *Progress {
	f, ok := w.(*os.File)
	return newProgress(w, ok && term.IsTerminal(int(f.Fd())))
}

func newProgress(w io.Writer, tty bool) *Progress {
	p := &Progress{w: w, tty: tty, every: 10 * time.Second}
	if tty {
		p.every = 200 * time.Millisecond
	}
	return p
}

// Update shows how much of the event-time window is done; force draws now
// and, at the end of a run, finishes the line.
func (p *Progress) Update(done, total time.Duration, sent int, force bool) {
	if p == nil || p.w == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	done = max(0, min(done, total))
	if p.tty {
		p.draw(done, total, sent, force)
		return
	}
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	fmt.Fprintf(p.w, "sim: %5.1f%% event time %s/%s sent=%d\n", frac*100, done.Truncate(time.Second), total, sent)
}

// draw moves the terminal bar; its unit is a second of event time.
func (p *Progress) draw(done, total time.Duration, sent int, force bool) {
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(max(1, int64(total/time.Second)),
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetTheme(progressbar.ThemeASCII),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetRenderBlankState(true),
		)
	}
	p.bar.Describe(fmt.Sprintf("sim %s/%s sent=%d", done.Truncate(time.Second), total, sent))
	// The bar's errors are only about its own state (a value past its
	// maximum); progress is best effort and never stops a run.
	if force && done >= total {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
		return
	}
	_ = p.bar.Set64(int64(done / time.Second))
}
