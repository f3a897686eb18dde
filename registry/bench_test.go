package registry

import (
	"fmt"
	"testing"
)

// BenchmarkAuthenticateCached is an MQTT reconnect storm: the same devices
// connecting again within the cache TTL.
func BenchmarkAuthenticateCached(b *testing.B) {
	r, _ := newEnv(b)
	ctx := ctxT(b)
	seed(b, r)
	d, pw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Authenticate(ctx, d.Username, pw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Authenticate(ctx, d.Username, pw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateUncached is the cost the cache saves (bcrypt at the
// production cost).
func BenchmarkAuthenticateUncached(b *testing.B) {
	s := startNATS(b, b.TempDir())
	b.Cleanup(s.Shutdown)
	opts := testOptions()
	opts.BcryptCost = 0 // bcrypt.DefaultCost
	opts.AuthCacheTTL = -1
	r := openWith(b, connect(b, s), opts)
	ctx := ctxT(b)
	seed(b, r)
	d, pw, err := r.CreateDevice(ctx, Device{Farm: "f1", ID: "d1", Patient: "p1", Kind: "bp_monitor"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Authenticate(ctx, d.Username, pw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeviceLookup is the ingest hook's per-message lookup, in a
// registry of 1000 devices across 10 farms.
func BenchmarkDeviceLookup(b *testing.B) {
	r, _ := newEnv(b)
	ctx := ctxT(b)
	for f := range 10 {
		farm := fmt.Sprintf("farm%d", f)
		must(r.CreateFarm(ctx, Farm{ID: farm}))(b)
		for i := range 100 {
			id := fmt.Sprintf("d%03d", i)
			// Mirror records straight into memory: creating 1000 bcrypt
			// credentials would dominate the benchmark's set-up.
			if _, _, _, err := r.apply(deviceKey(farm, id),
				fmt.Appendf(nil, `{"farm":%q,"id":%q,"patient":"p1","kind":"scale","password_hash":"x"}`, farm, id),
				uint64(1+f*100+i), false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d, ok := r.Device("farm7", "d042"); !ok || d.Patient != "p1" {
				b.Fatal("device not found")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if d, ok := r.Device("farm7", "d042"); !ok || d.Patient != "p1" {
					b.Fatal("device not found")
				}
			}
		})
	})
}

func BenchmarkCheckToken(b *testing.B) {
	r, _ := newEnv(b)
	ctx := ctxT(b)
	seed(b, r)
	_, secret, err := r.CreateToken(ctx, "f1", []string{"read"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.CheckToken(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}
