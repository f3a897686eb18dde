package ecg

import "math"

// holdPeak keeps the biggest peak of any 200 ms: only one QRS fits there.
func (d *Detector) holdPeak(h float64, at int64, emit func(Beat)) {
	switch {
	case d.holdCnt == 0:
		d.held, d.heldIdx, d.holdCnt = h, at, d.hold
	case h > d.held:
		d.held, d.heldIdx, d.holdCnt = h, at, d.hold
	default:
		d.holdCnt--
		if d.holdCnt == 0 {
			d.candidate(d.held, d.heldIdx, emit)
		}
	}
}

// measure localises the R peak of an integrator peak at m and measures
// its slopes on the rings, which still hold that stretch of signal.
func (d *Detector) measure(h float64, m int64) cand {
	c := cand{height: h, m: m}
	// Coarse: the largest band-passed deflection where the integrator
	// says the QRS is, in band-pass time.
	center := m - int64(d.mwiDelay) + int64(d.bpDelay)
	lo, hi := center-int64(d.locBefore), center+int64(d.locAfter)
	lo = max(lo, d.n-int64(len(d.bp.buf))+1, 0)
	best, arg := -1.0, lo
	bmin, bmax := math.Inf(1), math.Inf(-1)
	for k := lo; k <= hi && k < d.n; k++ {
		v := d.bp.at(k)
		if a := math.Abs(v); a > best {
			best, arg = a, k
		}
		bmin, bmax = min(bmin, v), max(bmax, v)
	}
	c.pp = bmax - bmin
	r := arg - int64(d.bpDelay)
	// Fine: the largest broadband deflection near it, relative to the
	// level at the window start, so baseline offset does not pull it.
	lo, hi = max(r-int64(d.refine), 0), min(r+int64(d.refine), d.n-1)
	ref := d.bb.at(lo)
	best = -1
	for k := lo; k <= hi; k++ {
		if a := math.Abs(d.bb.at(k) - ref); a > best {
			best, c.r = a, k
		}
	}
	c.amp = d.bb.at(c.r)
	// Slopes of the raw signal around r: a QRS has a steep rise and a
	// steep fall close together; a baseline shift has one of them only.
	lo, hi = max(c.r-int64(d.blsHalf), int64(d.derivN)), min(c.r+int64(d.blsHalf), d.n-1)
	var up, down float64
	var tUp, tDown int64
	scale := d.fs / float64(d.derivN)
	for k := lo; k <= hi; k++ {
		s := (d.x.at(k) - d.x.at(k-int64(d.derivN))) * scale
		if s > up {
			up, tUp = s, k
		} else if -s > down {
			down, tDown = -s, k
		}
	}
	c.slope = max(up, down)
	dt := tUp - tDown
	if dt < 0 {
		dt = -dt
	}
	c.shape = up > down/8 && down > up/8 && dt < int64(d.blsPair)
	return c
}

// candidate decides on a peak that survived the hold period.
func (d *Detector) candidate(h float64, m int64, emit func(Beat)) {
	c := d.measure(h, m)
	if d.learning {
		if d.nPending < len(d.pending) {
			d.pending[d.nPending] = c
			d.nPending++
		}
		return
	}
	d.decide(c, emit)
}

func (d *Detector) decide(c cand, emit func(Beat)) {
	if !c.shape {
		return // baseline shift: neither a beat nor noise
	}
	if d.haveLast && (c.m-d.lastM < int64(d.refractory) || c.r-d.lastR < int64(d.refractory)) {
		return
	}
	early := d.haveLast && c.m-d.lastM < int64(d.tWave)
	tWave := early && c.slope < d.lastSlope/2
	if c.height > d.thresh && !tWave && c.pp >= minQRSmV {
		d.accept(c, emit)
		return
	}
	push(&d.noise, c.height)
	d.setThresh()
	// A T wave can hide a small QRS after it, so early peaks are not
	// search-back candidates.
	if !early && c.pp >= minQRSmV && (!d.haveSB || c.height > d.sb.height) {
		d.sb, d.haveSB = c, true
	}
}

