package sim

import "math"

// splitmix64 is a small, well-mixed hash; the models use it to derive
// reproducible pseudo-random values from (seed, index) without RNG state,
// so a person's state at time t does not depend on what was asked before.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unit maps (seed, i) to [0, 1).
func unit(seed uint64, i int64) float64 {
	return float64(splitmix64(seed^uint64(i)*0x9e3779b97f4a7c15)>>11) / (1 << 53)
}

// valueNoise is smooth 1-D noise in [0, 1): random values on an integer
// grid, cosine-interpolated. x is in grid units (for example minutes/20).
func valueNoise(seed uint64, x float64) float64 {
	i := math.Floor(x)
	f := x - i
	a := unit(seed, int64(i))
	b := unit(seed, int64(i)+1)
	w := (1 - math.Cos(f*math.Pi)) / 2
	return a*(1-w) + b*w
}

// hashString folds a string into a seed so every person and device draws
// from its own stream.
func hashString(seed uint64, s string) uint64 {
	h := splitmix64(seed)
	for i := 0; i < len(s); i++ {
		h = splitmix64(h ^ uint64(s[i]))
	}
	return h
}

func clamp(x, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, x))
}

// lerp moves from a to b by r in [0, 1].
func lerp(a, b, r float64) float64 { return a + (b-a)*r }
