package registry

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type testClock struct{ t time.Time }

func (c *testClock) now() time.Time      { return c.t }
func (c *testClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newTestClock() *testClock           { return &testClock{t: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)} }
func throttled(err error) (*ThrottledError, bool) {
	var te *ThrottledError
	return te, errors.As(err, &te)
}

func newTestThrottle(t *testing.T, c *testClock) *Throttle {
	t.Helper()
	th, err := NewThrottle(ThrottleOptions{
		UsernameFailures: 3, AddressFailures: 5, Backoff: time.Second, MaxBackoff: 8 * time.Second,
		Forget: time.Minute, Tracked: 100, Now: c.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// fail begins and fails one attempt, which must be allowed.
func fail(t *testing.T, th *Throttle, user, addr string) {
	t.Helper()
	a, err := th.Begin(user, addr)
	if err != nil {
		t.Fatalf("attempt %s from %s refused: %v", user, addr, err)
	}
	a.Failed()
}

func TestThrottleBackOffGrowsAndSuccessResets(t *testing.T) {
	c := newTestClock()
	th := newTestThrottle(t, c)
	for range 3 {
		fail(t, th, "dev.f1.d1", "10.0.0.1")
	}
	// The allowance is spent: 1 s of back-off, then each failure doubles it.
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		_, err := th.Begin("dev.f1.d1", "10.0.0.2")
		te, ok := throttled(err)
		if !ok || te.Scope != ScopeUsername || te.RetryAfter != want {
			t.Fatalf("during back-off: %v, want a username refusal for %v", err, want)
		}
		c.add(want)
		fail(t, th, "dev.f1.d1", "10.0.0.2")
	}
	// Other usernames are not affected.
	if _, err := th.Begin("dev.f1.d2", "10.0.0.3"); err != nil {
		t.Fatalf("another username: %v", err)
	}
	// After the back-off one attempt probes; a success forgets the failures.
	c.add(8 * time.Second)
	a, err := th.Begin("dev.f1.d1", "10.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	a.Succeeded()
	for range 3 {
		fail(t, th, "dev.f1.d1", "10.0.0.4")
	}
	if _, err := th.Begin("dev.f1.d1", "10.0.0.4"); err == nil {
		t.Fatal("the allowance after a success was more than 3 failures")
	}
}

func TestThrottleParallelAttemptsCountAgainstTheAllowance(t *testing.T) {
	c := newTestClock()
	th := newTestThrottle(t, c)
	var begun []Attempt
	refused := 0
	for i := range 48 {
		a, err := th.Begin("dev.f1.d1", fmt.Sprintf("10.0.1.%d", i))
		if err != nil {
			refused++
			continue
		}
		begun = append(begun, a)
	}
	if len(begun) != 3 || refused != 45 {
		t.Fatalf("48 parallel attempts: %d begun, %d refused; want 3 and 45", len(begun), refused)
	}
	for _, a := range begun {
		a.Failed()
	}
	if _, err := th.Begin("dev.f1.d1", "10.0.2.1"); err == nil {
		t.Fatal("attempt allowed right after the allowance was spent")
	}
}

func TestThrottleAddressLimit(t *testing.T) {
	c := newTestClock()
	th := newTestThrottle(t, c)
	// Five different unknown usernames from one address.
	for i := range 5 {
		fail(t, th, fmt.Sprintf("dev.f1.guess%d", i), "10.0.0.9")
	}
	_, err := th.Begin("dev.f1.real", "10.0.0.9")
	if te, ok := throttled(err); !ok || te.Scope != ScopeAddress {
		t.Fatalf("sixth username from the same address: %v, want an address refusal", err)
	}
	if _, err := th.Begin("dev.f1.real", "10.0.0.10"); err != nil {
		t.Fatalf("the same username from another address: %v", err)
	}
}

func TestThrottleForgetsAndAbandonedCountsNothing(t *testing.T) {
	c := newTestClock()
	th := newTestThrottle(t, c)
	for range 3 {
		a, err := th.Begin("dev.f1.d1", "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		a.Abandoned()
	}
	fail(t, th, "dev.f1.d1", "10.0.0.1")
	fail(t, th, "dev.f1.d1", "10.0.0.1")
	c.add(time.Minute)
	// The two failures are a minute old: forgotten, a full allowance again.
	for range 3 {
		fail(t, th, "dev.f1.d1", "10.0.0.1")
	}
	if _, err := th.Begin("dev.f1.d1", "10.0.0.1"); err == nil {
		t.Fatal("no back-off after three fresh failures")
	}
}

func TestThrottleIsBounded(t *testing.T) {
	c := newTestClock()
	th := newTestThrottle(t, c)
	for i := range 1000 {
		fail(t, th, fmt.Sprintf("dev.f1.g%d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250))
	}
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.users.Len() > 100 || th.addrs.Len() > 100 {
		t.Fatalf("tracked %d usernames and %d addresses, bound 100", th.users.Len(), th.addrs.Len())
	}
}

func TestThrottleEmptyKeysAreNotTracked(t *testing.T) {
	c := newTestClock()
	th := newTestThrottle(t, c)
	for range 10 {
		fail(t, th, "", "")
	}
	if _, err := th.Begin("", ""); err != nil {
		t.Fatalf("attempt without username or address throttled: %v", err)
	}
}
