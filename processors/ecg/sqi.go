package ecg

import (
	"math"
	"time"
)

// Reasons a quality window gets; Measurement.Text of ecg_sqi carries them.
const (
	ReasonOK        = "ok"
	ReasonFlat      = "flat"      // a line with almost no variation: electrode not picking up
	ReasonLeadOff   = "lead_off"  // constant value (often a rail): electrode off
	ReasonSaturated = "saturated" // clipping at the amplifier's extremes
	ReasonNoise     = "noise"     // high-frequency noise, motion, or implausible beats
	ReasonBaseline  = "baseline"  // the baseline slides with no QRS on it: a front end recovering from overload
)

// Quality limits, in mV. Ordinary front-end noise is 5–30 µV RMS, a QRS
// 0.3–3 mV, so a window spanning under 20 µV is not an ECG, one with over
// 120 µV RMS above 40 Hz hides small QRS complexes, and one whose baseline
// slides by more than 0.5 mV with nothing QRS-like on it is a front end
// recovering from overload.
const (
	flatPPmV     = 0.02 // peak-to-peak below this: flat
	constantFrac = 0.98 // share of unchanged successive samples meaning "constant"
	clipFrac     = 0.1  // share of samples stuck at the window's max or min
	hfGoodmV     = 0.03 // high-frequency RMS where quality starts to fall
	hfBadmV      = 0.12 // high-frequency RMS where quality reaches 0
	relGood      = 0.02 // the same relative to the window's peak-to-peak
	relBad       = 0.10
	motionPPmV   = 8.0 // wider swings are motion or electrode artefact
	// An amplifier driven past its input range by a motion or electrode
	// artefact blocks, and its AC coupling then brings the baseline back
	// in a smooth exponential over several seconds with no ECG on it
	// (MIT-BIH 116 at 1355 s and 208 at 1384 s: a 3 mV step, then 1.3, 1.0,
	// 0.6 mV of slide a second with 0.08 mV of QRS-band activity). To the
	// detector that is asystole, so such a window is unusable: its linear
	// trend moves at least baselineDriftmV while its QRS-band activity
	// stays under what counts as a QRS and under a fifth of the slide.
	// Respiration moves the baseline 0.1–0.3 mV over a 3–5 s breath, under
	// the floor, so an asystole with breathing on it still rates good; a
	// window with a QRS in it has QRS-band activity of 0.15 mV and more.
	baselineDriftmV = 0.5  // slide of the window's least-squares line, end to end
	baselineRatio   = 5.0  // the slide is at least this times the QRS-band peak-to-peak
	qrsMinmV        = 0.15 // a QRS below this is not counted as a beat (docs/clinical.md#alarm-fatigue)
	baselineTailmV  = 0.2  // slide that continues a recovery already rated baseline
	qrsBandHz       = 5.0  // high-pass corner of the QRS band, as in the detector
	goodThreshold   = 0.5  // below this the window's reason is never "ok"
)

// Quality is the signal quality of one window.
type Quality struct {
	// End is the sample index just after the window (since Reset).
	End int64
	// Index is 0 (unusable) to 1 (clean).
	Index float64
	// Reason is one of the Reason constants.
	Reason string
}

// SQI rates a single-lead ECG in consecutive windows. It is not safe for
// concurrent use.
type SQI struct {
	fs     float64
	window int
	hp     biquad // isolates the band above 40 Hz (noise, EMG)
	qrsHP  biquad // isolates the QRS band from the baseline

	n            int64
	count        int
	minV, maxV   float32
	atMin, atMax int
	same         int
	prev         float32
	hfSum        float64
	hfWarm       int
	primed       bool
	first        float32 // first sample of the window: the trend's origin
	sumX, sumIX  float64 // Σx and Σi·x of the window (x from first), for its trend
	qMin, qMax   float64 // QRS-band extremes of the window
	slide        float64 // drift of the previous window if it was rated baseline, else 0
}

// NewSQI rates windows of the given length (1 s when zero).
func NewSQI(fs float64, window time.Duration) *SQI {
	if window <= 0 {
		window = time.Second
	}
	s := &SQI{fs: fs, window: max(1, int(math.Round(window.Seconds()*fs)))}
	s.hp = highpass(fs, math.Min(40, 0.4*fs), math.Sqrt2/2)
	s.qrsHP = highpass(fs, qrsBandHz, math.Sqrt2/2)
	s.Reset()
	return s
}

// Window is the window length in samples.
func (s *SQI) Window() int { return s.window }

