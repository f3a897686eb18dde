// Package goroutine owns the goroutines of a component that has a Stop:
// a Group starts them, counts them, refuses new ones once Stop began, and
// lets Stop join them (the model is nats-server's startGoRoutine). A
// goroutine started while a component shuts down would otherwise outlive
// what it uses.
package goroutine

import (
	"context"
	"fmt"
	"sync"
)

// Group is ready to use as its zero value.
type Group struct {
	mu       sync.Mutex
	stopping bool
	wg       sync.WaitGroup
}

// TryGo runs f in a new goroutine counted by the group and reports true,
// or, once Stop was called, runs nothing and reports false.
func (g *Group) TryGo(f func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopping {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// Go is TryGo for callers that have nothing to undo when f is refused; it
// has the shape of sync.WaitGroup.Go.
func (g *Group) Go(f func()) { g.TryGo(f) }

// Stop refuses every later goroutine; those running go on until they end.
// It is idempotent.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopping = true
	g.mu.Unlock()
}

// Stopping reports whether Stop was called.
func (g *Group) Stopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopping
}

// Wait stops the group and waits for its goroutines to end, or for ctx:
// then it reports ctx's error and the goroutines are left running.
func (g *Group) Wait(ctx context.Context) error {
	g.Stop()
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("goroutines still running: %w", ctx.Err())
	}
}
