package ecg

import "math"

// Beat is one detected QRS complex.
type Beat struct {
	// Index is the sample index of the R peak counted from the start of
	// the stream (or from the last Reset).
	Index int64
	// Amplitude is the value of the baseline-free signal at the peak, mV.
	Amplitude float32
}

// Tuning, in physical units so that any rate from 100 to 1000 Hz behaves
// the same. The structure is Pan–Tompkins as refined by Hamilton and
// Tompkins (OSEA): band-pass, derivative, rectification, moving-window
// integration, peak picking with a hold period, adaptive thresholds from
// the last eight QRS and noise peaks, search-back, refractory period and a
// T-wave slope test.
const (
	bpLowHz        = 5.0   // high-pass corner of the QRS band
	bpHighHz       = 15.0  // low-pass corner of the QRS band
	derivSec       = 0.010 // span of the band-pass derivative
	mwiSec         = 0.080 // integration window; 80 ms keeps wide QRS from merging with T
	peakTimeoutSec = 0.095 // a local maximum is a peak if nothing higher comes within this
	holdSec        = 0.250 // one QRS per 200 ms: hold a peak that long for a bigger one
	refractorySec  = 0.200 // no second beat within 200 ms of the last
	tWaveSec       = 0.360 // candidates this soon after a beat must pass the slope test
	learnSec       = 2.0   // initial learning before thresholds exist
	relearnSec     = 8.0   // re-learn thresholds after this long without a beat
	searchBackRR   = 1.5   // search back when no beat within 150 % of the mean RR
	maxRRSec       = 2.0   // cap of the mean RR used for search-back: bounds the delay
	threshFrac     = 0.3125
	blsHalfSec     = 0.110 // half-width of the slope-pair (baseline-shift) window
	blsPairSec     = 0.150 // the up and down slopes of a QRS are this close
	locBeforeSec   = 0.100 // R peak search window around the integrator estimate
	locAfterSec    = 0.060
	refineSec      = 0.020 // refine the R peak on the broadband signal within this
	minQRSmV       = 0.03  // band-passed peak-to-peak floor (noise on a flat line); QRS are 0.1 mV and up
	minCrest       = 3.0   // learn only from seconds whose integrator peaks stand out
)

// MaxDelay is the longest time between an R peak and the Process call
// that emits it: beats found by search-back wait for 150 % of the mean RR
// (capped at maxRRSec) after the previous beat, plus the hold period.
const MaxDelay = searchBackRR*maxRRSec + holdSec + peakTimeoutSec + mwiSec

// cand is a peak of the integrated signal that survived the hold period,
// already localised and measured so it can be decided on later.
type cand struct {
	height float64 // integrator peak
	m      int64   // integrator peak index
	r      int64   // R peak index
	amp    float64 // broadband value at r, mV
	slope  float64 // largest raw slope near r
	pp     float64 // band-passed peak-to-peak near r, mV
	shape  bool    // slopes look like a QRS rather than a baseline shift
}

// Detector is a streaming single-lead QRS detector. It is not safe for
// concurrent use; keep one per device.
type Detector struct {
	fs float64
	// durations in samples
	derivN, mwiN, peakTimeout, hold, refractory, tWave int
	learnN, relearnN, blsHalf, blsPair                 int
	locBefore, locAfter, refine, maxRR                 int
	mwiDelay, bpDelay                                  int

	bpHP, bpLP1, bpLP2 biquad // QRS band
	bbHP, bbLP         biquad // broadband (0.5–40 Hz) for the R peak

	n      int64 // samples seen
	x      ring  // raw samples, mV
	bp     ring  // band-passed
	bb     ring  // broadband
	e      ring  // rectified derivative
	mwiSum float64

	// peak picking
	prevMWI  float64
	pkMax    float64
	pkIdx    int64
	pkActive bool

	// hold period
	held    float64
	heldIdx int64
	holdCnt int

	// learning and re-learning
	learning bool
	secCount int
	secMax   float64
	secSum   float64
	maxima   [8]float64
	means    [8]float64
	nMaxima  int
	pending  [32]cand
	nPending int

	// adaptive state
	qrs, noise, rr [8]float64
	thresh, rrMean float64
	lastM, lastR   int64
	lastSlope      float64
	haveLast       bool
	sb             cand
	haveSB         bool
	emittedAny     bool
	lastEmitted    int64
}

// NewDetector returns a detector for samples at fs Hz (100–1000 Hz).
func NewDetector(fs float64) *Detector {
	if fs < 50 {
		fs = 50 // guard the filter designs; callers validate rates
	}
	d := &Detector{fs: fs}
	ns := func(sec float64) int { return max(1, int(math.Round(sec*fs))) }
	d.derivN, d.mwiN, d.peakTimeout = ns(derivSec), ns(mwiSec), ns(peakTimeoutSec)
	d.hold, d.refractory, d.tWave = ns(holdSec), ns(refractorySec), ns(tWaveSec)
	d.learnN, d.relearnN = ns(learnSec), ns(relearnSec)
	d.blsHalf, d.blsPair = ns(blsHalfSec), ns(blsPairSec)
	d.locBefore, d.locAfter, d.refine = ns(locBeforeSec), ns(locAfterSec), ns(refineSec)
	d.maxRR = ns(maxRRSec)
	hi := math.Min(bpHighHz, 0.45*fs)
	d.bpHP = highpass(fs, bpLowHz, math.Sqrt2/2)
	d.bpLP1 = lowpass(fs, hi, 0.5412) // 4th-order Butterworth as two sections
	d.bpLP2 = lowpass(fs, hi, 1.3066)
	d.bbHP = highpass(fs, 0.5, math.Sqrt2/2)
	d.bbLP = lowpass(fs, math.Min(40, 0.45*fs), math.Sqrt2/2)
	size := ns(2.0)
	d.x, d.bp, d.bb, d.e = newRing(size), newRing(size), newRing(size), newRing(size)
	d.calibrate()
	d.Reset()
	return d
}

