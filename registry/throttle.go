package registry

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// ThrottleOptions bound failed logins. Zero values take the defaults noted.
type ThrottleOptions struct {
	// UsernameFailures and AddressFailures are the failed logins allowed
	// for one username, and from one client address, before back-off
	// begins; defaults 5 and 20.
	UsernameFailures, AddressFailures int
	// Backoff is the first wait once an allowance is spent; every further
	// failure doubles it, up to MaxBackoff. Defaults 1s and 1m.
	Backoff, MaxBackoff time.Duration
	// Forget is how long after its last failure a username or an address
	// starts afresh; default 15m.
	Forget time.Duration
	// Tracked bounds how many usernames, and how many addresses, are
	// remembered; the least recently seen are dropped first. Default 100000.
	Tracked int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Throttle limits password guessing: each username and each client address
// has an allowance of failed logins, past which every further failure
// doubles the time before the next attempt may begin. A success resets the
// username and the address. Attempts begun but not ended count against the
// allowance, so parallel guesses cannot slip past it.
//
// While a username or an address is backing off, attempts are refused at
// once, before any password is checked: nothing waits on the server and no
// CPU is spent on them. The cost is that a device whose username is being
// guessed is refused too until the back-off ends, which is why the
// back-off is short (MaxBackoff) and the allowance generous; the address
// limit catches the guesser without touching other devices.
type Throttle struct {
	opts ThrottleOptions

	mu    sync.Mutex
	users *simplelru.LRU[string, *throttleRecord]
	addrs *simplelru.LRU[string, *throttleRecord]
}

type throttleRecord struct {
	failures int       // failed logins since the last success or forgetting
	pending  int       // attempts begun and not yet ended
	last     time.Time // last failure
	until    time.Time // no attempt begins before this
}

// Scopes of a throttled refusal.
const (
	ScopeUsername = "username"
	ScopeAddress  = "address"
)

// ThrottledError refuses an attempt that came too soon after failures.
type ThrottledError struct {
	// Scope is ScopeUsername or ScopeAddress: which limit refused.
	Scope string
	// RetryAfter is how long until an attempt may begin.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed logins for this %s; retry in %v", e.Scope, e.RetryAfter.Round(time.Second/10))
}

// NewThrottle returns a throttle with opts.
func NewThrottle(opts ThrottleOptions) (*Throttle, error) {
	if opts.UsernameFailures == 0 {
		opts.UsernameFailures = 5
	}
	if opts.AddressFailures == 0 {
		opts.AddressFailures = 20
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.Forget == 0 {
		opts.Forget = 15 * time.Minute
	}
	if opts.Tracked == 0 {
		opts.Tracked = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.UsernameFailures < 1 || opts.AddressFailures < 1 || opts.Backoff < 0 ||
		opts.MaxBackoff < opts.Backoff || opts.Forget < 0 || opts.Tracked < 1 {
		return nil, errors.New("throttle: failures and tracked must be positive, 0 <= backoff <= max backoff")
	}
	users, err := simplelru.NewLRU[string, *throttleRecord](opts.Tracked, nil)
	if err != nil {
		return nil, err
	}
	addrs, err := simplelru.NewLRU[string, *throttleRecord](opts.Tracked, nil)
	if err != nil {
		return nil, err
	}
	return &Throttle{opts: opts, users: users, addrs: addrs}, nil
}

// Attempt is one login begun with Begin; end it with exactly one of
// Failed, Succeeded or Abandoned.
type Attempt struct {
	t          *Throttle
	user, addr string
}

// Begin starts a login attempt for username from addr (either may be
// empty: that limit then does not apply), or refuses it with a
// *ThrottledError.
func (t *Throttle) Begin(username, addr string) (Attempt, error) {
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.record(t.users, username, now)
	a := t.record(t.addrs, addr, now)
	if d := t.wait(u, t.opts.UsernameFailures, now); d > 0 {
		return Attempt{}, &ThrottledError{Scope: ScopeUsername, RetryAfter: d}
	}
	if d := t.wait(a, t.opts.AddressFailures, now); d > 0 {
		return Attempt{}, &ThrottledError{Scope: ScopeAddress, RetryAfter: d}
	}
	t.begin(t.users, username, u)
	t.begin(t.addrs, addr, a)
	return Attempt{t: t, user: username, addr: addr}, nil
}

// record returns key's record (nil if none), starting it afresh once its
// failures are older than Forget.
func (t *Throttle) record(c *simplelru.LRU[string, *throttleRecord], key string, now time.Time) *throttleRecord {
	if key == "" {
		return nil
	}
	r, ok := c.Get(key)
	if !ok {
		return nil
	}
	if r.pending == 0 && r.failures > 0 && now.Sub(r.last) >= t.opts.Forget {
		r.failures, r.until = 0, time.Time{}
	}
	return r
}

// wait is how long until r may begin an attempt; 0 means now. Once the
// allowance is spent, one attempt at a time probes after each back-off.
func (t *Throttle) wait(r *throttleRecord, free int, now time.Time) time.Duration {
	if r == nil {
		return 0
	}
	if now.Before(r.until) {
		return r.until.Sub(now)
	}
	if r.pending >= max(free-r.failures, 1) {
		return max(t.opts.Backoff, time.Millisecond)
	}
	return 0
}

func (t *Throttle) begin(c *simplelru.LRU[string, *throttleRecord], key string, r *throttleRecord) {
	if key == "" {
		return
	}
	if r == nil {
		r = &throttleRecord{}
		c.Add(key, r)
	}
	r.pending++
}

// backoff is the wait after the n-th failure past the allowance (n from 0).
func (t *Throttle) backoff(n int) time.Duration {
	d := t.opts.Backoff
	for ; n > 0 && d < t.opts.MaxBackoff; n-- {
		d *= 2
	}
	return min(d, t.opts.MaxBackoff)
}

// end applies an attempt's outcome to key's record.
func (t *Throttle) end(c *simplelru.LRU[string, *throttleRecord], key string, free int, outcome int, now time.Time) {
	if key == "" {
		return
	}
	r, ok := c.Peek(key)
	if !ok {
		return // dropped to make room while the attempt ran
	}
	r.pending = max(r.pending-1, 0)
	switch outcome {
	case outcomeFailed:
		r.failures++
		r.last = now
		if r.failures >= free {
			r.until = now.Add(t.backoff(r.failures - free))
		}
	case outcomeSucceeded:
		r.failures, r.until = 0, time.Time{}
	}
	if r.pending == 0 && r.failures == 0 {
		c.Remove(key)
	}
}

const (
	outcomeFailed = iota
	outcomeSucceeded
	outcomeAbandoned
)

func (a Attempt) finish(outcome int) {
	if a.t == nil {
		return
	}
	now := a.t.opts.Now()
	a.t.mu.Lock()
	defer a.t.mu.Unlock()
	a.t.end(a.t.users, a.user, a.t.opts.UsernameFailures, outcome, now)
	a.t.end(a.t.addrs, a.addr, a.t.opts.AddressFailures, outcome, now)
}

// Failed records a wrong password or an unknown username.
func (a Attempt) Failed() { a.finish(outcomeFailed) }

// Succeeded records a login: the username's and the address's failures
// are forgotten.
func (a Attempt) Succeeded() { a.finish(outcomeSucceeded) }

// Abandoned ends an attempt that proved nothing either way (the server was
// busy or the registry unreachable).
func (a Attempt) Abandoned() { a.finish(outcomeAbandoned) }
