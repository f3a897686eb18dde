package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// LatencyConfig is an alert-latency run: Presses SOS presses, one at a
// time, each by a different device (one alert per patient and rule at a
// time), while Background devices publish BackgroundRate messages/s.
type LatencyConfig struct {
	Presses        int
	Background     int
	BackgroundRate float64
	Timeout        time.Duration // per press
	// Interval between presses, so they land inside the background load
	// rather than in one burst.
	Interval time.Duration
}

// LatencyResult summarises publish-to-receipt times.
type LatencyResult struct {
	N              int
	Lost           int
	P50, P99, Max  time.Duration
	BackgroundSent int
}

type seen struct {
	patient string
	at      time.Time
}

// AlertLatency measures the time from an SOS publish to the caregiver
// receiving the matching alert.
func AlertLatency(ctx context.Context, t Target, cfg LatencyConfig) (LatencyResult, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	creds, err := t.Provision(ctx, cfg.Presses+cfg.Background)
	if err != nil {
		return LatencyResult{}, fmt.Errorf("latency: provision: %w", err)
	}
	presses, bg := creds[:cfg.Presses], creds[cfg.Presses:]
	probe, err := t.AlertProbe(ctx, presses)
	if err != nil {
		return LatencyResult{}, fmt.Errorf("latency: alert probe: %w", err)
	}
	got := make(chan seen, 1024)
	opts := paho.NewClientOptions().AddBroker("tcp://" + t.MQTTAddr()).SetClientID(probe.Login.ClientID()).
		SetUsername(probe.Login.Username).SetPassword(probe.Login.Password).SetCleanSession(true).SetAutoReconnect(false)
	watcher := paho.NewClient(opts)
	if err := wait(ctx, watcher.Connect()); err != nil {
		return LatencyResult{}, fmt.Errorf("latency: connect caregiver: %w", err)
	}
	defer watcher.Disconnect(100)
	if err := wait(ctx, watcher.Subscribe(probe.Filter, 1, func(_ paho.Client, m paho.Message) {
		now := time.Now()
		if p, ok := probe.Match(m.Topic(), m.Payload()); ok {
			select {
			case got <- seen{p, now}:
			default: // the press loop is gone or far behind; it times out
			}
		}
	})); err != nil {
		return LatencyResult{}, fmt.Errorf("latency: subscribe %s: %w", probe.Filter, err)
	}
	pressClients, err := connectAll(ctx, t.MQTTAddr(), presses)
	if err != nil {
		return LatencyResult{}, fmt.Errorf("latency: %w", err)
	}
	defer disconnectAll(pressClients)
	bgClients, err := connectAll(ctx, t.MQTTAddr(), bg)
	if err != nil {
		return LatencyResult{}, fmt.Errorf("latency: background: %w", err)
	}
	defer disconnectAll(bgClients)

	// The background fleet is owned here: cancelled and waited for before
	// returning.
	bgCtx, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var bgSent int
	if len(bgClients) > 0 && cfg.BackgroundRate > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bgSent = background(bgCtx, bgClients, bg, cfg.BackgroundRate)
		}()
	}
	defer func() { stopBG(); wg.Wait() }()
	// Let the background load reach its rate before the first press.
	if err := sleep(ctx, 250*time.Millisecond); err != nil {
		return LatencyResult{}, err
	}

	var res LatencyResult
	var lat []time.Duration
	for i, c := range presses {
		if i > 0 {
			if err := sleep(ctx, cfg.Interval); err != nil {
				return res, err
			}
		}
		// Drop late arrivals of earlier presses.
		for len(got) > 0 {
			<-got
		}
		t0 := time.Now()
		tok := pressClients[i].Publish(c.Topic(), 1, false, fmt.Appendf(nil, `{"ts":%d,"event":"sos"}`, t0.UnixMilli()))
		if err := wait(ctx, tok); err != nil {
			return res, fmt.Errorf("latency: press %d: %w", i, err)
		}
		timer := time.NewTimer(cfg.Timeout)
	await:
		for {
			select {
			case s := <-got:
				if s.patient == c.Patient {
					lat = append(lat, s.at.Sub(t0))
					break await
				}
			case <-timer.C:
				res.Lost++
				break await
			case <-ctx.Done():
				timer.Stop()
				return res, ctx.Err()
			}
		}
		timer.Stop()
	}
	stopBG()
	wg.Wait()
	res.BackgroundSent = bgSent
	res.N = len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		res.P50 = quantile(lat, 0.50)
		res.P99 = quantile(lat, 0.99)
		res.Max = lat[len(lat)-1]
	}
	return res, nil
}

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// background publishes at rate msgs/s across clients at QoS 0 until ctx
// ends, and returns how many it sent.
func background(ctx context.Context, clients []paho.Client, creds []Creds, rate float64) int {
	const tick = 10 * time.Millisecond
	perTick := rate * tick.Seconds()
	tk := time.NewTicker(tick)
	defer tk.Stop()
	sent, owed := 0, 0.0
	for {
		select {
		case <-ctx.Done():
			return sent
		case <-tk.C:
		}
		owed += perTick
		for ; owed >= 1; owed-- {
			i := sent % len(clients)
			clients[i].Publish(creds[i].Topic(), 0, false, Payload(sent, time.Now()))
			sent++
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