// Reset drops the window in progress and the filter state.
func (s *SQI) Reset() {
	s.hp.reset()
	s.qrsHP.reset()
	s.primed = false
	s.slide = 0
	s.n = 0
	s.hfWarm = 0
	s.startWindow()
}

func (s *SQI) startWindow() {
	s.count, s.atMin, s.atMax, s.same, s.hfSum = 0, 0, 0, 0, 0
	s.minV, s.maxV = float32(math.Inf(1)), float32(math.Inf(-1))
	s.sumX, s.sumIX = 0, 0
	s.qMin, s.qMax = math.Inf(1), math.Inf(-1)
}

// Process adds samples (mV) and calls emit at the end of every window.
func (s *SQI) Process(samples []float32, emit func(Quality)) {
	for _, v := range samples {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			v = s.prev // as the detector does: hold the last good value
		}
		if s.count > 0 && v == s.prev {
			s.same++
		}
		s.prev = v
		switch {
		case v > s.maxV:
			s.maxV, s.atMax = v, 1
		case v == s.maxV:
			s.atMax++
		}
		switch {
		case v < s.minV:
			s.minV, s.atMin = v, 1
		case v == s.minV:
			s.atMin++
		}
		h := s.hp.step(float64(v))
		// Skip the high-pass start-up transient after a Reset.
		if s.hfWarm < int(s.fs/10) {
			s.hfWarm++
			h = 0
		}
		s.hfSum += h * h
		if !s.primed {
			// Start the QRS band in its steady state for this level, so
			// the filter's step response is not taken for activity.
			s.qrsHP.prime(float64(v))
			s.primed = true
		}
		q := s.qrsHP.step(float64(v))
		s.qMin, s.qMax = math.Min(s.qMin, q), math.Max(s.qMax, q)
		if s.count == 0 {
			s.first = v
		}
		d := float64(v - s.first)
		s.sumX += d
		s.sumIX += float64(s.count) * d
		s.count++
		s.n++
		if s.count == s.window {
			emit(s.rate())
			s.startWindow()
		}
	}
}

func (s *SQI) rate() Quality {
	q := Quality{End: s.n}
	prevSlide := s.slide
	s.slide = 0
	pp := float64(s.maxV - s.minV)
	switch {
	case float64(s.same) >= constantFrac*float64(s.count-1):
		q.Index, q.Reason = 0, ReasonLeadOff
		return q
	case float64(max(s.atMax, s.atMin)) >= clipFrac*float64(s.count):
		clip := float64(max(s.atMax, s.atMin)) / float64(s.count)
		q.Index, q.Reason = 0.3*(1-clip), ReasonSaturated
		return q
	case pp < flatPPmV:
		q.Index, q.Reason = 0.2, ReasonFlat
		return q
	case pp > motionPPmV:
		q.Index, q.Reason = 0.2, ReasonNoise
		return q
	}
	// The slide of a recovering front end is an exponential: once a
	// window is rated baseline, the next ones sliding the same way with
	// nothing QRS-like on them are the same recovery, too slow now to
	// tell from breathing on their own but still no ECG.
	drift, act := s.drift(), s.qMax-s.qMin
	tail := prevSlide*drift > 0 && math.Abs(drift) >= baselineTailmV && act <= qrsMinmV
	if tail || math.Abs(drift) >= baselineDriftmV && act <= min(qrsMinmV, math.Abs(drift)/baselineRatio) {
		s.slide = drift
		q.Index, q.Reason = 0.2, ReasonBaseline
		return q
	}
	hf := math.Sqrt(s.hfSum / float64(s.count))
	qAbs := ramp(hf, hfGoodmV, hfBadmV)
	qRel := ramp(hf/pp, relGood, relBad)
	q.Index = max(qAbs, qRel)
	q.Reason = ReasonOK
	if q.Index < goodThreshold {
		q.Reason = ReasonNoise
	}
	return q
}

// drift is how far the window's least-squares line moves from its first
// sample to its last, mV (negative when it falls).
func (s *SQI) drift() float64 {
	n := float64(s.count)
	if n < 2 {
		return 0
	}
	si := n * (n - 1) / 2
	sii := (n - 1) * n * (2*n - 1) / 6
	slope := (n*s.sumIX - si*s.sumX) / (n*sii - si*si)
	return slope * (n - 1)
}

// ramp is 1 at or below good, 0 at or above bad, linear between.
func ramp(v, good, bad float64) float64 {
	return math.Max(0, math.Min(1, (bad-v)/(bad-good)))
}
