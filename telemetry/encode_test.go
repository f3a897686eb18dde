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
	if _, err := MarshalBatch(&Batch{Measurements: []Measurement{{Value: math.NaN()}}}); err == nil {
		t.Error("MarshalBatch accepted NaN")
	}
}
