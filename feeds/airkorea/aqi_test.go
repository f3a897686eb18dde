package airkorea

import (
	"math"
	"testing"
)

func TestAQIBreakpoints(t *testing.T) {
	cases := []struct {
		name string
		fn   func(float64) float64
		c    float64
		want float64
	}{
		// PM2.5, 2024 table: both ends of every band.
		{"pm25", IndexPM25, 0, 0}, {"pm25", IndexPM25, 9.0, 50}, {"pm25", IndexPM25, 9.1, 51},
		{"pm25", IndexPM25, 35.4, 100}, {"pm25", IndexPM25, 35.5, 101}, {"pm25", IndexPM25, 55.4, 150},
		{"pm25", IndexPM25, 55.5, 151}, {"pm25", IndexPM25, 125.4, 200}, {"pm25", IndexPM25, 125.5, 201},
		{"pm25", IndexPM25, 225.4, 300}, {"pm25", IndexPM25, 225.5, 301}, {"pm25", IndexPM25, 325.4, 500},
		// Interpolation and truncation: 12.0 → 49/26.3·2.9 + 51 = 56.4;
		// 9.09 truncates to 9.0.
		{"pm25", IndexPM25, 12.0, 56}, {"pm25", IndexPM25, 9.09, 50}, {"pm25", IndexPM25, 40.0, 112},
		// Beyond the table the top band's line goes on:
		// 199/99.9·(425.4 − 225.5) + 301 = 699.2.
		{"pm25", IndexPM25, 425.4, 699},
		// PM10 (unchanged in 2024).
		{"pm10", IndexPM10, 54, 50}, {"pm10", IndexPM10, 55, 51}, {"pm10", IndexPM10, 154, 100},
		{"pm10", IndexPM10, 155, 101}, {"pm10", IndexPM10, 254, 150}, {"pm10", IndexPM10, 255, 151},
		{"pm10", IndexPM10, 354, 200}, {"pm10", IndexPM10, 355, 201}, {"pm10", IndexPM10, 424, 300},
		{"pm10", IndexPM10, 425, 301}, {"pm10", IndexPM10, 604, 500}, {"pm10", IndexPM10, 54.9, 50},
		{"pm10", IndexPM10, 60, 53},
	}
	for _, c := range cases {
		if got := c.fn(c.c); got != c.want {
			t.Errorf("%s %.2f: AQI %v, want %v", c.name, c.c, got, c.want)
		}
	}
	if !math.IsNaN(IndexPM25(-1)) || !math.IsNaN(IndexPM25(math.NaN())) {
		t.Error("a negative or missing concentration has an index")
	}
}

func TestOzoneIndex(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		avg8h, hour, want float64
	}{
		{0.054, nan, 50}, {0.055, nan, 51}, {0.070, nan, 100}, {0.071, nan, 101},
		{0.085, nan, 150}, {0.086, nan, 151}, {0.105, nan, 200}, {0.106, nan, 201}, {0.200, nan, 300},
		{0.060, nan, 67}, // 49/0.015·0.005 + 51
		// The 1-hour table starts at 0.125 ppm: below it only the 8-hour
		// index counts.
		{0.060, 0.124, 67},
		{0.060, 0.125, 101}, {0.060, 0.164, 150}, {0.060, 0.165, 151}, {0.060, 0.204, 200},
		{0.060, 0.205, 201}, {0.060, 0.404, 300}, {0.060, 0.405, 301}, {0.060, 0.604, 500},
		// The larger of the two. 8-hour: 49/0.019·0.004 + 151 = 161.3;
		// 1-hour: 49/0.039·0.005 + 101 = 107.3.
		{0.090, 0.130, 161},
		// Above 0.200 ppm 8-hour, only the 1-hour index:
		// 99/0.199·0.095 + 201 = 248.3.
		{0.210, 0.300, 248}, {0.210, nan, nan},
		{nan, nan, nan},
	}
	for _, c := range cases {
		got := IndexO3(c.avg8h, c.hour)
		if got != c.want && !(math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("ozone 8h %.3f 1h %.3f: AQI %v, want %v", c.avg8h, c.hour, got, c.want)
		}
	}
	if got := Overall(math.NaN(), 53, 112, 67); got != 112 {
		t.Errorf("overall %v", got)
	}
	if !math.IsNaN(Overall(math.NaN())) {
		t.Error("overall of nothing")
	}
}
