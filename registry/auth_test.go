package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestAuthenticateRejects(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	d, pw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "ecg_patch"})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][2]string{
		"wrong password":           {d.Username, pw + "x"},
		"empty password":           {d.Username, ""},
		"password prefix":          {d.Username, pw[:len(pw)-1]},
		"overlong password":        {d.Username, pw + strings.Repeat("x", 80)},
		"unknown device":           {"dev.f1.d2", pw},
		"unknown farm":             {"dev.f9.d1", pw},
		"device as caregiver":      {"cg.f1.d1", pw},
		"no kind prefix":           {"f1.d1", pw},
		"bare id":                  {"d1", pw},
		"empty username":           {"", pw},
		"extra dot":                {"dev.f1.d1.x", pw},
		"uppercase":                {"dev.F1.d1", pw},
		"wildcard in username":     {"dev.f1.*", pw},
		"nats subject in username": {"dev.f1.>", pw},
	}
	for name, c := range cases {
		if p, err := r.Authenticate(ctx, c[0], c[1]); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: Authenticate = %+v, %v; want ErrUnauthorized", name, p, err)
		}
	}
	// And the right one still works after all that.
	if _, err := r.Authenticate(ctx, d.Username, pw); err != nil {
		t.Fatal(err)
	}
}

func TestCheckTokenRejects(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	tok, secret, err := r.CreateToken(ctx, "f1", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(secret)
	flipped[len(flipped)-1] ^= 1
	cases := map[string]string{
		"empty":            "",
		"prefix only":      "mbz_",
		"no secret":        "mbz_" + tok.ID + "_",
		"wrong secret":     string(flipped),
		"unknown id":       "mbz_000000000000_" + secret[17:],
		"bad prefix":       "xyz_" + secret[4:],
		"upper-case id":    "mbz_" + strings.ToUpper(tok.ID) + secret[16:],
		"truncated secret": secret[:len(secret)-1],
		"appended":         secret + "a",
	}
	for name, s := range cases {
		if got, err := r.CheckToken(ctx, s); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: CheckToken = %+v, %v; want ErrUnauthorized", name, got, err)
		}
	}
	if got, err := r.CheckToken(ctx, secret); err != nil || got.ID != tok.ID {
		t.Fatalf("CheckToken(valid) = %+v, %v", got, err)
	}
}

