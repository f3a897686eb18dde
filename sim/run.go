package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// RunConfig says where and how to publish a fleet.
type RunConfig struct {
	// Broker is the MQTT URL, for example tcp://127.0.0.1:1883.
	Broker string
	QoS    byte
	// Speed is event time per wall time: 1 is real time, 10 ten times
	// faster; 0 publishes as fast as the broker accepts (replay).
	Speed float64
	Creds *Credentials
	// MaxInflight bounds unacknowledged QoS 1 publishes across the fleet.
	// It also bounds how far one device of a person can run ahead of
	// another in a fast replay: the rules evaluate a person at the newest
	// event time of any of their devices, so a device lagging by more than
	// a rule's window makes that rule miss. 16 keeps them within about a
	// second of event time.
	MaxInflight int
	Progress    *Progress
	Logger      *slog.Logger
	// OnPublish, when set, is called with each scenario-carrying message
	// and the wall time it was handed to the MQTT client.
	OnPublish func(m Msg, wall time.Time)
}

// RunStats is what a run did.
type RunStats struct {
	Published   int
	Disconnects int
	Failed      int
	Wall        time.Duration
}

// Run connects every device of the fleet, publishes its messages in event
// order at the chosen speed and disconnects cleanly at the end (except the
// devices a scenario took offline).
func Run(ctx context.Context, f *Fleet, cfg RunConfig) (RunStats, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "sim")
	if cfg.Creds == nil {
		return RunStats{}, errors.New("run: no credentials")
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = 16
	}
	conns, err := connectDevices(ctx, f, cfg, log)
	defer func() {
		for _, c := range conns {
			// A clean DISCONNECT: the end of a run is not an outage.
			c.client.Disconnect(250)
		}
	}()
	if err != nil {
		return RunStats{}, err
	}

	var st RunStats
	var inflight []mqtt.Token
	waitOne := func(t mqtt.Token) {
		if !t.WaitTimeout(30 * time.Second) {
			st.Failed++
			return
		}
		if err := t.Error(); err != nil {
			if st.Failed < 5 {
				log.Warn("publish failed", "err", err)
			}
			st.Failed++
		}
	}
	total := f.End.Sub(f.Start)
	wallStart := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		m, ok := f.Next()
		if !ok {
			break
		}
		if cfg.Speed > 0 {
			due := wallStart.Add(time.Duration(float64(m.At.Sub(f.Start)) / cfg.Speed))
			if d := time.Until(due); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return st, ctx.Err()
				}
			}
		} else if err := ctx.Err(); err != nil {
			return st, err
		}
		c := conns[m.Device.ID]
		switch m.Action {
		case Disconnect:
			// Let what the device sent before settle first: in real time
			// its last messages were acknowledged long before it died, and
			// at replay speed they would otherwise be lost with the socket.
			for _, t := range inflight {
				waitOne(t)
			}
			inflight = inflight[:0]
			wall := time.Now()
			if err := c.kill(); err != nil {
				log.Warn("drop connection", "device", m.Device.ID, "err", err)
			}
			st.Disconnects++
			if cfg.OnPublish != nil && m.Scenario != nil {
				cfg.OnPublish(m, wall)
			}
		case Publish:
			wall := time.Now()
			tok := c.client.Publish(TelemetryTopic(cfg.Creds.Farm, m.Device.ID), cfg.QoS, false, m.Payload)
			if cfg.OnPublish != nil && m.Scenario != nil {
				cfg.OnPublish(m, wall)
			}
			st.Published++
			inflight = append(inflight, tok)
			if len(inflight) >= cfg.MaxInflight {
				// Wait for the older half: keeps the pipeline full while
				// bounding memory and what a broker has to buffer.
				half := len(inflight) / 2
				for _, t := range inflight[:half] {
					waitOne(t)
				}
				inflight = append(inflight[:0], inflight[half:]...)
			}
		}
		cfg.Progress.Update(m.At.Sub(f.Start), total, st.Published, false)
	}
	for _, t := range inflight {
		waitOne(t)
	}
	st.Wall = time.Since(wallStart)
	cfg.Progress.Update(total, total, st.Published, true)
	log.Info("run finished", "published", st.Published, "failed", st.Failed, "disconnects", st.Disconnects, "wall", st.Wall.Round(time.Millisecond))
	return st, nil
}

// connectDevices opens one MQTT connection per device, a few at a time.
func connectDevices(ctx context.Context, f *Fleet, cfg RunConfig, log *slog.Logger) (map[string]*deviceConn, error) {
	var (
		mu    sync.Mutex
		conns = make(map[string]*deviceConn, len(f.Devices))
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 16)
	)
	for _, d := range f.Devices {
		login, ok := cfg.Creds.Devices[d.ID]
		if !ok {
			return conns, fmt.Errorf("no credentials for device %s", d.ID)
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := d.ID
			c, err := dial(ctx, clientOpts{
				broker:   cfg.Broker,
				clientID: clientID(login, cfg.Creds.Farm, id),
				login:    login,
				will:     StatusTopic(cfg.Creds.Farm, id),
				onLost:   func(err error) { log.Info("device connection lost", "device", id, "err", err) },
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("device %s: %w", id, err))
				return
			}
			conns[id] = c
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return conns, fmt.Errorf("connect devices: %w", errors.Join(errs...))
	}
	log.Info("devices connected", "n", len(conns), "broker", cfg.Broker)
	return conns, nil
}
