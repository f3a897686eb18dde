package storage

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// points5000 is one store batch: 50 patients × 100 instants, hr and spo2 on
// each line, starting at t0.
func points5000(t0 time.Time) []Point {
	pts := make([]Point, 0, 5000)
	for i := 0; i < 100; i++ {
		ts := t0.Add(time.Duration(i) * time.Second)
		for p := 0; p < 50; p++ {
			pts = append(pts, Point{
				Measurement: MeasurementVitals,
				Tags:        []Tag{{"device", fmt.Sprintf("d%d", p)}, {"patient", fmt.Sprintf("p%d", p)}},
				Fields:      []Field{{"hr", 60 + float64((i+p)%40)}, {"spo2", 95 + float64(p%5)}},
				Time:        ts,
			})
		}
	}
	return pts
}

// BenchmarkWrite5000 writes 5,000-point batches into the embedded engine
// over HTTP, as the store processor does, and reports points/s.
func BenchmarkWrite5000(b *testing.B) {
	e := startEngine(b)
	c := newTestClient(b, e.URL())
	ctx := context.Background()
	if err := c.EnsureBucket(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	batches := make([][]Point, 64)
	for i := range batches {
		batches[i] = points5000(base.Add(time.Duration(i) * 100 * time.Second))
	}
	b.ResetTimer()
	n := 0
	for b.Loop() {
		// New instants each time (after 64 batches, rewrites of old ones).
		if err := write(ctx, c, "bench", batches[n%len(batches)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*5000)/b.Elapsed().Seconds(), "points/s")
}

// BenchmarkAppendLine is the encoding share of a write.
func BenchmarkAppendLine(b *testing.B) {
	pts := points5000(base)
	buf := make([]byte, 0, 512*1024)
	b.ResetTimer()
	for b.Loop() {
		buf = buf[:0]
		var err error
		for _, p := range pts {
			if buf, err = AppendLine(buf, p); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(5000*b.N)/b.Elapsed().Seconds(), "points/s")
}
