// Package processors holds medbiz's stream processors, one folder each
// (store, rules, ecg), all consuming NATS JetStream. This file declares the
// lifecycle they share so the app can start and stop them alike.
package processors

import "context"

// Processor is a long-running stream consumer. Start returns once the
// processor consumes (its goroutines run until Stop); Stop drains what it
// holds, bounded by ctx, and is safe to call more than once.
type Processor interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}
