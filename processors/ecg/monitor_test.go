package ecg

import (
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

// feed sends x to m in 1 s frames starting at start and collects the
// measurements.
func feed(m *Monitor, start time.Time, x []float32, fs float64) []telemetry.Measurement {
	var out []telemetry.Measurement
	frame := int(fs)
	for i := 0; i < len(x); i += frame {
		st := start.Add(time.Duration(float64(i) / fs * float64(time.Second)))
		out = append(out, m.Process(st, x[i:min(i+frame, len(x))])...)
	}
	return out
}

// ticks pairs each ecg_since_beat with the ecg_sqi of the same window.
type tick struct {
	t      time.Time
	since  float64
	sqi    float64
	reason string
}

func ticks(t *testing.T, ms []telemetry.Measurement) []tick {
	t.Helper()
	var out []tick
	var cur tick
	for _, m := range ms {
		if m.Source != Source {
			t.Fatalf("measurement %s without source ecg", m.Metric)
		}
		switch m.Metric {
		case MetricSQI:
			cur = tick{t: m.Time, sqi: m.Value, reason: m.Text}
		case MetricSinceBeat:
			if !m.Time.Equal(cur.t) {
				t.Fatalf("since_beat at %v without the window's sqi", m.Time)
			}
			cur.since = m.Value
			out = append(out, cur)
		}
	}
	return out
}

// noFalseAsystole fails on any window with good quality and 4 s or more
// without a beat.
func noFalseAsystole(t *testing.T, ts []tick) {
	t.Helper()
	for _, k := range ts {
		if k.sqi >= 0.5 && k.since >= 4 {
			t.Errorf("%v: ecg_since_beat %.1f s on good signal (sqi %.2f %s)", k.t.Sub(t0), k.since, k.sqi, k.reason)
		}
	}
}

func baseline(fs, seconds, noise float64, seed int64) []float32 {
	rng := rand.New(rand.NewSource(seed))
	x := make([]float32, int(seconds*fs))
	for i := range x {
		tt := float64(i) / fs
		x[i] = float32(0.2*math.Sin(2*math.Pi*0.3*tt) + noise*rng.NormFloat64())
	}
	return x
}

func TestMonitorSinusRhythm(t *testing.T) {
	const fs = 250
	x, want := synth(fs, 60, 0.8, 1, 0.01, 4)
	m := NewMonitor(fs, MonitorOptions{})
	ms := feed(m, t0, x, fs)
	var rr, hr, irr []float64
	for _, v := range ms {
		switch v.Metric {
		case MetricRR:
			rr = append(rr, v.Value)
		case telemetry.HR:
			hr = append(hr, v.Value)
		case MetricIrregularity:
			irr = append(irr, v.Value)
		}
	}
	if len(rr) < len(want)-4 {
		t.Fatalf("%d RR intervals for %d beats", len(rr), len(want))
	}
	for _, v := range rr {
		if math.Abs(v-800) > 8 {
			t.Fatalf("RR %.1f ms, want 800", v)
		}
	}
	if len(hr) < 50 || math.Abs(hr[len(hr)-1]-75) > 1 {
		t.Errorf("hr: %d values, last %v; want about 1 a second at 75", len(hr), hr)
	}
	if len(irr) == 0 || irr[len(irr)-1] >= IrregularThreshold {
		t.Errorf("irregularity of a regular rhythm: %v", irr)
	}
	for _, k := range ticks(t, ms) {
		if k.sqi < 0.8 || k.reason != ReasonOK {
			t.Errorf("%v: clean signal rated %.2f %s", k.t.Sub(t0), k.sqi, k.reason)
		}
	}
	if got := m.LastBeat(); got.Sub(t0) < 58*time.Second {
		t.Errorf("LastBeat %v", got.Sub(t0))
	}
}

// TestMonitorAsystole: beats stop, low-level noise goes on; within 5 s of
// the first missing beat a window reports good quality and 4 s without a
// beat, and the count keeps climbing: noise never passes for a beat, not
// even after the detector's 8 s re-learning.
func TestMonitorAsystole(t *testing.T) {
	const fs = 360
	beats, peaks := synth(fs, 30, 0.8, 1, 0.01, 5)
	x := append(beats, baseline(fs, 30, 0.03, 6)...)
	for i := len(beats); i < len(x); i++ {
		// continue the wander of the beating part
		x[i] += float32(0.2*math.Sin(2*math.Pi*0.3*float64(i)/fs)) - float32(0.2*math.Sin(2*math.Pi*0.3*float64(i-len(beats))/fs))
	}
	m := NewMonitor(fs, MonitorOptions{})
	ts := ticks(t, feed(m, t0, x, fs))
	lastPeak := t0.Add(time.Duration(float64(peaks[len(peaks)-1]) / fs * float64(time.Second)))
	onset := lastPeak.Add(800 * time.Millisecond) // the first missing beat
	var found *tick
	for i, k := range ts {
		if k.t.Before(onset) {
			if k.sqi >= 0.5 && k.since >= 4 {
				t.Errorf("%v: since_beat %.1f before the asystole", k.t.Sub(t0), k.since)
			}
			continue
		}
		if k.since >= 4 && k.sqi >= 0.5 {
			found = &ts[i]
			break
		}
	}
	if found == nil {
		t.Fatalf("no window with since_beat >= 4 s on good signal after the asystole at %v", onset.Sub(t0))
	}
	if d := found.t.Sub(onset); d > 5*time.Second {
		t.Errorf("asystole visible %v after onset, want within 5 s", d)
	}
	prev := 0.0
	for _, k := range ts {
		if k.t.Before(found.t) {
			continue
		}
		if k.since < prev || k.sqi < 0.5 {
			t.Errorf("%v: since_beat %.1f after %.1f, sqi %.2f: asystole interrupted", k.t.Sub(t0), k.since, prev, k.sqi)
		}
		prev = k.since
	}
	if prev < 25 {
		t.Errorf("since_beat reached only %.1f s in 30 s of asystole", prev)
	}
	if !m.LastBeat().Equal(lastPeak) && m.LastBeat().Sub(lastPeak).Abs() > 20*time.Millisecond {
		t.Errorf("LastBeat %v, last R peak %v", m.LastBeat().Sub(t0), lastPeak.Sub(t0))
	}
}

// TestMonitorGap: frames stop for 10 s and resume; the gap is no asystole
// and no RR interval spans it.
func TestMonitorGap(t *testing.T) {
	const fs = 250
	x, _ := synth(fs, 60, 0.8, 1, 0.01, 7)
	m := NewMonitor(fs, MonitorOptions{})
	ms := feed(m, t0, x[:30*fs], fs)
	ms = append(ms, feed(m, t0.Add(40*time.Second), x[30*fs:], fs)...)
	ts := ticks(t, ms)
	noFalseAsystole(t, ts)
	for _, v := range ms {
		if v.Metric == MetricRR && v.Value > 1000 {
			t.Errorf("RR %.0f ms at %v spans the gap", v.Value, v.Time.Sub(t0))
		}
		if v.Time.After(t0.Add(30*time.Second)) && v.Time.Before(t0.Add(40*time.Second)) {
			t.Errorf("%s at %v is inside the gap", v.Metric, v.Time.Sub(t0))
		}
	}
	// Beats resume after the gap.
	if m.LastBeat().Sub(t0) < 68*time.Second {
		t.Errorf("last beat at %v, want beats after the gap", m.LastBeat().Sub(t0))
	}
	// Small jitter in frame starts is not a gap.
	m2 := NewMonitor(fs, MonitorOptions{})
	var ms2 []telemetry.Measurement
	for i := 0; i < len(x); i += fs {
		jit := time.Duration((i/fs)%3-1) * 5 * time.Millisecond
		ms2 = append(ms2, m2.Process(t0.Add(time.Duration(i/fs)*time.Second+jit), x[i:i+fs])...)
	}
	// A redelivered frame is ignored rather than taken for a restart.
	if got := m2.Process(t0.Add(50*time.Second), x[50*fs:51*fs]); len(got) != 0 {
		t.Errorf("redelivered frame produced %d measurements", len(got))
	}
	n := 0
	for _, v := range ms2 {
		if v.Metric == MetricRR {
			n++
		}
	}
	if n < 70 {
		t.Errorf("with 5 ms jitter only %d RR intervals in 60 s: jitter taken for gaps", n)
	}
}

// TestMonitorLeadOff: the electrode comes off for 10 s (the signal sits at
// a rail) and back; the lead-off windows are rated bad with reason
// lead_off, and nothing looks like asystole.
func TestMonitorLeadOff(t *testing.T) {
	const fs = 360
	x, _ := synth(fs, 60, 0.8, 1, 0.01, 8)
	for i := 25 * fs; i < 35*fs; i++ {
		x[i] = -10.24 // negative rail of a 12-bit front end at 200/mV
	}
	m := NewMonitor(fs, MonitorOptions{})
	ts := ticks(t, feed(m, t0, x, fs))
	noFalseAsystole(t, ts)
	leadOff := 0
	for _, k := range ts {
		s := k.t.Sub(t0)
		if s > 26*time.Second && s <= 35*time.Second {
			if k.sqi >= 0.5 || k.reason != ReasonLeadOff {
				t.Errorf("%v: lead off rated %.2f %s", s, k.sqi, k.reason)
			}
			leadOff++
		}
	}
	if leadOff != 9 {
		t.Errorf("%d lead-off windows, want 9", leadOff)
	}
	if m.LastBeat().Sub(t0) < 58*time.Second {
		t.Errorf("last beat at %v: beats not found again after the lead came back", m.LastBeat().Sub(t0))
	}
}

func TestIrregularity(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	regular := make([]float64, 40)
	af := make([]float64, 40)
	ectopic := make([]float64, 40)
	for i := range regular {
		regular[i] = 800 + 15*rng.NormFloat64()
		af[i] = 400 + 500*rng.Float64()
		ectopic[i] = regular[i]
	}
	ectopic[10], ectopic[11] = 500, 1100 // one PVC with compensatory pause
	if v := Irregularity(regular); v >= IrregularThreshold {
		t.Errorf("regular rhythm: %.2f", v)
	}
	if v := Irregularity(ectopic); v >= IrregularThreshold {
		t.Errorf("one ectopic beat: %.2f", v)
	}
	if v := Irregularity(af); v < IrregularThreshold {
		t.Errorf("AF-like rhythm: %.2f", v)
	}
}

// BenchmarkMonitor: a 30-min record through a Monitor in 1 s frames, as
// the processor will feed it.
func BenchmarkMonitor(b *testing.B) {
	const fs = 360
	x, _ := synth(fs, 1800, 0.8, 1, 0.02, 14)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		m := NewMonitor(fs, MonitorOptions{})
		for i := 0; i < len(x); i += fs {
			n += len(m.Process(t0.Add(time.Duration(i/fs)*time.Second), x[i:i+fs]))
		}
	}
	b.StopTimer()
	b.ReportMetric(1800/(b.Elapsed().Seconds()/float64(b.N)), "x_realtime")
	b.ReportMetric(float64(n)/float64(b.N), "measurements/record")
}

