package sim

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// ECGRate is the sample rate of the simulated ECG patch, in Hz.
const ECGRate = 250

// wave is one Gaussian component of a heartbeat (after McSharry et al.,
// IEEE TBME 2003): amplitude in mV, centre and width in seconds relative
// to the R peak.
type wave struct{ a, mu, sigma float64 }

// beatShape returns the P, Q, R, S and T waves for a beat with RR interval
// rr (s); the T wave moves with the QT interval (Bazett: QT ∝ √RR).
func beatShape(rr, gain float64) [5]wave {
	qt := math.Sqrt(rr)
	return [5]wave{
		{0.12 * gain, -0.17, 0.022},
		{-0.12 * gain, -0.035, 0.008},
		{1.2 * gain, 0, 0.009},
		{-0.30 * gain, 0.032, 0.009},
		{0.30 * gain, 0.26 * qt, 0.045},
	}
}

type beat struct {
	at   float64 // seconds since the generator's origin
	rr   float64
	gain float64
}

// ecgGen synthesises a continuous single-lead ECG: beat times from the
// person's heart rate with respiratory sinus arrhythmia and random
// beat-to-beat variability, P-QRS-T shapes, baseline wander and low noise.
// Frames are 1 s long; the waveform is continuous across frames.
type ecgGen struct {
	d      *Device
	r      *rand.Rand
	origin time.Time
	t      time.Time // start of the next frame
	beats  []beat
	nextAt float64
	buf    []float32
}

func newECG(d *Device, r *rand.Rand, start time.Time) *ecgGen {
	return &ecgGen{d: d, r: r, origin: start, t: start, nextAt: r.Float64() * 0.8, buf: make([]float32, ECGRate)}
}

func (g *ecgGen) secs(t time.Time) float64 { return t.Sub(g.origin).Seconds() }

// extend adds beats until the waveform up to `until` is covered.
func (g *ecgGen) extend(until float64) {
	for g.nextAt < until {
		at := g.nextAt
		hr := g.d.Person.State(g.origin.Add(time.Duration(at * float64(time.Second)))).HR
		rr := 60 / math.Max(hr, 20)
		// RSA at about 15 breaths/min plus a few percent of random HRV.
		rr *= 1 + 0.03*math.Sin(2*math.Pi*at/4) + 0.02*g.r.NormFloat64()
		g.beats = append(g.beats, beat{at: at, rr: rr, gain: 1 + 0.05*g.r.NormFloat64()})
		g.nextAt = at + rr
	}
}

// frame renders the 1-s frame starting at the generator's cursor.
func (g *ecgGen) frame(leadOff bool) []float32 {
	t0 := g.secs(g.t)
	g.extend(t0 + 1.6)
	// Beats more than a second before the frame no longer contribute.
	i := 0
	for i < len(g.beats) && g.beats[i].at < t0-1 {
		i++
	}
	g.beats = g.beats[i:]
	for k := range g.buf {
		ts := t0 + float64(k)/ECGRate
		if leadOff {
			// An electrode off the skin: the front end's lead-off
			// detection holds the output at a constant value.
			g.buf[k] = 0
			continue
		}
		x := 0.06*math.Sin(2*math.Pi*0.25*ts) + 0.01*g.r.NormFloat64()
		for _, b := range g.beats {
			dt := ts - b.at
			if dt < -0.4 || dt > 0.7 {
				continue
			}
			for _, w := range beatShape(b.rr, b.gain) {
				z := (dt - w.mu) / w.sigma
				if z > 5 || z < -5 {
					continue // under 4e-6 of the wave's amplitude
				}
				x += w.a * math.Exp(-z*z/2)
			}
		}
		g.buf[k] = float32(x)
	}
	return g.buf
}

func (g *ecgGen) next() (Msg, bool) {
	t := g.t
	sc := g.d.scenarioAt(t)
	samples := g.frame(sc != nil && sc.Kind == "lead_off")
	g.t = g.t.Add(time.Second)
	return Msg{At: t, Payload: ecgPayload(t, samples)}, true
}

func ecgPayload(t time.Time, samples []float32) []byte {
	b := make([]byte, 0, 64+len(samples)*7)
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"ecg":{"fs":250,"unit":"mV","samples":[`...)
	for i, s := range samples {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(s), 'f', 3, 32)
	}
	return append(b, "]}}"...)
}
