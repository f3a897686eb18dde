package airkorea

import "math"

// AQI: the US EPA Air Quality Index as the Technical Assistance Document
// for the Reporting of Daily Air Quality (EPA-454/B-24-002, May 2024)
// defines it, with the 2024 PM2.5 revision (the 0–50 band ends at 9.0
// µg/m³, and 301–500 is one "hazardous" band). Each pollutant's
// concentration, truncated to the table's precision, is interpolated
// linearly inside its breakpoint band:
//
//	I = (I_hi − I_lo) / (BP_hi − BP_lo) · (C − BP_lo) + I_lo, rounded.
//
// Above the top breakpoint the top band's line is extended, as the
// document allows.

type band struct{ cLo, cHi, iLo, iHi float64 }

// pm25Bands: 24-hour PM2.5, µg/m³, truncated to 0.1.
var pm25Bands = []band{
	{0.0, 9.0, 0, 50}, {9.1, 35.4, 51, 100}, {35.5, 55.4, 101, 150},
	{55.5, 125.4, 151, 200}, {125.5, 225.4, 201, 300}, {225.5, 325.4, 301, 500},
}

// pm10Bands: 24-hour PM10, µg/m³, truncated to an integer.
var pm10Bands = []band{
	{0, 54, 0, 50}, {55, 154, 51, 100}, {155, 254, 101, 150},
	{255, 354, 151, 200}, {355, 424, 201, 300}, {425, 604, 301, 500},
}

// o3Bands8h: 8-hour ozone, ppm, truncated to 0.001. The 8-hour table ends
// at 0.200 ppm; above it only the 1-hour table applies.
var o3Bands8h = []band{
	{0.000, 0.054, 0, 50}, {0.055, 0.070, 51, 100}, {0.071, 0.085, 101, 150},
	{0.086, 0.105, 151, 200}, {0.106, 0.200, 201, 300},
}

// o3Bands1h: 1-hour ozone, ppm, truncated to 0.001; defined from 0.125
// ppm (index 101) up.
var o3Bands1h = []band{
	{0.125, 0.164, 101, 150}, {0.165, 0.204, 151, 200}, {0.205, 0.404, 201, 300}, {0.405, 0.604, 301, 500},
}

// truncate cuts c to a number of decimals. The small nudge keeps a value
// written as 9.1 from becoming 9.0 through binary rounding (9.1·10 is
// 90.99999…).
func truncate(c float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Floor(c*p+1e-6) / p
}

// index interpolates c in bands; NaN below the first band or for a
// negative or non-finite concentration.
func index(bands []band, c float64) float64 {
	if math.IsNaN(c) || math.IsInf(c, 0) || c < bands[0].cLo {
		return math.NaN()
	}
	for _, b := range bands {
		if c <= b.cHi {
			// Truncated to the table's precision, c is never between
			// two bands.
			return math.Round((b.iHi-b.iLo)/(b.cHi-b.cLo)*(c-b.cLo) + b.iLo)
		}
	}
	top := bands[len(bands)-1]
	return math.Round((top.iHi-top.iLo)/(top.cHi-top.cLo)*(c-top.cLo) + top.iLo)
}

// IndexPM25 is the AQI of a 24-hour PM2.5 average in µg/m³.
func IndexPM25(c float64) float64 { return index(pm25Bands, truncate(c, 1)) }

// IndexPM10 is the AQI of a 24-hour PM10 average in µg/m³.
func IndexPM10(c float64) float64 { return index(pm10Bands, truncate(c, 0)) }

// IndexO3 is the ozone AQI from the 8-hour average and the 1-hour value
// in ppm (either may be NaN): the 8-hour index, or where the 1-hour value
// reaches 0.125 ppm the larger of the two, as the document says for areas
// where the 1-hour index is the more precautionary; above 0.200 ppm
// 8-hour, the 1-hour index alone.
func IndexO3(avg8h, hour float64) float64 {
	i8 := math.NaN()
	if c := truncate(avg8h, 3); c <= 0.200 {
		i8 = index(o3Bands8h, c)
	}
	i1 := index(o3Bands1h, truncate(hour, 3))
	switch {
	case math.IsNaN(i1):
		return i8
	case math.IsNaN(i8):
		return i1
	}
	return math.Max(i8, i1)
}

// Overall is the AQI: the highest pollutant index, NaN when none is known.
func Overall(indices ...float64) float64 {
	out := math.NaN()
	for _, i := range indices {
		if !math.IsNaN(i) && (math.IsNaN(out) || i > out) {
			out = i
		}
	}
	return out
}
