// Package processors holds medbiz's stream processors, one folder each
// (store, alerting, ecg), all consuming NATS JetStream. This file declares the
// lifecycle they share so the app can start and stop them alike.
package processors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/internal/retry"
)

// Processor is a long-running stream consumer. Start returns once the
// processor consumes (its goroutines run until Stop); Stop drains what it
// holds, bounded by ctx, and is safe to call more than once.
type Processor interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Starter starts goroutines that its owner joins at Stop: a
// *goroutine.Group (which refuses new ones once Stop began), or a
// *sync.WaitGroup.
type Starter interface{ Go(f func()) }

// Each runs handle on every message of it, in order, in two goroutines
// started by g, until ctx ends (which stops the iterator). Errors other
// than a closed iterator (a missed heartbeat under load, say) are logged
// and consumption goes on after a retry.Transient pause: the iterator
// keeps pulling by itself, and a processor that stopped on them would
// silently stop storing or alerting. A closed iterator ends the loop;
// closed is then told why (nil after Stop or ctx), if it is not nil.
func Each(ctx context.Context, g Starter, it jetstream.MessagesContext, log *slog.Logger,
	handle func(context.Context, jetstream.Msg)) {
	EachUntilClosed(ctx, g, it, log, handle, nil)
}

// EachUntilClosed is Each, plus closed, called once when the loop ends
// with the iterator's final error (ErrMsgIteratorClosed, which may wrap
// jetstream.ErrConnectionClosed when the connection went away).
func EachUntilClosed(ctx context.Context, g Starter, it jetstream.MessagesContext, log *slog.Logger,
	handle func(context.Context, jetstream.Msg), closed func(error)) {
	g.Go(func() {
		pause := retry.Transient().BackOff()
		for {
			msg, err := it.Next()
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if closed != nil {
					closed(err)
				}
				return
			}
			if err != nil {
				log.Warn("consumer", "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(pause.NextBackOff()):
				}
				continue
			}
			pause.Reset()
			handle(ctx, msg)
		}
	})
	g.Go(func() {
		<-ctx.Done()
		it.Stop()
	})
}
