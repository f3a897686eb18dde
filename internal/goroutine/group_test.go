package goroutine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestGroupJoinsAndRefusesAfterStop(t *testing.T) {
	var g Group
	var ran atomic.Int32
	release := make(chan struct{})
	for range 3 {
		if !g.TryGo(func() { <-release; ran.Add(1) }) {
			t.Fatal("refused before Stop")
		}
	}
	g.Stop()
	if g.TryGo(func() { ran.Add(100) }) {
		t.Fatal("started after Stop")
	}
	g.Go(func() { ran.Add(100) })
	if !g.Stopping() {
		t.Fatal("not stopping after Stop")
	}

	// Wait is bounded by its context while goroutines still run ...
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with running goroutines: %v", err)
	}
	// ... and returns once they ended.
	close(release)
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := ran.Load(); got != 3 {
		t.Fatalf("%d ran, want the 3 started before Stop", got)
	}
}
