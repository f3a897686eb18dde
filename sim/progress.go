package sim

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Progress reports a long run on stderr: a line redrawn in place on a
// terminal, plain lines every ten seconds otherwise (logs, CI).
type Progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	last  time.Time
}

// NewProgress writes to w; a nil w disables progress.
func NewProgress(w io.Writer) *Progress {
	p := &Progress{w: w, every: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
			p.every = 200 * time.Millisecond
		}
	}
	return p
}

// Update shows how much of the event-time window is done.
func (p *Progress) Update(done, total time.Duration, sent int, force bool) {
	if p == nil || p.w == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	if p.tty {
		const width = 30
		n := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < n {
				bar[i] = '='
			}
		}
		fmt.Fprintf(p.w, "\r[%s] %5.1f%% %s/%s sent=%d ", bar, frac*100, done.Truncate(time.Second), total, sent)
		if force {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintf(p.w, "sim: %5.1f%% event time %s/%s sent=%d\n", frac*100, done.Truncate(time.Second), total, sent)
}
