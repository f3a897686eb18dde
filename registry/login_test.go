package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// An unknown username costs one bcrypt comparison at the configured cost,
// as a known one with a wrong password does, so timing tells them apart no
// better than chance.
func TestUnknownUsernameCostsOneBcrypt(t *testing.T) {
	s := startNATS(t, t.TempDir())
	t.Cleanup(s.Shutdown)
	opts := testOptions()
	opts.BcryptCost = 6
	r := openWith(t, connect(t, s), opts)
	ctx := ctxT(t)
	seed(t, r)
	d, _ := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"}))(t)
	var costs []int
	var mu sync.Mutex
	r.compare = func(h, p []byte) error {
		c, err := bcrypt.Cost(h)
		if err != nil {
			t.Errorf("compared against a non-bcrypt hash: %v", err)
		}
		mu.Lock()
		costs = append(costs, c)
		mu.Unlock()
		return bcrypt.CompareHashAndPassword(h, p)
	}
	for _, user := range []string{d.Username, "dev.f1.nobody", "dev.f9.d1", "cg.f1.d1"} {
		costs = nil
		if _, err := r.Authenticate(ctx, user, "wrong-password-123"); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", user, err)
		}
		if len(costs) != 1 || costs[0] != 6 {
			t.Errorf("%s: bcrypt comparisons at costs %v, want one at cost 6", user, costs)
		}
	}
}

func TestPasswordChecksAreBounded(t *testing.T) {
	s := startNATS(t, t.TempDir())
	t.Cleanup(s.Shutdown)
	opts := testOptions()
	opts.MaxConcurrentChecks = 2
	r := openWith(t, connect(t, s), opts)
	ctx := ctxT(t)
	seed(t, r)
	d, pw := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"}))(t)
	var running, peak atomic.Int64
	release := make(chan struct{})
	r.compare = func(h, p []byte) error {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return bcrypt.CompareHashAndPassword(h, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			_, err := r.Authenticate(ctx, d.Username, "wrong")
			errs <- err
		})
	}
	eventually(t, "two checks running", func() bool { return running.Load() == 2 })
	// A check that cannot start before its deadline answers ErrBusy, which
	// says nothing about the password.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.Authenticate(short, d.Username, pw); !errors.Is(err, ErrBusy) {
		t.Errorf("check while the slots are taken: %v, want ErrBusy", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrUnauthorized) {
			t.Errorf("queued wrong password: %v", err)
		}
	}
	if peak.Load() != 2 {
		t.Errorf("at most %d checks ran at once, want 2", peak.Load())
	}
	if _, err := r.Authenticate(ctx, d.Username, pw); err != nil {
		t.Errorf("right password afterwards: %v", err)
	}
}

func TestDevicePrincipal(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	d, _ := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"}))(t)
	must3(r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1"}}))(t)
	p, err := r.DevicePrincipal(ctx, d.Username)
	if err != nil || p.Kind != KindDevice || p.Farm != "f1" || p.ID != "d1" || p.Patient != "p1" {
		t.Fatalf("DevicePrincipal(%s) = %+v, %v", d.Username, p, err)
	}
	for _, u := range []string{"dev.f1.d2", "cg.f1.c1", "dev.f2.d1", "", "d1"} {
		if _, err := r.DevicePrincipal(ctx, u); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("DevicePrincipal(%q): %v, want ErrUnauthorized", u, err)
		}
	}
}
