// Package ec57 scores a beat detector against reference annotations the
// way ANSI/AAMI EC57 and the WFDB tool bxb do: a detection matches a
// reference beat within 150 ms, the first 5 minutes are a learning period
// that is not scored, and ventricular flutter/fibrillation episodes are not
// scored. It reads no files; wfdb supplies the annotations.
package ec57

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

// Options of a comparison. The zero value means the EC57 defaults.
type Options struct {
	// Window is the largest distance between a matching detection and its
	// reference beat; 150 ms when zero.
	Window time.Duration
	// Learning is the unscored start of the record; 5 min when zero, a
	// negative value scores from the first sample.
	Learning time.Duration
}

// Result counts one record (or the sum of several).
type Result struct {
	Record string
	TP     int // reference beats with a matching detection
	FN     int // reference beats without one
	FP     int // detections matching no reference beat
}

// Se is the sensitivity TP/(TP+FN) in percent (100 when there is nothing
// to find).
func (r Result) Se() float64 { return pct(r.TP, r.TP+r.FN) }

// PPV is the positive predictivity TP/(TP+FP) in percent.
func (r Result) PPV() float64 { return pct(r.TP, r.TP+r.FP) }

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// String is the report line `NAME Se=.. +P=.. TP=n FN=n FP=n`.
func (r Result) String() string {
	return fmt.Sprintf("%s Se=%.2f +P=%.2f TP=%d FN=%d FP=%d", r.Record, r.Se(), r.PPV(), r.TP, r.FN, r.FP)
}

// Add sums results (gross statistics).
func (r Result) Add(o Result) Result {
	r.TP += o.TP
	r.FN += o.FN
	r.FP += o.FP
	return r
}

// Interval is a half-open range of samples [From, To).
type Interval struct{ From, To int64 }

// Excluded returns the VF/flutter episodes of an annotation list: from a
// rhythm annotation whose aux text starts with "(VF" (VF, VFL) to the next
// rhythm annotation, and from a VF onset "[" to its end "]". An episode
// still open at the end of the list runs to end.
func Excluded(ref []wfdb.Annotation, end int64) []Interval {
	var out []Interval
	rhythmOpen, vfOpen := int64(-1), int64(-1)
	for _, a := range ref {
		switch a.Code {
		case wfdb.Rhythm:
			if rhythmOpen >= 0 {
				out = append(out, Interval{rhythmOpen, a.Sample})
				rhythmOpen = -1
			}
			if strings.HasPrefix(a.Aux, "(VF") {
				rhythmOpen = a.Sample
			}
		case wfdb.VFOn:
			if vfOpen < 0 {
				vfOpen = a.Sample
			}
		case wfdb.VFOff:
			if vfOpen >= 0 {
				out = append(out, Interval{vfOpen, a.Sample + 1})
				vfOpen = -1
			}
		}
	}
	if rhythmOpen >= 0 {
		out = append(out, Interval{rhythmOpen, end})
	}
	if vfOpen >= 0 {
		out = append(out, Interval{vfOpen, end})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out
}

func inAny(x int64, iv []Interval) bool {
	for _, v := range iv {
		if x >= v.From && x < v.To {
			return true
		}
	}
	return false
}

// Compare scores detections (sample indices) against the reference
// annotations of a record sampled at fs. Only beat annotations
// (wfdb.IsBeat) are reference beats; both lists are restricted to the
// scored part of the record before matching.
func Compare(ref []wfdb.Annotation, detections []int64, fs float64, opts Options) Result {
	if opts.Window == 0 {
		opts.Window = 150 * time.Millisecond
	}
	if opts.Learning == 0 {
		opts.Learning = 5 * time.Minute
	}
	start := int64(0)
	if opts.Learning > 0 {
		start = int64(opts.Learning.Seconds()*fs + 0.5)
	}
	w := int64(opts.Window.Seconds() * fs)
	var end int64 = 1 << 62
	excl := Excluded(ref, end)
	scored := func(x int64) bool { return x >= start && !inAny(x, excl) }

	// Match every beat and detection, then count only the scored ones, so
	// a pair straddling the start of scoring is not split into an FN and
	// an FP.
	var r []int64
	for _, a := range ref {
		if wfdb.IsBeat(a.Code) {
			r = append(r, a.Sample)
		}
	}
	d := append([]int64(nil), detections...)
	sort.Slice(r, func(i, j int) bool { return r[i] < r[j] })
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rm, dm := match(r, d, w)
	var res Result
	for i, x := range r {
		switch {
		case !scored(x):
		case rm[i]:
			res.TP++
		default:
			res.FN++
		}
	}
	for j, x := range d {
		if !dm[j] && scored(x) {
			res.FP++
		}
	}
	return res
}

// match pairs sorted reference and detection times one-to-one within w,
// each pair being the closest available, as bxb does, and reports which
// of each were matched.
func match(r, d []int64, w int64) (rm, dm []bool) {
	rm, dm = make([]bool, len(r)), make([]bool, len(d))
	i, j := 0, 0
	for i < len(r) && j < len(d) {
		dt := d[j] - r[i]
		switch {
		case dt < -w: // detection long before this reference beat
			j++
		case dt > w: // reference beat with nothing near it
			i++
		default:
			// Both within reach: a later detection closer to this beat
			// makes this one extra; a later beat closer to this
			// detection leaves this beat missed.
			if j+1 < len(d) && abs(d[j+1]-r[i]) < abs(dt) {
				j++
				continue
			}
			if i+1 < len(r) && abs(d[j]-r[i+1]) < abs(dt) {
				i++
				continue
			}
			rm[i], dm[j] = true, true
			i++
			j++
		}
	}
	return rm, dm
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
