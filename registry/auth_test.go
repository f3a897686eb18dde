package registry

import (
	"bytes"
	"errors"
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

func TestAuthCacheSavesBcrypt(t *testing.T) {
	r, _ := newEnv(t)
	ctx := ctxT(t)
	seed(t, r)
	d, pw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	var clock atomic.Int64
	clock.Store(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC).UnixNano())
	r.compare = func(hash, password []byte) error {
		calls.Add(1)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	r.now = func() time.Time { return time.Unix(0, clock.Load()) }

	auth := func(password string) error { _, err := r.Authenticate(ctx, d.Username, password); return err }
	if err := auth(pw); err != nil {
		t.Fatal(err)
	}
	if err := auth(pw); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("bcrypt calls after two logins = %d, want 1", n)
	}
	// A wrong password is always checked and never becomes a success.
	for range 2 {
		if err := auth("wrong-password"); !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("bcrypt calls after two failures = %d, want 3", n)
	}
	// Still cached until the TTL passes, then checked again.
	clock.Add(int64(time.Minute))
	if err := auth(pw); err != nil || calls.Load() != 3 {
		t.Fatalf("within TTL: err %v, calls %d", err, calls.Load())
	}
	clock.Add(int64(2 * time.Minute))
	if err := auth(pw); err != nil || calls.Load() != 4 {
		t.Fatalf("after TTL: err %v, calls %d", err, calls.Load())
	}
}

func TestAuthCacheDisabled(t *testing.T) {
	s := startNATS(t, t.TempDir())
	t.Cleanup(s.Shutdown)
	opts := testOptions()
	opts.AuthCacheTTL = -1
	r := openWith(t, connect(t, s), opts)
	ctx := ctxT(t)
	seed(t, r)
	d, pw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	r.compare = func(h, p []byte) error { calls.Add(1); return bcrypt.CompareHashAndPassword(h, p) }
	for range 3 {
		must(r.Authenticate(ctx, d.Username, pw))(t)
	}
	if calls.Load() != 3 || r.cache.len() != 0 {
		t.Fatalf("calls %d, cache %d; want 3, 0", calls.Load(), r.cache.len())
	}
}

func TestAuthCacheIsBounded(t *testing.T) {
	c := newAuthCache(50)
	now := time.Unix(1000, 0)
	hash := []byte("h")
	for i := range 500 {
		k := authKey{user: "dev.f.d" + string(rune('a'+i%26)) + string(rune('a'+i/26))}
		c.put(k, hash, now, now.Add(time.Minute))
		if c.len() > 50 {
			t.Fatalf("cache grew to %d", c.len())
		}
	}
	// Expired entries go first: after the TTL a full cache is swept whole.
	c = newAuthCache(50)
	for i := range 50 {
		c.put(authKey{user: string(rune('A' + i))}, hash, now, now.Add(time.Minute))
	}
	if c.len() != 50 {
		t.Fatalf("filled cache has %d entries", c.len())
	}
	later := now.Add(2 * time.Minute)
	k := authKey{user: "fresh"}
	c.put(k, hash, later, later.Add(time.Minute))
	if c.len() != 1 || !c.hit(k, hash, later) {
		t.Fatalf("after sweep: len %d", c.len())
	}
	if c.hit(k, []byte("other hash"), later) {
		t.Fatal("hit with a different password hash")
	}
	if c.hit(k, hash, later.Add(time.Hour)) {
		t.Fatal("hit after expiry")
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
