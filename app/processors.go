package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/medbiz/medbiz/bus"
	"github.com/medbiz/medbiz/internal/retry"
	"github.com/medbiz/medbiz/processors"
	"github.com/medbiz/medbiz/processors/alerting"
	"github.com/medbiz/medbiz/processors/ecg"
	"github.com/medbiz/medbiz/processors/store"
)

// startProcessors starts the stream processors. Each one's Stop is
// registered, so they drain after the broker has stopped feeding them.
func (a *App) startProcessors(ctx context.Context) error {
	sc := a.cfg.Store
	for _, c := range []struct {
		name string
		cfg  store.Config
	}{
		{"store", store.Config{Consumer: bus.StoreConsumer(sc.Limits()), StoreECG: sc.StoreECG}},
		{"alert store", store.Config{Consumer: bus.AlertStoreConsumer(sc.Limits()), Encode: store.EncodeAlert}},
	} {
		c.cfg.BatchSize, c.cfg.FlushInterval, c.cfg.Retry = sc.BatchSize, sc.FlushInterval, retry.Transient()
		p, err := store.New(c.cfg, a.js, a.influx, a.Metrics, a.log)
		if err != nil {
			return err
		}
		if err := a.startProcessor(ctx, c.name, p); err != nil {
			return err
		}
	}
	if a.cfg.Rules.Enabled {
		rp, err := alerting.New(alerting.Config{
			Packs: a.rulePacks(), EscalateAfter: a.cfg.Rules.EscalateAfter, Deadman: a.cfg.Rules.Deadman,
			PublishTimeout: a.cfg.MQTT.PublishTimeout,
			Telemetry:      bus.AlertingConsumer(a.cfg.Rules.Limits()),
			Control:        bus.AlertingControlConsumer(a.cfg.Rules.Limits()),
		}, a.js, a.reg, a.Metrics, a.log)
		if err != nil {
			return err
		}
		if err := a.startProcessor(ctx, "alerting", rp); err != nil {
			return err
		}
		a.alerting = rp
		if err := a.watchRules(); err != nil {
			return err
		}
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

// Reload re-reads the rule packs (SIGHUP); a pack with an error is
// rejected and the running packs stay.
func (a *App) Reload() error {
	if a.alerting == nil {
		return fmt.Errorf("the rule engine is not enabled")
	}
	return a.alerting.Reload()
}

// watchRules reloads the packs when a file in rules.dir changes, once the
// changes have settled for half a second (editors write in steps). The
// built-in packs cannot change, so without rules.dir nothing is watched.
func (a *App) watchRules() error {
	if a.cfg.Rules.Dir == "" {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rules.dir: %w", err)
	}
	if err := w.Add(a.cfg.Rules.Dir); err != nil {
		w.Close()
		return fmt.Errorf("watch rules.dir %s: %w", a.cfg.Rules.Dir, err)
	}
	done := make(chan struct{})
	if !a.goroutines.TryGo(func() {
		defer close(done)
		var settle <-chan time.Time
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ext := filepath.Ext(ev.Name); ext == ".yaml" || ext == ".yml" {
					settle = time.After(500 * time.Millisecond)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				a.log.Warn("rules.dir watch", "error", err)
			case <-settle:
				settle = nil
				_ = a.alerting.Reload() // logged and counted by the processor
			}
		}
	}) {
		w.Close()
		return errStopping
	}
	a.onStop("rules watch", func(context.Context) error {
		err := w.Close()
		<-done
		return err
	})
	return nil
}
