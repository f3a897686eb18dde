package telemetry

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestUnitConversion(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		metric  string
		want    float64
	}{
		{"mmol/L in units map", `{"units": {"glucose": "mmol/L"}, "glucose": 5.5}`, Glucose, 99.088},
		{"mmol/L in SenML", `[{"n":"glucose","u":"mmol/L","v":10}]`, Glucose, 180.16},
		{"mg/dL unchanged", `[{"n":"glucose","u":"mg/dL","v":99}]`, Glucose, 99},
		{"°F in units map", `{"units": {"temp": "°F"}, "temp": 98.6}`, Temp, 37},
		{"degF in SenML", `[{"n":"temp","u":"degF","v":104}]`, Temp, 40},
		{"Cel in SenML", `[{"n":"temp","u":"Cel","v":36.6}]`, Temp, 36.6},
		{"°C explicit", `{"units": {"temp": "°C"}, "temp": 36.6}`, Temp, 36.6},
		{"SenML 1/min is beat/min for hr", `[{"n":"hr","u":"1/min","v":72}]`, HR, 72},
		{"SenML /min is breaths/min for rr", `[{"n":"rr","u":"/min","v":18}]`, RR, 18},
		{"bpm", `{"units": {"hr": "bpm"}, "hr": 72}`, HR, 72},
		{"mm[Hg]", `[{"n":"sys","u":"mm[Hg]","v":120}]`, Sys, 120},
		{"battery %EL", `[{"n":"battery","u":"%EL","v":40}]`, Battery, 40},
		{"kg", `[{"n":"weight","u":"kg","v":3.2}]`, Weight, 3.2},
		{"count", `[{"n":"steps","u":"count","v":4000}]`, Steps, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Measurements) != 1 {
				t.Fatalf("got %+v", got.Measurements)
			}
			g := got.Measurements[0]
			if g.Metric != tt.metric || math.Abs(g.Value-tt.want) > 1e-9 {
				t.Errorf("got %s=%v, want %s=%v", g.Metric, g.Value, tt.metric, tt.want)
			}
		})
	}
}

