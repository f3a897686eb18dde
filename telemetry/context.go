package telemetry

import "slices"

// Context metrics describe a region, not a person: public weather and air
// quality that the feeds bring in and rules read next to the vitals. They
// are a vocabulary of their own, so no device can send them (the decoder
// knows only the device vocabulary) and no vital can be mistaken for one.
const (
	// AirTemp is the observed air temperature.
	AirTemp = "air_temp"
	// Humidity is the observed relative humidity.
	Humidity = "humidity"
	// HeatIndex is NOAA's heat index (Rothfusz regression with its
	// adjustments), in °C.
	HeatIndex = "heat_index"
	// ApparentTemp is the Korea Meteorological Administration's summer
	// apparent temperature, in °C: the measure its heat advisories use.
	ApparentTemp = "apparent_temp"
	// PM25 and PM10 are hourly particulate matter concentrations.
	PM25 = "pm25"
	PM10 = "pm10"
	// O3 is the hourly ozone concentration.
	O3 = "o3"
	// AQI is the US EPA Air Quality Index (2024 PM2.5 revision) from the
	// 24-hour particle averages and the 8-hour (or, when high, 1-hour)
	// ozone.
	AQI = "aqi"
	// KHAI is Korea's Comprehensive Air-quality Index (CAI) as the
	// AirKorea service reports it, and KHAIGrade its grade, 1 (good) to 4
	// (very bad).
	KHAI      = "khai"
	KHAIGrade = "khai_grade"
)

// contextVocabulary bounds what is physically possible, as the device
// vocabulary does: a value outside is a feed error, not a weather.
var contextVocabulary = []Spec{
	{Name: AirTemp, Unit: "°C", Min: -60, Max: 60},
	{Name: Humidity, Unit: "%", Min: 0, Max: 100},
	{Name: HeatIndex, Unit: "°C", Min: -60, Max: 100},
	{Name: ApparentTemp, Unit: "°C", Min: -60, Max: 80},
	{Name: PM25, Unit: "µg/m³", Min: 0, Max: 3000},
	{Name: PM10, Unit: "µg/m³", Min: 0, Max: 5000},
	{Name: O3, Unit: "ppm", Min: 0, Max: 2},
	{Name: AQI, Unit: "", Min: 0, Max: 5000},
	{Name: KHAI, Unit: "", Min: 0, Max: 5000},
	{Name: KHAIGrade, Unit: "", Min: 1, Max: 4},
}

// LookupContext returns the spec of a context metric.
func LookupContext(metric string) (Spec, bool) {
	for _, s := range contextVocabulary {
		if s.Name == metric {
			return cloneSpec(s), true
		}
	}
	return Spec{}, false
}

// ContextMetrics returns the names of every context metric (a copy).
func ContextMetrics() []string {
	out := make([]string, 0, len(contextVocabulary))
	for _, s := range contextVocabulary {
		out = append(out, s.Name)
	}
	return slices.Clip(out)
}
