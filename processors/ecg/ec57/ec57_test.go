package ec57

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/medbiz/medbiz/internal/mitdbtest"
	"github.com/medbiz/medbiz/processors/ecg/wfdb"
)

const fs = 360

// regular makes n normal beats every rr samples from first.
func regular(first, rr int64, n int) []wfdb.Annotation {
	a := make([]wfdb.Annotation, n)
	for i := range a {
		a[i] = wfdb.Annotation{Sample: first + int64(i)*rr, Code: wfdb.Normal}
	}
	return a
}

func samples(a []wfdb.Annotation, shift int64) []int64 {
	var out []int64
	for _, x := range a {
		if wfdb.IsBeat(x.Code) {
			out = append(out, x.Sample+shift)
		}
	}
	return out
}

func TestCompareKnown(t *testing.T) {
	ref := regular(0, 300, 2000) // 1000 s at 72 beat/min
	scored := 0
	for _, a := range ref {
		if a.Sample >= 5*60*fs {
			scored++
		}
	}
	ms := func(m float64) int64 { return int64(m * fs / 1000) }
	cases := []struct {
		name       string
		det        []int64
		tp, fn, fp int
	}{
		{"perfect", samples(ref, 0), scored, 0, 0},
		{"late 140 ms", samples(ref, ms(140)), scored, 0, 0},
		{"early 140 ms", samples(ref, -ms(140)), scored, 0, 0},
		{"late 160 ms", samples(ref, ms(160)), 0, scored, scored},
		{"none", nil, 0, scored, 0},
	}
	// Missing and extra beats: drop 10 scored detections, add 7 halfway
	// between scored beats.
	det := samples(ref, 0)
	var mixed []int64
	dropped, added := 0, 0
	for i, x := range det {
		if x >= 5*60*fs && i%50 == 0 && dropped < 10 {
			dropped++
			continue
		}
		mixed = append(mixed, x)
		if x >= 5*60*fs && i%70 == 1 && added < 7 {
			added++
			mixed = append(mixed, x+150)
		}
	}
	cases = append(cases, struct {
		name       string
		det        []int64
		tp, fn, fp int
	}{"missing and extra", mixed, scored - 10, 10, 7})

	for _, c := range cases {
		r := Compare(ref, c.det, fs, Options{})
		if r.TP != c.tp || r.FN != c.fn || r.FP != c.fp {
			t.Errorf("%s: got %s, want TP=%d FN=%d FP=%d", c.name, r, c.tp, c.fn, c.fp)
		}
	}
	if r := Compare(ref, samples(ref, 0), fs, Options{}); r.Se() != 100 || r.PPV() != 100 {
		t.Errorf("perfect detector scores Se=%v +P=%v", r.Se(), r.PPV())
	}
}

func TestLearningAndVF(t *testing.T) {
	ref := regular(0, 300, 2000)
	// A flutter episode from 400 s to 500 s: its beats are not scored, and
	// neither are detections inside it.
	vfl := []wfdb.Annotation{{Sample: 400 * fs, Code: wfdb.Rhythm, Aux: "(VFL"}, {Sample: 500 * fs, Code: wfdb.Rhythm, Aux: "(N"}}
	all := append(append([]wfdb.Annotation{}, ref...), vfl...)
	var det []int64
	det = append(det, 100*fs, 450*fs) // extra detections in learning and VF
	det = append(det, samples(ref, 0)...)
	r := Compare(all, det, fs, Options{})
	inVF := 0
	for _, a := range ref {
		if a.Sample >= 400*fs && a.Sample < 500*fs {
			inVF++
		}
	}
	want := 0
	for _, a := range ref {
		if a.Sample >= 300*fs {
			want++
		}
	}
	want -= inVF
	if r.TP != want || r.FP != 0 || r.FN != 0 {
		t.Errorf("got %s, want TP=%d and no errors", r, want)
	}
	// Scoring from the start counts the learning-period detection.
	if r3 := Compare(all, det, fs, Options{Learning: -1, Window: 150 * time.Millisecond}); r3.FP != 1 {
		t.Errorf("no learning period: %s, want the 100 s detection as FP", r3)
	}
	// The same with [ ] onset/offset codes.
	br := []wfdb.Annotation{{Sample: 400 * fs, Code: wfdb.VFOn}, {Sample: 500*fs - 1, Code: wfdb.VFOff}}
	all = append(append([]wfdb.Annotation{}, ref...), br...)
	if r2 := Compare(all, det, fs, Options{}); r2 != r {
		t.Errorf("[ ] episode: %s, rhythm episode: %s", r2, r)
	}
	// Without any episode both extra detections count.
	if r4 := Compare(ref, det, fs, Options{Learning: -1}); r4.FP != 2 {
		t.Errorf("no learning period, no episode: %s, want 2 FP", r4)
	}
}

func TestPerfectOnRecords(t *testing.T) {
	dir := mitdbtest.Dir(t)
	for _, rec := range mitdbtest.Records(t, dir) {
		a, err := wfdb.ReadAnnotations(filepath.Join(dir, rec+".atr"))
		if err != nil {
			t.Fatal(err)
		}
		r := Compare(a, samples(a, 0), fs, Options{})
		if r.FN != 0 || r.FP != 0 || r.TP < 1000 {
			t.Errorf("%s: reference as detections scores %s", rec, r)
		}
	}
}
