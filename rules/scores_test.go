package rules

import (
	"math"
	"testing"
	"time"

	"github.com/medbiz/medbiz/telemetry"
)

func TestNEWS2Chart(t *testing.T) {
	cases := []struct {
		metric string
		v      float64
		want   int
	}{
		{"rr", 8, 3}, {"rr", 9, 1}, {"rr", 11, 1}, {"rr", 12, 0}, {"rr", 20, 0}, {"rr", 21, 2}, {"rr", 24, 2}, {"rr", 25, 3},
		{"spo2", 91, 3}, {"spo2", 92, 2}, {"spo2", 93, 2}, {"spo2", 94, 1}, {"spo2", 95, 1}, {"spo2", 96, 0},
		{"sys", 90, 3}, {"sys", 91, 2}, {"sys", 100, 2}, {"sys", 101, 1}, {"sys", 110, 1}, {"sys", 111, 0}, {"sys", 219, 0}, {"sys", 220, 3},
		{"hr", 40, 3}, {"hr", 41, 1}, {"hr", 50, 1}, {"hr", 51, 0}, {"hr", 90, 0}, {"hr", 91, 1}, {"hr", 110, 1}, {"hr", 111, 2}, {"hr", 130, 2}, {"hr", 131, 3},
		{"temp", 35.0, 3}, {"temp", 35.1, 1}, {"temp", 36.0, 1}, {"temp", 36.1, 0}, {"temp", 38.0, 0}, {"temp", 38.1, 1}, {"temp", 39.0, 1}, {"temp", 39.1, 2},
	}
	for _, c := range cases {
		if got := news2Points(c.metric, c.v); got != c.want {
			t.Errorf("NEWS2 %s %v = %d, want %d", c.metric, c.v, got, c.want)
		}
	}
}

func TestComputeNEWS2Partial(t *testing.T) {
	s := ComputeNEWS2(map[string]float64{"rr": 22, "spo2": 91, "hr": math.NaN(), "sys": 120},
		map[string]time.Duration{"rr": 30 * time.Second, "spo2": 5 * time.Second, "sys": 20 * time.Minute})
	if s.Total != 5 || !s.AnyThree || len(s.Used) != 3 || s.Scores["spo2"] != 3 || s.AgeSeconds["sys"] != 1200 {
		t.Errorf("partial NEWS2 = %+v", s)
	}
	if _, ok := s.Scores["hr"]; ok {
		t.Error("a missing pulse was scored")
	}
}

func TestPEWSBands(t *testing.T) {
	cases := []struct {
		metric    string
		v, months float64
		want      float64
	}{
		{"hr", 130, 1, 0}, {"hr", 150, 1, 1}, {"hr", 180, 1, 2}, {"hr", 190, 1, 4},
		{"hr", 110, 1, -1}, {"hr", 90, 1, -2}, {"hr", 80, 1, -4}, {"hr", 111, 1, 0},
		{"hr", 101, 5, 0}, {"hr", 100, 5, -1}, {"hr", 80, 5, -2}, {"hr", 70, 5, -4}, {"hr", 170, 5, 2}, {"hr", 180, 5, 4},
		{"rr", 45, 1, 0}, {"rr", 61, 1, 1}, {"rr", 81, 1, 2}, {"rr", 91, 1, 4}, {"rr", 29, 1, -1}, {"rr", 19, 1, -2}, {"rr", 15, 1, -4},
		{"rr", 25, 5, 0}, {"rr", 51, 5, 1}, {"rr", 71, 5, 2}, {"rr", 81, 5, 4}, {"rr", 24, 5, -1},
	}
	for _, c := range cases {
		if got := PEWSBand(c.metric, c.v, c.months); got != c.want {
			t.Errorf("band %s %v at %v months = %v, want %v", c.metric, c.v, c.months, got, c.want)
		}
	}
	if !math.IsNaN(PEWSBand("hr", 130, 13)) || !math.IsNaN(PEWSBand("hr", 130, math.NaN())) {
		t.Error("a band outside 0–12 months or without age must be missing")
	}
}

func TestEngineNEWS2(t *testing.T) {
	eng := NewEngine(shipped(t), &fakeClock{t: t0}, Options{})
	eng.Observe(elderly, []telemetry.Measurement{m(0, "sys", 95), m(0, "temp", 36.5), m(50*time.Second, "hr", 115), m(50*time.Second, "rr", 18)})
	s, ok := eng.NEWS2("f1", "p1", t0.Add(time.Minute))
	// sys 95 → 2, temp 36.5 → 0, hr 115 → 2, rr 18 → 0; no SpO2.
	if !ok || s.Total != 4 || len(s.Used) != 4 || s.AgeSeconds["hr"] != 10 || s.AgeSeconds["sys"] != 60 || s.AnyThree {
		t.Errorf("NEWS2 = %+v", s)
	}
	// Forty minutes later the pressure (30 min) and pulse (5 min) are stale.
	s, _ = eng.NEWS2("f1", "p1", t0.Add(40*time.Minute))
	if s.Total != 0 || len(s.Used) != 1 || s.Used[0] != "temp" {
		t.Errorf("stale NEWS2 = %+v", s)
	}
	if _, ok := eng.NEWS2("f1", "nobody", t0); ok {
		t.Error("unknown patient scored")
	}
}