func ecgPayload(fs float64, unit string, gain float64, samples []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"ts": 1764200000000, "ecg": {"fs": %v`, fs)
	if unit != "" {
		fmt.Fprintf(&b, `, "unit": %q`, unit)
	}
	if gain != 0 {
		fmt.Fprintf(&b, `, "gain": %v`, gain)
	}
	fmt.Fprintf(&b, `, "samples": [%s]}}`, strings.Join(samples, ","))
	return b.String()
}

func TestDecodeECG(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []float32
	}{
		{"mV", ecgPayload(250, "mV", 0, []string{"0.1", "-0.25", "1.5"}), []float32{0.1, -0.25, 1.5}},
		{"no unit is mV", ecgPayload(250, "", 0, []string{"0.1", "1.5"}), []float32{0.1, 1.5}},
		{"uV converted", ecgPayload(500, "uV", 0, []string{"100", "-250", "1500"}), []float32{0.1, -0.25, 1.5}},
		{"µV (micro sign) converted", ecgPayload(500, "µV", 0, []string{"1000"}), []float32{1}},
		{"μV (Greek mu) converted", ecgPayload(500, "μV", 0, []string{"1000"}), []float32{1}},
		{"gain counts per mV", ecgPayload(250, "", 200, []string{"20", "-50", "300"}), []float32{0.1, -0.25, 1.5}},
		{"gain with uV", ecgPayload(250, "uV", 2, []string{"200", "3000"}), []float32{0.1, 1.5}},
		{"rate edges", ecgPayload(100, "mV", 0, []string{"0"}), []float32{0}},
		{"units map applies to ecg", `{"ts": 1764200000000, "units": {"ecg": "uV"}, "ecg": {"fs": 250, "samples": [500]}}`, []float32{0.5}},
		{"frame unit beats units map", `{"ts": 1764200000000, "units": {"ecg": "uV"}, "ecg": {"fs": 250, "unit": "mV", "samples": [0.5]}}`, []float32{0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Measurements) != 0 {
				t.Errorf("ECG frame produced measurements %+v", got.Measurements)
			}
			if len(got.ECG) != 1 {
				t.Fatalf("got %d frames", len(got.ECG))
			}
			f := got.ECG[0]
			if !f.Start.Equal(exampleTS) || f.Skewed {
				t.Errorf("start %v skewed %v, want %v", f.Start, f.Skewed, exampleTS)
			}
			if len(f.Samples) != len(tt.want) {
				t.Fatalf("samples %v, want %v", f.Samples, tt.want)
			}
			for i := range f.Samples {
				if math.Abs(float64(f.Samples[i]-tt.want[i])) > 1e-6 {
					t.Errorf("sample %d = %v, want %v", i, f.Samples[i], tt.want[i])
				}
			}
		})
	}

	t.Run("frame beside measurements and in an array", func(t *testing.T) {
		p := `[{"ts": 1764200000000, "hr": 70, "ecg": {"fs": 250, "samples": [0.1, 0.2]}}, {"ecg": {"fs": 1000, "samples": [0.3]}}]`
		got, err := Decode([]byte(p), recv, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		assertMeasurements(t, got.Measurements, []Measurement{m(exampleTS, HR, 70)})
		if len(got.ECG) != 2 || got.ECG[0].FS != 250 || got.ECG[1].FS != 1000 || !got.ECG[1].Start.Equal(recv) {
			t.Errorf("frames %+v", got.ECG)
		}
	})

	samples := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = "0.5"
		}
		return s
	}
	errs := []struct {
		name    string
		payload string
		opt     DecodeOptions
		reason  string
		detail  []string
	}{
		{"rate too low", ecgPayload(99, "mV", 0, samples(3)), DecodeOptions{}, ReasonBadECG, []string{`"fs"`, "99", "100..1000"}},
		{"rate too high", ecgPayload(1001, "mV", 0, samples(3)), DecodeOptions{}, ReasonBadECG, []string{`"fs"`, "1001"}},
		{"custom rate limit", ecgPayload(250, "mV", 0, samples(3)), DecodeOptions{MaxECGRate: 200}, ReasonBadECG, []string{"100..200"}},
		{"no rate", `{"ecg": {"samples": [1]}}`, DecodeOptions{}, ReasonBadECG, []string{`"fs"`}},
		{"rate null", `{"ecg": {"fs": null, "samples": [1]}}`, DecodeOptions{}, ReasonBadECG, []string{`"fs"`}},
		{"rate a string", `{"ecg": {"fs": "250", "samples": [1]}}`, DecodeOptions{}, ReasonBadECG, []string{`"fs"`}},
		{"no samples", ecgPayload(250, "mV", 0, nil), DecodeOptions{}, ReasonBadECG, []string{`"samples"`, "0"}},
		{"too many samples", ecgPayload(250, "mV", 0, samples(10001)), DecodeOptions{}, ReasonBadECG, []string{`"samples"`, "10000"}},
		{"custom sample limit", ecgPayload(250, "mV", 0, samples(11)), DecodeOptions{MaxECGSamples: 10}, ReasonBadECG, []string{"1..10"}},
		{"sample a string", `{"ecg": {"fs": 250, "samples": [0.1, "x"]}}`, DecodeOptions{}, ReasonBadECG, []string{`"samples"`}},
		{"sample null", `{"ecg": {"fs": 250, "samples": [0.1, null]}}`, DecodeOptions{}, ReasonBadECG, []string{"sample 1"}},
		{"sample overflows float32", `{"ecg": {"fs": 250, "samples": [0.1, 1e39]}}`, DecodeOptions{}, ReasonBadECG, []string{`"samples"`}},
		{"sample implausible", ecgPayload(250, "mV", 0, []string{"0.1", "900"}), DecodeOptions{}, ReasonBadECG, []string{"sample 1", "900"}},
		{"uV labelled mV", ecgPayload(250, "", 0, []string{"100", "1200"}), DecodeOptions{}, ReasonBadECG, []string{"sample 1", "1200"}},
		{"tiny gain overflows", ecgPayload(250, "", 1e-40, []string{"1"}), DecodeOptions{}, ReasonBadECG, []string{"sample 0"}},
		{"zero gain", `{"ecg": {"fs": 250, "gain": 0, "samples": [1]}}`, DecodeOptions{}, ReasonBadECG, []string{`"gain"`}},
		{"negative gain", `{"ecg": {"fs": 250, "gain": -2, "samples": [1]}}`, DecodeOptions{}, ReasonBadECG, []string{`"gain"`}},
		{"unit V", ecgPayload(250, "V", 0, samples(2)), DecodeOptions{}, ReasonBadUnit, []string{`"ecg"`, `"V"`, "mV"}},
		{"not an object", `{"ecg": [0.1, 0.2]}`, DecodeOptions{}, ReasonBadECG, []string{`"ecg"`, "frame"}},
		{"in values with bad rate", `{"values": {"ecg": {"fs": 0, "samples": [1]}}}`, DecodeOptions{}, ReasonBadECG, []string{`"fs"`}},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, tt.opt)
			assertReject(t, got, err, tt.reason, tt.detail...)
		})
	}
}

func TestClockSkew(t *testing.T) {
	ms := func(tm time.Time) string { return fmt.Sprint(tm.UnixMilli()) }
	tests := []struct {
		name    string
		payload string
		opt     DecodeOptions
		want    time.Time
		skewed  bool
	}{
		{"just inside the future limit", `{"hr": 60, "ts": ` + ms(recv.Add(5*time.Minute)) + `}`, DecodeOptions{}, recv.Add(5 * time.Minute), false},
		{"past the future limit", `{"hr": 60, "ts": ` + ms(recv.Add(5*time.Minute+time.Millisecond)) + `}`, DecodeOptions{}, recv, true},
		{"just inside the past limit", `{"hr": 60, "ts": ` + ms(recv.Add(-7*24*time.Hour)) + `}`, DecodeOptions{}, recv.Add(-7 * 24 * time.Hour), false},
		{"past the past limit", `{"hr": 60, "ts": ` + ms(recv.Add(-7*24*time.Hour-time.Millisecond)) + `}`, DecodeOptions{}, recv, true},
		{"seconds sent as ms (1970)", `{"hr": 60, "ts": 1764200000}`, DecodeOptions{}, recv, true},
		{"RFC 3339 a year ahead", `{"hr": 60, "ts": "2026-11-26T23:35:00Z"}`, DecodeOptions{}, recv, true},
		{"custom window", `{"hr": 60, "ts": ` + ms(recv.Add(-2*time.Minute)) + `}`, DecodeOptions{MaxPast: time.Minute}, recv, true},
		{"SenML absolute too old", `[{"bt": 1000000000, "n": "hr", "v": 60}]`, DecodeOptions{}, recv, true},
		{"SenML relative too far ahead", `[{"t": 3600, "n": "hr", "v": 60}]`, DecodeOptions{}, recv, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			g := got.Measurements[0]
			if !g.Time.Equal(tt.want) || g.Skewed != tt.skewed {
				t.Errorf("time %v skewed %v, want %v skewed %v", g.Time, g.Skewed, tt.want, tt.skewed)
			}
		})
	}

	t.Run("ECG frame", func(t *testing.T) {
		got, err := Decode([]byte(`{"ts": 1, "ecg": {"fs": 250, "samples": [0]}}`), recv, DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if f := got.ECG[0]; !f.Start.Equal(recv) || !f.Skewed {
			t.Errorf("frame start %v skewed %v, want receive time and skewed", f.Start, f.Skewed)
		}
	})
}

// RFC 8428 §4.5.3: times below 2^28 are relative to now (the receive time),
// negative ones in the past; bt and t add up before the rule applies.
func TestSenMLRelativeTime(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    time.Time
	}{
		{"no time is now", `[{"n":"hr","v":60}]`, recv},
		{"t negative is in the past", `[{"n":"hr","v":60,"t":-60}]`, recv.Add(-time.Minute)},
		{"t fraction", `[{"n":"hr","v":60,"t":-0.004}]`, recv.Add(-4 * time.Millisecond)},
		{"bt relative plus t", `[{"bt":-120,"n":"hr","v":60,"t":30}]`, recv.Add(-90 * time.Second)},
		{"relative just below 2^28", `[{"bt":-268435455,"n":"hr","v":60,"t":268435454}]`, recv.Add(-time.Second)},
		{"absolute bt plus relative-looking t", `[{"bt":1764200000,"n":"hr","v":60,"t":-10}]`, exampleTS.Add(-10 * time.Second)},
		{"2^28 exactly is absolute (1978), so skewed", `[{"t":268435456,"n":"hr","v":60}]`, recv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload), recv, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if g := got.Measurements[0]; !g.Time.Equal(tt.want) {
				t.Errorf("time %v, want %v", g.Time, tt.want)
			}
		})
	}
}
