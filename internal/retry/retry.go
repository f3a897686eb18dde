// Package retry names medbiz's back-off policies, built on
// github.com/cenkalti/backoff/v5, so that every retry loop says which
// policy it follows and none carries numbers of its own.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Policy is an exponential back-off: the first wait, the factor each
// later wait grows by (with ±20 % jitter, so that nodes retrying the same
// server spread out), and the longest wait.
type Policy struct {
	Initial    time.Duration
	Multiplier float64
	Max        time.Duration
}

// jitter is the randomization factor of every policy.
const jitter = 0.2

// Transient is for a dependency that is briefly away while medbiz runs
// (InfluxDB restarting, NATS reconnecting): retry soon, then every 5 s at
// most, for as long as the caller's context allows. Writes and alert
// publication follow it, so nothing is dropped during an outage.
func Transient() Policy {
	return Policy{Initial: 100 * time.Millisecond, Multiplier: 2, Max: 5 * time.Second}
}

// Startup is for a server medbiz waits for while it starts (an external
// NATS or InfluxDB that comes up after it).
func Startup() Policy {
	return Policy{Initial: 500 * time.Millisecond, Multiplier: 1.5, Max: 5 * time.Second}
}

// BackOff is the policy as a backoff.BackOff, for loops that wait in their
// own way between attempts (the store keeps taking messages meanwhile).
func (p Policy) BackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: jitter,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.Max,
	}
}

// Do runs op until it succeeds, it returns an error wrapped by
// backoff.Permanent (returned unwrapped), or ctx ends (its cause is
// returned joined with op's last error). Before each wait, notify (if not
// nil) is told the error and the wait.
func (p Policy) Do(ctx context.Context, op func() error, notify func(err error, wait time.Duration)) error {
	var last error
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = op()
		return struct{}{}, last
	}, backoff.WithBackOff(p.BackOff()), backoff.WithMaxElapsedTime(0), backoff.WithNotify(notify))
	if err != nil && ctx.Err() != nil && last != nil && !errors.Is(err, last) {
		return errors.Join(last, err)
	}
	return err
}
