// Package processors holds medbiz's stream processors, one folder each
// (store, alerting, ecg), all consuming NATS JetStream. This file declares the
// lifecycle they share so the app can start and stop them alike.
package processors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Processor is a long-running stream consumer. Start returns once the
// processor consumes (its goroutines run until Stop); Stop drains what it
// holds, bounded by ctx, and is safe to call more than once.
type Processor interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Each runs handle on every message of it, in order, in two goroutines
// counted in wg, until ctx ends (which stops the iterator). Errors other
// than a closed iterator (a missed heartbeat under load, say) are logged
// and consumption goes on: the iterator keeps pulling by itself, and a
// processor that stopped on them would silently stop storing or alerting.
func Each(ctx context.Context, wg *sync.WaitGroup, it jetstream.MessagesContext, log *slog.Logger,
	handle func(context.Context, jetstream.Msg)) {
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			msg, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			if err != nil {
				log.Warn("consumer", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			handle(ctx, msg)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		it.Stop()
	}()
}
