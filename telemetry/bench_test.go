package telemetry

import (
	"fmt"
	"strings"
	"testing"
)

// The three payloads a device sends most: a vital-signs reading, a SenML
// pack from a standard sensor, and one second of ECG at 250 Hz.

func BenchmarkDecodeFlat(b *testing.B) {
	p := []byte(`{"ts": 1764200000000, "hr": 72, "spo2": 97, "rr": 16, "temp": 36.6}`)
	benchDecode(b, p, 4)
}

func BenchmarkDecodeSenML(b *testing.B) {
	p := []byte(`[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1764200000,"n":"hr","u":"beat/min","v":72},` +
		`{"n":"spo2","u":"%","v":97},{"n":"rr","u":"/min","v":16},{"n":"temp","u":"Cel","v":36.6}]`)
	benchDecode(b, p, 4)
}

func BenchmarkDecodeECG250(b *testing.B) {
	samples := make([]string, 250)
	for i := range samples {
		samples[i] = fmt.Sprintf("%.3f", float64(i%50)/25-1)
	}
	p := []byte(`{"ts": 1764200000000, "ecg": {"fs": 250, "unit": "mV", "samples": [` + strings.Join(samples, ",") + `]}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		d, err := Decode(p, recv, DecodeOptions{})
		if err != nil || len(d.ECG) != 1 || len(d.ECG[0].Samples) != 250 {
			b.Fatalf("Decode: %+v %v", d, err)
		}
	}
}

func benchDecode(b *testing.B, p []byte, n int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		d, err := Decode(p, recv, DecodeOptions{})
		if err != nil || len(d.Measurements) != n {
			b.Fatalf("Decode: %+v %v", d, err)
		}
	}
}