// overload is a front end driven past its input range at onset (a
// motion or electrode artefact), shaped on MIT-BIH 116 at 1354.6 s: the
// output jumps by 3.4 mV, the AC coupling brings it back with a 2 s time
// constant, and no ECG gets through for 5.7 s. From then on the output is
// after (beats, or nothing in an asystole) with the rest of the slide.
func overload(fs float64, before, after []float32, onset float64, seed int64) []float32 {
	const blackout = 5.7
	rng := rand.New(rand.NewSource(seed))
	x := make([]float32, len(before))
	for i := range x {
		t := float64(i) / fs
		switch {
		case t < onset:
			x[i] = before[i]
		case t < onset+blackout:
			x[i] = float32(0.2*math.Sin(2*math.Pi*0.3*t) + 0.01*rng.NormFloat64())
		default:
			x[i] = after[i]
		}
		if t >= onset {
			x[i] += float32(3.4 * math.Exp(-(t-onset)/2))
		}
	}
	return x
}

// TestMonitorOverloadRecovery: the signal slides back from an overload
// with no QRS on it for 5.7 s and the beats come back three times smaller;
// the slide is rated unusable (baseline), so it never reads as asystole,
// and the beats are found again at once rather than after the detector's
// 8 s re-learning.
func TestMonitorOverloadRecovery(t *testing.T) {
	const fs = 360
	const onset = 30.6 // just after the beat at 30.5 s
	before, _ := synth(fs, 60, 0.8, 1, 0.01, 15)
	after, peaks := synth(fs, 60, 0.8, 0.3, 0.01, 16)
	m := NewMonitor(fs, MonitorOptions{})
	ms := feed(m, t0, overload(fs, before, after, onset, 17), fs)
	ts := ticks(t, ms)
	noFalseAsystole(t, ts)
	slide := 0
	for _, k := range ts {
		if k.reason == ReasonBaseline {
			slide++
			if s := k.t.Sub(t0).Seconds(); s < onset || s > onset+7 {
				t.Errorf("%.0f s rated %s outside the slide", s, k.reason)
			}
		}
	}
	if slide < 2 {
		t.Errorf("%d windows of the slide rated %s, want the steep ones (2 or more)", slide, ReasonBaseline)
	}
	// Every beat from 1.5 s after the ECG is back is found (the first
	// ones within the detector's learning, emitted at its end).
	var rr []float64
	for _, v := range ms {
		if v.Metric == MetricRR && v.Time.Sub(t0).Seconds() > onset+5.7 {
			rr = append(rr, v.Value)
		}
	}
	want := 0
	for _, p := range peaks {
		if float64(p)/fs > onset+5.7+1.5 {
			want++
		}
	}
	if len(rr) < want {
		t.Errorf("%d RR intervals after the ECG came back, want at least %d", len(rr), want)
	}
	for _, v := range rr {
		if math.Abs(v-800) > 8 {
			t.Errorf("RR %.0f ms after the overload, want 800", v)
		}
	}
}

