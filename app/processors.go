package app

import (
	"context"
	"fmt"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/processors"
	"github.com/medbiz/medbiz/processors/ecg"
	"github.com/medbiz/medbiz/processors/store"
)

// startProcessors starts the stream processors. Each one's Stop is
// registered, so they drain after the broker has stopped feeding them.
func (a *App) startProcessors(ctx context.Context) error {
	sc := store.DefaultConfig()
	sc.Stream = bus.TelemetryStream
	sc.BatchSize = a.cfg.Store.BatchSize
	sc.FlushInterval = a.cfg.Store.FlushInterval
	sc.StoreECG = a.cfg.Store.StoreECG
	if sc.MaxAckPending < sc.BatchSize*2 {
		sc.MaxAckPending = sc.BatchSize * 2
	}
	if err := a.startProcessor(ctx, "store", store.New(sc, a.js, a.store, a.Metrics, a.log)); err != nil {
		return err
	}
	if a.cfg.ECG.Enabled {
		p := ecg.NewProcessor(ecg.StreamConfig{PublishTimeout: a.cfg.MQTT.PublishTimeout}, a.js, a.Metrics, a.log)
		if err := a.startProcessor(ctx, "ecg", p); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) startProcessor(ctx context.Context, name string, p processors.Processor) error {
	if err := p.Start(ctx); err != nil {
		return fmt.Errorf("start %s processor: %w", name, err)
	}
	a.onStop(name+" processor", p.Stop)
	return nil
}