func (d *Detector) accept(c cand, emit func(Beat)) {
	push(&d.qrs, c.height)
	if d.haveLast {
		push(&d.rr, float64(c.m-d.lastM))
		d.rrMean = min(mean(&d.rr), float64(d.maxRR))
	}
	d.setThresh()
	d.lastM, d.lastR, d.lastSlope, d.haveLast = c.m, c.r, c.slope, true
	d.haveSB = false
	d.nMaxima, d.secCount, d.secMax, d.secSum = 0, 0, 0, 0
	if !d.emittedAny || c.r > d.lastEmitted {
		d.emittedAny, d.lastEmitted = true, c.r
		emit(Beat{Index: c.r, Amplitude: float32(c.amp)})
	}
}

// searchBack accepts the best noise peak of a too-long RR interval if it
// reaches half the threshold.
func (d *Detector) searchBack(i int64, emit func(Beat)) {
	if !d.haveLast || !d.haveSB {
		return
	}
	if float64(i-d.lastM) < searchBackRR*d.rrMean+float64(d.hold) {
		return
	}
	if d.sb.height > d.thresh/2 {
		d.accept(d.sb, emit)
	}
	d.haveSB = false
}

// learn sets the first thresholds from the per-second maxima of the
// integrator and re-learns them after a long stretch without beats. It
// learns only from a signal whose maxima stand well above its mean (the
// crest of QRS complexes); noise alone, as in asystole, has no crest and
// must not become the new idea of what a QRS looks like.
func (d *Detector) learn(v float64, emit func(Beat)) {
	d.secMax = max(d.secMax, v)
	d.secSum += v
	d.secCount++
	if d.secCount < int(d.fs) {
		return
	}
	k := d.nMaxima % len(d.maxima)
	d.maxima[k], d.means[k] = d.secMax, d.secSum/float64(d.secCount)
	d.nMaxima++
	d.secCount, d.secMax, d.secSum = 0, 0, 0
	if d.learning {
		secs := (d.learnN + int(d.fs) - 1) / int(d.fs)
		if d.nMaxima < secs {
			return
		}
		if !d.peaky(secs) {
			// Nothing QRS-like in the last seconds: slide on by one
			// second rather than start over, so the first beats after a
			// restart on a quiet stretch are learnt from as soon as two
			// seconds hold them, not up to two seconds later.
			from := d.n - int64((secs-1)*int(d.fs))
			kept := 0
			for j := 0; j < d.nPending; j++ {
				if d.pending[j].m >= from {
					d.pending[kept] = d.pending[j]
					kept++
				}
			}
			d.nPending = kept
			return
		}
		d.adopt(secs)
		d.learning = false
		d.nMaxima = 0
		for j := 0; j < d.nPending; j++ {
			d.decide(d.pending[j], emit)
		}
		d.nPending = 0
		return
	}
	if d.nMaxima*int(d.fs) >= d.relearnN {
		n := min(d.nMaxima, len(d.maxima))
		if d.peaky(n) {
			// Eight seconds without a beat while peaks are there: the
			// amplitude has changed (electrode moved), so start over
			// from what the signal shows.
			d.adopt(n)
			d.rrMean = d.fs
		}
		d.nMaxima = 0
	}
}

// peaky reports whether the maxima of the last secs seconds stand out
// from their means as QRS complexes do.
func (d *Detector) peaky(secs int) bool {
	var mx, mn float64
	for j := 1; j <= secs; j++ {
		k := (d.nMaxima - j) % len(d.maxima)
		mx += d.maxima[k]
		mn += d.means[k]
	}
	return mx > minCrest*mn && mx > 0
}

// adopt takes the maxima of the last secs seconds as the QRS peaks and
// forgets the noise peaks.
func (d *Detector) adopt(secs int) {
	for j := range d.qrs {
		d.qrs[j] = d.maxima[(d.nMaxima-1-j%secs)%len(d.maxima)]
	}
	d.noise = [8]float64{}
	d.setThresh()
}

func (d *Detector) setThresh() {
	q, n := mean(&d.qrs), mean(&d.noise)
	d.thresh = n + threshFrac*(q-n)
}

func push(b *[8]float64, v float64) {
	copy(b[1:], b[:7])
	b[0] = v
}

func mean(b *[8]float64) float64 {
	s := 0.0
	for _, v := range b {
		s += v
	}
	return s / 8
}
