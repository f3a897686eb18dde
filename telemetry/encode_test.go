package telemetry

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestBatchRoundTrip(t *testing.T) {
	in := Batch{
		Farm: "f1", Patient: "p1", Device: "d1",
		Received: time.Date(2025, 11, 26, 23, 35, 0, 123456789, time.UTC),
		Measurements: []Measurement{
			{Time: exampleTS, Metric: HR, Value: 72.5},
			{Time: recv, Metric: Event, Value: 1, Text: EventFall, Skewed: true},
			{Time: recv, Metric: ECGRR, Value: 812, Source: "ecg"},
		},
		ECG: []ECGFrame{{Start: exampleTS, FS: 250, Samples: []float32{0.1, -0.25, 1.5}, Skewed: true}},
	}
	data, err := MarshalBatch(&in)
	if err != nil {
		t.Fatal(err)
	}
	out := Batch{Farm: "stale", Measurements: []Measurement{{Metric: "stale"}, {}, {}, {}}}
	if err := UnmarshalBatch(data, &out); err != nil {
		t.Fatal(err)
	}
	if out.Farm != in.Farm || out.Patient != in.Patient || out.Device != in.Device || !out.Received.Equal(in.Received) {
		t.Errorf("header %+v, want %+v", out, in)
	}
	if len(out.Measurements) != len(in.Measurements) {
		t.Fatalf("measurements %+v", out.Measurements)
	}
	for i := range in.Measurements {
		a, b := in.Measurements[i], out.Measurements[i]
		if !a.Time.Equal(b.Time) || a.Metric != b.Metric || a.Value != b.Value || a.Text != b.Text || a.Source != b.Source || a.Skewed != b.Skewed {
			t.Errorf("measurement %d: %+v, want %+v", i, b, a)
		}
	}
	if len(out.ECG) != 1 || !slices.Equal(out.ECG[0].Samples, in.ECG[0].Samples) || out.ECG[0].FS != 250 ||
		!out.ECG[0].Start.Equal(exampleTS) || !out.ECG[0].Skewed {
		t.Errorf("ecg %+v", out.ECG)
	}

	if err := UnmarshalBatch([]byte(`{"farm": 5}`), &out); err == nil {
		t.Error("UnmarshalBatch accepted a number as farm")
	}
	// Every truncation of a valid batch is an error, never a panic or a
	// half-filled batch.
	for i := 0; i < len(data); i++ {
		if err := UnmarshalBatch(data[:i], &out); err == nil {
			t.Fatalf("UnmarshalBatch accepted %d of %d bytes", i, len(data))
		}
		if out.Farm != "" || out.Measurements != nil {
			t.Fatalf("a failed UnmarshalBatch left %+v", out)
		}
	}
	if _, err := MarshalBatch(&Batch{Measurements: []Measurement{{Value: math.NaN()}}}); err == nil {
		t.Error("MarshalBatch accepted NaN")
	}
}

// The first wire form was JSON; batches written by it stay readable.
func TestBatchReadsJSONForm(t *testing.T) {
	var b Batch
	err := UnmarshalBatch([]byte(`{"farm":"f1","patient":"p1","device":"d1","recv":"2026-11-27T03:40:00Z",`+
		`"m":[{"t":"2026-11-27T03:40:00.123Z","n":"hr","v":72}]}`), &b)
	if err != nil || b.Farm != "f1" || len(b.Measurements) != 1 || b.Measurements[0].Value != 72 ||
		b.Measurements[0].Time.UnixMilli()%1000 != 123 {
		t.Errorf("%+v %v", b, err)
	}
}

func FuzzUnmarshalBatch(f *testing.F) {
	good, _ := MarshalBatch(&Batch{Farm: "f", Patient: "p", Device: "d",
		Measurements: []Measurement{{Metric: HR, Value: 70}},
		ECG:          []ECGFrame{{FS: 250, Samples: []float32{1, 2}}}})
	f.Add(good)
	f.Add([]byte(`{"farm":"f"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var b Batch
		_ = UnmarshalBatch(data, &b)
	})
}

func BenchmarkBatchRoundTrip(b *testing.B) {
	in := Batch{Farm: "f1", Patient: "p1", Device: "d1", Received: recv,
		Measurements: []Measurement{{Time: recv, Metric: HR, Value: 72}, {Time: recv, Metric: SpO2, Value: 97}}}
	b.ReportAllocs()
	var out Batch
	for i := 0; i < b.N; i++ {
		data, err := MarshalBatch(&in)
		if err != nil {
			b.Fatal(err)
		}
		if err := UnmarshalBatch(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}
