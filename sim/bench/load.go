package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Payload is a flat telemetry message of 200 bytes with valid metrics
// only, so a validating broker accepts every one of them.
func Payload(seq int, ts time.Time) []byte {
	const size = 200
	b := make([]byte, 0, size+16)
	b = append(b, `{"ts":`...)
	b = strconv.AppendInt(b, ts.UnixMilli(), 10)
	b = append(b, `,"hr":`...)
	b = strconv.AppendInt(b, int64(60+seq%30), 10)
	b = append(b, `,"spo2":`...)
	b = strconv.AppendInt(b, int64(95+seq%5), 10)
	b = append(b, `,"rr":16,"sys":124,"dia":81,"map":95.3,"temp":36.6,"glucose":104,"battery":87,"steps":`...)
	b = strconv.AppendInt(b, int64(seq%100000), 10)
	b = append(b, `,"weight":71.25`...)
	// Trailing zeros keep the value and bring the message to its size.
	for len(b) < size-1 {
		b = append(b, '0')
	}
	return append(b, '}')
}

// connectAll connects one paho client per device, a few at a time.
func connectAll(ctx context.Context, addr string, creds []Creds) ([]paho.Client, error) {
	clients := make([]paho.Client, len(creds))
	err := fanOut(len(creds), 32, func(i int) error {
		c := creds[i]
		opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(c.ClientID()).
			SetUsername(c.Username).SetPassword(c.Password).SetCleanSession(true).
			SetAutoReconnect(false).SetKeepAlive(60 * time.Second).SetOrderMatters(false)
		cl := paho.NewClient(opts)
		if err := wait(ctx, cl.Connect()); err != nil {
			return fmt.Errorf("connect %s: %w", c.Device, err)
		}
		clients[i] = cl
		return nil
	})
	if err != nil {
		disconnectAll(clients)
		return nil, err
	}
	return clients, nil
}

func disconnectAll(cs []paho.Client) {
	for _, c := range cs {
		if c != nil {
			c.Disconnect(100)
		}
	}
}

// LoadConfig is one ingest run: Devices × Messages at QoS by Publishers
// concurrent goroutines.
type LoadConfig struct {
	Devices    int
	Messages   int
	Publishers int
	QoS        byte
	// Window bounds unacknowledged QoS 1 messages per device.
	Window int
}

// LoadResult is what the publishers saw.
type LoadResult struct {
	Sent    int
	Failed  int
	Elapsed time.Duration
	// Rate is accepted messages per second: at QoS 1, PUBACKs received;
	// at QoS 0, messages written to the socket.
	Rate float64
}

// Ingest publishes the load through already provisioned devices.
func Ingest(ctx context.Context, t Target, creds []Creds, cfg LoadConfig) (LoadResult, error) {
	if cfg.Publishers <= 0 {
		cfg.Publishers = 1
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	clients, err := connectAll(ctx, t.MQTTAddr(), creds)
	if err != nil {
		return LoadResult{}, fmt.Errorf("ingest on %s: %w", t.Name(), err)
	}
	defer disconnectAll(clients)

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		res    LoadResult
		first  error
		perPub = make([][]int, cfg.Publishers)
	)
	for i := range clients {
		perPub[i%cfg.Publishers] = append(perPub[i%cfg.Publishers], i)
	}
	start := time.Now()
	for _, devs := range perPub {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, failed, err := publishDevices(ctx, clients, creds, devs, cfg)
			mu.Lock()
			defer mu.Unlock()
			res.Sent += sent
			res.Failed += failed
			if err != nil && first == nil {
				first = err
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if first != nil {
		return res, fmt.Errorf("ingest on %s: %w", t.Name(), first)
	}
	res.Rate = float64(res.Sent-res.Failed) / res.Elapsed.Seconds()
	return res, nil
}

// publishDevices interleaves the devices of one publisher so that every
// device's connection stays busy.
func publishDevices(ctx context.Context, clients []paho.Client, creds []Creds, devs []int, cfg LoadConfig) (sent, failed int, err error) {
	pending := make([][]paho.Token, len(devs))
	settle := func(toks []paho.Token) error {
		for _, tok := range toks {
			if err := wait(ctx, tok); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed++
			}
		}
		return nil
	}
	now := time.Now()
	for m := 0; m < cfg.Messages; m++ {
		for j, i := range devs {
			tok := clients[i].Publish(creds[i].Topic(), cfg.QoS, false, Payload(m, now.Add(time.Duration(m)*time.Millisecond)))
			sent++
			pending[j] = append(pending[j], tok)
			if len(pending[j]) >= cfg.Window {
				half := len(pending[j]) / 2
				if err := settle(pending[j][:half]); err != nil {
					return sent, failed, err
				}
				pending[j] = append(pending[j][:0], pending[j][half:]...)
			}
		}
	}
	for _, p := range pending {
		if err := settle(p); err != nil {
			return sent, failed, err
		}
	}
	return sent, failed, nil
}
