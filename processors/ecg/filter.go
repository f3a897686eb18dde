package ecg

import "math"

// biquad is a second-order IIR section in transposed direct form II,
// chosen for its good numerical behaviour in float64 at any sample rate.
type biquad struct {
	b0, b1, b2, a1, a2 float64
	z1, z2             float64
}

func (f *biquad) step(x float64) float64 {
	y := f.b0*x + f.z1
	f.z1 = f.b1*x - f.a1*y + f.z2
	f.z2 = f.b2*x - f.a2*y
	return y
}

func (f *biquad) reset() { f.z1, f.z2 = 0, 0 }

// prime sets the state to the steady state of a constant input x, as if
// x had always been there: no start-up transient from an offset.
func (f *biquad) prime(x float64) {
	y := x * (f.b0 + f.b1 + f.b2) / (1 + f.a1 + f.a2)
	f.z2 = f.b2*x - f.a2*y
	f.z1 = f.b1*x - f.a1*y + f.z2
}

// lowpass and highpass are the bilinear-transform designs of the RBJ
// audio cookbook; q = 1/√2 gives a Butterworth section.
func lowpass(fs, fc, q float64) biquad {
	w := 2 * math.Pi * fc / fs
	alpha := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + alpha
	return biquad{
		b0: (1 - c) / 2 / a0, b1: (1 - c) / a0, b2: (1 - c) / 2 / a0,
		a1: -2 * c / a0, a2: (1 - alpha) / a0,
	}
}

func highpass(fs, fc, q float64) biquad {
	w := 2 * math.Pi * fc / fs
	alpha := math.Sin(w) / (2 * q)
	c := math.Cos(w)
	a0 := 1 + alpha
	return biquad{
		b0: (1 + c) / 2 / a0, b1: -(1 + c) / a0, b2: (1 + c) / 2 / a0,
		a1: -2 * c / a0, a2: (1 - alpha) / a0,
	}
}

// ring is a power-of-two circular buffer indexed by absolute sample
// number, so lookbacks need no modulo arithmetic on the caller's side.
type ring struct {
	buf  []float64
	mask int64
}

func newRing(min int) ring {
	n := 1
	for n < min {
		n <<= 1
	}
	return ring{buf: make([]float64, n), mask: int64(n - 1)}
}

func (r *ring) set(i int64, v float64) { r.buf[i&r.mask] = v }
func (r *ring) at(i int64) float64     { return r.buf[i&r.mask] }
func (r *ring) clear()                 { clear(r.buf) }
