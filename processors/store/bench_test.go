package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/telemetry"
)

// BenchmarkStoreBacklog measures the store end to end as it catches up
// after an outage: 10,000 messages of 10 lines (hr+spo2+rr per instant,
// 100,000 points) wait in the stream; one op is a new durable consumer
// reading them all, writing them to the embedded engine and acknowledging
// them. The batch fills on size, so FlushInterval plays no part.
func BenchmarkStoreBacklog(b *testing.B) {
	js := runJetStream(b)
	_, db := startInflux(b)
	ctx := context.Background()
	if err := db.EnsureBucket(ctx, "f1"); err != nil {
		b.Fatal(err)
	}
	const msgs = 10000
	futures := make([]jetstream.PubAckFuture, 0, msgs)
	for i := 0; i < msgs; i++ {
		data, err := telemetry.MarshalBatch(benchBatch(i))
		if err != nil {
			b.Fatal(err)
		}
		f, err := js.PublishAsync(bus.TelemetrySubject("f1", fmt.Sprintf("p%d", i%50), "d1"), data)
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	round := 0
	b.ResetTimer()
	for b.Loop() {
		cfg := testConfig()
		cfg.BatchSize = 5000 // medbiz's default
		cfg.FlushInterval = time.Second
		cfg.Consumer.Config.Durable = fmt.Sprintf("bench%d", round)
		round++
		s := newStore(b, cfg, js, db, nil)
		if err := s.Start(ctx); err != nil {
			b.Fatal(err)
		}
		for {
			cons, err := js.Consumer(ctx, bus.TelemetryStream, cfg.Consumer.Config.Durable)
			if err != nil {
				b.Fatal(err)
			}
			info, err := cons.Info(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if info.AckFloor.Stream >= msgs && info.NumAckPending == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := s.Stop(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(msgs*10*b.N)/b.Elapsed().Seconds(), "points/s")
}

func benchBatch(i int) *telemetry.Batch {
	t0 := base.Add(time.Duration(i) * time.Minute)
	b := &telemetry.Batch{Farm: "f1", Patient: fmt.Sprintf("p%d", i%50), Device: "d1", Received: t0}
	for k := 0; k < 10; k++ {
		ts := t0.Add(time.Duration(k) * time.Second)
		b.Measurements = append(b.Measurements,
			telemetry.Measurement{Time: ts, Metric: "hr", Value: float64(60 + k)},
			telemetry.Measurement{Time: ts, Metric: "spo2", Value: 97},
			telemetry.Measurement{Time: ts, Metric: "rr", Value: 14})
	}
	return b
}
