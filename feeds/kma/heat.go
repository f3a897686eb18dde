package kma

import "math"

// HeatIndex is the US National Weather Service heat index in °C for an
// air temperature in °C and a relative humidity in %, computed as the NWS
// Weather Prediction Center describes it: Steadman's simple formula first,
// and where its average with the temperature reaches 80 °F, the Rothfusz
// regression (NWS Technical Attachment SR 90-23, 1990) with its two
// adjustments (dry air between 80 and 112 °F, humid air between 80 and
// 87 °F). The arithmetic is in °F, as the coefficients are.
func HeatIndex(tempC, rh float64) float64 {
	t := tempC*9/5 + 32
	return (heatIndexF(t, rh) - 32) * 5 / 9
}

func heatIndexF(t, rh float64) float64 {
	simple := 0.5 * (t + 61.0 + (t-68.0)*1.2 + rh*0.094)
	if (simple+t)/2 < 80 {
		return simple
	}
	hi := rothfusz(t, rh)
	switch {
	case rh < 13 && t >= 80 && t <= 112:
		hi -= (13 - rh) / 4 * math.Sqrt((17-math.Abs(t-95))/17)
	case rh > 85 && t >= 80 && t <= 87:
		hi += (rh - 85) / 10 * ((87 - t) / 5)
	}
	return hi
}

// rothfusz is the regression alone, in °F.
func rothfusz(t, rh float64) float64 {
	return -42.379 + 2.04901523*t + 10.14333127*rh - 0.22475541*t*rh - 0.00683783*t*t -
		0.05481717*rh*rh + 0.00122874*t*t*rh + 0.00085282*t*rh*rh - 0.00000199*t*t*rh*rh
}

// ApparentTemp is the Korea Meteorological Administration's summer
// apparent temperature (체감온도) in °C: the measure its heat advisories
// (33 °C) and warnings (35 °C) are defined on since 2020. It combines the
// air temperature with the wet-bulb temperature from Stull's formula.
func ApparentTemp(tempC, rh float64) float64 {
	tw := WetBulb(tempC, rh)
	return -0.2442 + 0.55399*tw + 0.45535*tempC - 0.0022*tw*tw + 0.00278*tw*tempC + 3.0
}

// WetBulb is Stull's wet-bulb temperature in °C (J. Appl. Meteor.
// Climatol. 50, 2267–2269, 2011), fitted for 5–99 % relative humidity and
// −20 to 50 °C at sea-level pressure; humidity outside the fit is clamped
// into it (at 100 % the wet bulb is the air temperature, within the fit's
// error).
func WetBulb(tempC, rh float64) float64 {
	rh = math.Max(5, math.Min(99, rh))
	return tempC*math.Atan(0.151977*math.Sqrt(rh+8.313659)) + math.Atan(tempC+rh) - math.Atan(rh-1.676331) +
		0.00391838*math.Pow(rh, 1.5)*math.Atan(0.023101*rh) - 4.686035
}