// TestMonitorAsystoleAfterOverload: the heart stops behind an overload;
// once the slide has settled, the asystole shows within 5 s of the last
// window rated unusable and keeps climbing. The quality gate delays the
// alarm; it never hides it.
func TestMonitorAsystoleAfterOverload(t *testing.T) {
	const fs = 360
	const onset = 30.6
	before, _ := synth(fs, 60, 0.8, 1, 0.01, 18)
	after := baseline(fs, 60, 0.025, 19)
	m := NewMonitor(fs, MonitorOptions{})
	ts := ticks(t, feed(m, t0, overload(fs, before, after, onset, 20), fs))
	var lastBad time.Time
	var found *tick
	for i, k := range ts {
		if k.sqi < 0.5 {
			lastBad = k.t
			found = nil
			continue
		}
		if found == nil && k.since >= 4 && k.t.Sub(t0).Seconds() > onset {
			found = &ts[i]
		}
	}
	if lastBad.IsZero() || lastBad.Sub(t0).Seconds() < onset {
		t.Fatalf("no window of the slide rated unusable (last bad window at %v)", lastBad.Sub(t0))
	}
	if found == nil {
		t.Fatalf("no window with since_beat >= 4 s on good signal after the slide (last bad window at %v)", lastBad.Sub(t0))
	}
	if d := found.t.Sub(lastBad); d > 5*time.Second {
		t.Errorf("asystole visible %v after the last unusable window, want within 5 s", d)
	}
	if last := ts[len(ts)-1]; last.since < 20 || last.sqi < 0.5 {
		t.Errorf("at the end: since_beat %.1f s, sqi %.2f %s; want a long asystole on good signal", last.since, last.sqi, last.reason)
	}
}