func TestSecretsAreNotStoredInClear(t *testing.T) {
	r, js := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	_, dpw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "sos_button"})
	if err != nil {
		t.Fatal(err)
	}
	_, cpw, err := r.CreateCaregiver(ctx, Caregiver{Farm: "f1", ID: "c1", Patients: []string{"p1"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, secret, err := r.CreateToken(ctx, "f1", []string{"write"})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(key string) []byte {
		e, err := kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		return e.Value()
	}
	for key, pw := range map[string]string{"device.f1.d1": dpw, "caregiver.f1.c1": cpw} {
		v := raw(key)
		if bytes.Contains(v, []byte(pw)) {
			t.Errorf("%s holds the password in clear: %s", key, v)
		}
		if !bytes.Contains(v, []byte(`"password_hash":"$2a$`)) {
			t.Errorf("%s holds no bcrypt hash: %s", key, v)
		}
	}
	tv := raw("token." + tok.ID)
	if bytes.Contains(tv, []byte(secret[17:])) {
		t.Errorf("token record holds its secret: %s", tv)
	}
	// Nor does the public Device value carry anything secret.
	d, _ := r.Device("f1", "d1")
	if strings.Contains(strings.ToLower(strings.Join([]string{d.Farm, d.ID, d.Patient, d.Kind, d.Username}, " ")), "$2a$") {
		t.Error("public device carries the hash")
	}
}

// countCompares makes r count its bcrypt checks.
func countCompares(r *Registry) *atomic.Int64 {
	var calls atomic.Int64
	r.compare = func(hash, password []byte) error {
		calls.Add(1)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	return &calls
}

func TestAuthCacheSavesBcrypt(t *testing.T) {
	opts := testOptions()
	opts.AuthCacheTTL = time.Second
	r, _ := newEnvWith(t, opts)
	ctx := ctxT(t)
	seed(t, r)
	d, pw := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"}))(t)
	calls := countCompares(r)
	auth := func(password string) error { _, err := r.Authenticate(ctx, d.Username, password); return err }
	// The entry expires between before+TTL and after+TTL.
	before := time.Now()
	if err := auth(pw); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if err := auth(pw); err != nil {
		t.Fatal(err)
	}
	// A wrong password is always checked and never becomes a success.
	for range 2 {
		if err := auth("wrong-password"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// Counted only while the first success is surely inside its TTL: on a
	// machine stalled for a second the entry may rightly have expired.
	if time.Since(before) < opts.AuthCacheTTL/2 {
		if n := calls.Load(); n != 3 {
			t.Fatalf("bcrypt calls after two logins and two failures = %d, want 3", n)
		}
	}
	// Past the TTL the password is checked again.
	time.Sleep(time.Until(after.Add(opts.AuthCacheTTL + 10*time.Millisecond)))
	n := calls.Load()
	if err := auth(pw); err != nil || calls.Load() != n+1 {
		t.Fatalf("after TTL: err %v, bcrypt calls %d, want %d", err, calls.Load(), n+1)
	}
}

// TestChangedPasswordNotServedFromCache: a password changed in the bucket
// (by this node or another) stops the old one at once, although the old
// one's success is still cached, and the new one works.
func TestChangedPasswordNotServedFromCache(t *testing.T) {
	r, js := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	d, oldPW := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"}))(t)
	must(r.Authenticate(ctx, d.Username, oldPW))(t)
	kv, err := js.KeyValue(ctx, DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, "device.f1.d1")
	if err != nil {
		t.Fatal(err)
	}
	const newPW = "a-new-password-of-32-characters!"
	newHash, err := bcrypt.GenerateFromPassword([]byte(newPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		t.Fatal(err)
	}
	rec["password_hash"] = string(newHash)
	if _, err := kv.Put(ctx, "device.f1.d1", must(json.Marshal(rec))(t)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := r.Authenticate(ctx, d.Username, newPW); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new password never worked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := r.Authenticate(ctx, d.Username, oldPW); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("old password after the change: %v, want ErrUnauthorized", err)
	}
}

func TestAuthCacheDisabled(t *testing.T) {
	opts := testOptions()
	opts.AuthCacheTTL = -1
	r, _ := newEnvWith(t, opts)
	ctx := ctxT(t)
	seed(t, r)
	d, pw := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"}))(t)
	calls := countCompares(r)
	for range 3 {
		must(r.Authenticate(ctx, d.Username, pw))(t)
	}
	if calls.Load() != 3 || r.cache != nil {
		t.Fatalf("calls %d, cache %v; want 3, none", calls.Load(), r.cache)
	}
}

// TestAuthCacheIsBounded: a cache of 5 holds the 5 devices that logged in
// last; the first of 8 was dropped and costs a bcrypt again.
func TestAuthCacheIsBounded(t *testing.T) {
	opts := testOptions()
	opts.AuthCacheSize = 5
	r, _ := newEnvWith(t, opts)
	ctx := ctxT(t)
	seed(t, r)
	type cred struct{ user, pw string }
	var creds []cred
	for i := range 8 {
		d, pw := must3(r.CreateDevice(ctx, Device{Farm: "f1", ID: fmt.Sprintf("d%d", i), Patient: "p1", Kind: "bp_monitor"}))(t)
		creds = append(creds, cred{d.Username, pw})
	}
	calls := countCompares(r)
	for _, c := range creds {
		must(r.Authenticate(ctx, c.user, c.pw))(t)
	}
	if n := r.cache.Len(); n != 5 {
		t.Fatalf("cache holds %d checks, want its bound 5", n)
	}
	last := creds[len(creds)-1]
	must(r.Authenticate(ctx, last.user, last.pw))(t)
	if calls.Load() != 8 {
		t.Fatalf("the latest login was not cached: %d bcrypt calls, want 8", calls.Load())
	}
	must(r.Authenticate(ctx, creds[0].user, creds[0].pw))(t)
	if calls.Load() != 9 {
		t.Fatalf("the oldest login was still cached: %d bcrypt calls, want 9", calls.Load())
	}
}

func TestAuthenticateConcurrent(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	d, pw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			p := pw
			if i%2 == 1 {
				p = "nope"
			}
			_, err := r.Authenticate(ctx, d.Username, p)
			if (i%2 == 0) != (err == nil) {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent authenticate: %v", err)
	}
}
