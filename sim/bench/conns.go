package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// rawConnect opens an MQTT 3.1.1 connection with a hand-written CONNECT
// (clean session, keep-alive off) and returns once the CONNACK accepted
// it. The connection then idles with no goroutine on this side, so the
// RSS delta of many of them is the broker's cost, not the client's.
func rawConnect(ctx context.Context, addr string, c Creds) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var payload []byte
	str := func(s string) {
		payload = append(payload, byte(len(s)>>8), byte(len(s)))
		payload = append(payload, s...)
	}
	flags := byte(0x02) // clean session
	str(c.ClientID())
	if c.Username != "" {
		flags |= 0x80
		str(c.Username)
		if c.Password != "" {
			flags |= 0x40
			str(c.Password)
		}
	}
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 0}
	body := append(vh, payload...)
	pkt := []byte{0x10}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	pkt = append(pkt, body...)
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if _, err := conn.Write(pkt); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send CONNECT: %w", err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("CONNACK refused: % x", ack)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// ConnResult is the cost of holding idle device connections.
type ConnResult struct {
	N           int
	ConnectTime time.Duration
	RSSBefore   int64
	RSSAfter    int64
	PerConnKiB  float64
	Waves       []time.Duration // time to reconnect every connection, per wave
}

// Connections opens n idle device connections, measures the target's RSS
// growth and the time it took, then runs waves of drop-and-reconnect.
func Connections(ctx context.Context, t Target, n, waves int) (ConnResult, error) {
	creds, err := t.Provision(ctx, n)
	if err != nil {
		return ConnResult{}, fmt.Errorf("connections: provision: %w", err)
	}
	res := ConnResult{N: n, PerConnKiB: math.NaN()}
	settleMemory()
	if res.RSSBefore, err = t.RSS(); err != nil && !errors.Is(err, ErrUnsupported) {
		return res, err
	}
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	start := time.Now()
	if err := openAll(ctx, t.MQTTAddr(), creds, conns); err != nil {
		return res, fmt.Errorf("connections: %w", err)
	}
	res.ConnectTime = time.Since(start)
	// Let the broker finish its per-client setup before reading memory.
	time.Sleep(200 * time.Millisecond)
	settleMemory()
	if res.RSSAfter, err = t.RSS(); err == nil && n > 0 {
		res.PerConnKiB = float64(res.RSSAfter-res.RSSBefore) / float64(n) / 1024
	}
	for w := 0; w < waves; w++ {
		start := time.Now()
		for i, c := range conns {
			// A polite DISCONNECT, as a device rebooting for an update.
			_, _ = c.Write([]byte{0xE0, 0})
			c.Close()
			conns[i] = nil
		}
		if err := openAll(ctx, t.MQTTAddr(), creds, conns); err != nil {
			return res, fmt.Errorf("connections: reconnect wave %d: %w", w+1, err)
		}
		res.Waves = append(res.Waves, time.Since(start))
	}
	return res, nil
}

func openAll(ctx context.Context, addr string, creds []Creds, conns []net.Conn) error {
	return fanOut(len(creds), 64, func(i int) error {
		conn, err := rawConnect(ctx, addr, creds[i])
		if err != nil {
			return fmt.Errorf("%s: %w", creds[i].Device, err)
		}
		conns[i] = conn
		return nil
	})
}

// fanOut runs fn(0..n-1) with at most limit at once and joins the first
// few errors.
func fanOut(n, limit int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, limit)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if len(errs) < 5 {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// settleMemory returns freed heap to the OS so RSS readings compare.
func settleMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
