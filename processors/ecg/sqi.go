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
)

// Quality limits, in mV. Ordinary front-end noise is 5–30 µV RMS, a QRS
// 0.3–3 mV, so a window spanning under 20 µV is not an ECG and one with
// over 120 µV RMS above 40 Hz hides small QRS complexes.
const (
	flatPPmV      = 0.02 // peak-to-peak below this: flat
	constantFrac  = 0.98 // share of unchanged successive samples meaning "constant"
	clipFrac      = 0.1  // share of samples stuck at the window's max or min
	hfGoodmV      = 0.03 // high-frequency RMS where quality starts to fall
	hfBadmV       = 0.12 // high-frequency RMS where quality reaches 0
	relGood       = 0.02 // the same relative to the window's peak-to-peak
	relBad        = 0.10
	motionPPmV    = 8.0 // wider swings are motion or electrode artefact
	goodThreshold = 0.5 // below this the window's reason is never "ok"
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

	n            int64
	count        int
	minV, maxV   float32
	atMin, atMax int
	same         int
	prev         float32
	hfSum        float64
	hfWarm       int
}

// NewSQI rates windows of the given length (1 s when zero).
func NewSQI(fs float64, window time.Duration) *SQI {
	if window <= 0 {
		window = time.Second
	}
	s := &SQI{fs: fs, window: max(1, int(math.Round(window.Seconds()*fs)))}
	s.hp = highpass(fs, math.Min(40, 0.4*fs), math.Sqrt2/2)
	s.Reset()
	return s
}

// Window is the window length in samples.
func (s *SQI) Window() int { return s.window }

// Reset drops the window in progress and the filter state.
func (s *SQI) Reset() {
	s.hp.reset()
	s.n = 0
	s.hfWarm = 0
	s.startWindow()
}

func (s *SQI) startWindow() {
	s.count, s.atMin, s.atMax, s.same, s.hfSum = 0, 0, 0, 0, 0
	s.minV, s.maxV = float32(math.Inf(1)), float32(math.Inf(-1))
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

// ramp is 1 at or below good, 0 at or above bad, linear between.
func ramp(v, good, bad float64) float64 {
	return math.Max(0, math.Min(1, (bad-v)/(bad-good)))
}
