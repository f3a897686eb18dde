package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

var fast = Policy{Initial: time.Millisecond, Multiplier: 2, Max: 4 * time.Millisecond}

func TestDoRetriesUntilSuccess(t *testing.T) {
	calls, notified := 0, 0
	err := fast.Do(context.Background(), func() error {
		calls++
		if calls < 5 {
			return errors.New("away")
		}
		return nil
	}, func(err error, wait time.Duration) {
		notified++
		if wait <= 0 || wait > time.Duration(float64(fast.Max)*(1+jitter)) {
			t.Errorf("wait %v outside the policy", wait)
		}
	})
	if err != nil || calls != 5 || notified != 4 {
		t.Fatalf("err %v after %d calls, %d notifications; want success on the 5th call", err, calls, notified)
	}
}

func TestDoStopsOnPermanentError(t *testing.T) {
	refused := errors.New("refused")
	calls := 0
	err := fast.Do(context.Background(), func() error { calls++; return backoff.Permanent(refused) }, nil)
	if !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestDoEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	away := errors.New("away")
	calls := 0
	err := fast.Do(ctx, func() error {
		calls++
		if calls == 3 {
			cancel()
		}
		return away
	}, nil)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, away) || calls != 3 {
		t.Fatalf("err %v after %d calls; want the cancellation and the last error", err, calls)
	}
}

// The named policies never give up on their own (no elapsed-time limit).
func TestPoliciesRetryPastBackoffDefaultLimit(t *testing.T) {
	for name, p := range map[string]Policy{"transient": Transient(), "startup": Startup()} {
		b := p.BackOff()
		for range 1000 {
			if d := b.NextBackOff(); d == backoff.Stop || d > time.Duration(float64(p.Max)*(1+jitter)) {
				t.Fatalf("%s: wait %v", name, d)
			}
		}
	}
}