// calibrate measures, on a synthetic QRS-like pulse, how far behind the R
// peak the band-passed signal and the integrator peak; filters at other
// rates delay differently, so this is computed rather than tabulated.
func (d *Detector) calibrate() {
	d.Reset()
	center := int64(d.fs)
	sigma := 0.010 * d.fs
	bestE, bestB := 0.0, 0.0
	var mArg, bArg int64
	for i := int64(0); i < 2*center; i++ {
		t := float64(i-center) / sigma
		d.filter(math.Exp(-t * t / 2))
		if v := math.Abs(d.bp.at(i)); v > bestB {
			bestB, bArg = v, i
		}
		if d.mwiSum > bestE {
			bestE, mArg = d.mwiSum, i
		}
	}
	d.bpDelay = max(0, int(bArg-center))
	d.mwiDelay = max(0, int(mArg-center))
}

// Reset forgets everything learnt, as after a gap in the stream; the next
// sample is index 0 again.
func (d *Detector) Reset() {
	for _, f := range []*biquad{&d.bpHP, &d.bpLP1, &d.bpLP2, &d.bbHP, &d.bbLP} {
		f.reset()
	}
	d.x.clear()
	d.bp.clear()
	d.bb.clear()
	d.e.clear()
	d.n, d.mwiSum, d.prevMWI = 0, 0, 0
	d.pkMax, d.pkIdx, d.pkActive = 0, 0, false
	d.held, d.heldIdx, d.holdCnt = 0, 0, 0
	d.learning, d.secCount, d.secMax, d.secSum, d.nMaxima, d.nPending = true, 0, 0, 0, 0, 0
	d.qrs, d.noise = [8]float64{}, [8]float64{}
	for k := range d.rr {
		d.rr[k] = d.fs // assume 60 beat/min until beats say otherwise
	}
	d.thresh, d.rrMean = 0, d.fs
	d.lastM, d.lastR, d.lastSlope, d.haveLast = 0, 0, 0, false
	d.haveSB = false
	d.emittedAny, d.lastEmitted = false, 0
}

// filter runs one sample through the filters and the integrator.
func (d *Detector) filter(v float64) {
	i := d.n
	if i == 0 {
		// Start at the steady state of the first sample, as if the
		// signal had always been at that level: after a restart in the
		// middle of a recording the level is rarely zero, and the
		// filters' step response would be a QRS-sized peak that the
		// learning adopts and then reports as a beat.
		d.bpHP.prime(v)
		d.bbHP.prime(v)
		for k := range d.x.buf {
			d.x.buf[k] = v
		}
	}
	d.x.set(i, v)
	b := d.bpLP2.step(d.bpLP1.step(d.bpHP.step(v)))
	d.bp.set(i, b)
	d.bb.set(i, d.bbLP.step(d.bbHP.step(v)))
	// Derivative scaled to mV/s so thresholds do not depend on the rate.
	e := math.Abs(b-d.bp.at(i-int64(d.derivN))) * d.fs / float64(d.derivN)
	d.e.set(i, e)
	d.mwiSum += e - d.e.at(i-int64(d.mwiN))
	if i < int64(d.mwiN) {
		// Before the window fills, the subtracted slots were zero.
		d.mwiSum += d.e.at(i - int64(d.mwiN))
	}
	d.n++
}

// Process feeds samples (mV) and calls emit for each beat it confirms.
// State carries across calls, so frames of any size give the same beats.
func (d *Detector) Process(samples []float32, emit func(Beat)) {
	for _, s := range samples {
		d.step(float64(s), emit)
	}
}

func (d *Detector) step(v float64, emit func(Beat)) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		// One bad value would poison the filters for good: hold the
		// previous sample instead.
		v = d.x.at(d.n - 1)
	}
	d.filter(v)
	i := d.n - 1
	mwi := d.mwiSum / float64(d.mwiN)
	if mwi < 1e-12 {
		mwi = 0 // rounding residue of the running sum
	}
	if pk, at, ok := d.peak(mwi, i); ok {
		d.holdPeak(pk, at, emit)
	} else if d.holdCnt > 0 {
		d.holdCnt--
		if d.holdCnt == 0 {
			d.candidate(d.held, d.heldIdx, emit)
		}
	}
	d.learn(mwi, emit)
	if !d.learning {
		d.searchBack(i, emit)
	}
}

// peak finds local maxima of the integrator: a maximum counts once the
// signal falls below half of it or nothing higher came for peakTimeout.
func (d *Detector) peak(v float64, i int64) (float64, int64, bool) {
	prev := d.prevMWI
	d.prevMWI = v
	if v > prev && v > d.pkMax {
		d.pkMax, d.pkIdx, d.pkActive = v, i, true
		return 0, 0, false
	}
	if !d.pkActive {
		return 0, 0, false
	}
	if v < d.pkMax/2 || i-d.pkIdx > int64(d.peakTimeout) {
		h := d.pkMax
		d.pkMax, d.pkActive = 0, false
		return h, d.pkIdx, true
	}
	return 0, 0, false
}
