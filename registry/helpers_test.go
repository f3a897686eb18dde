package registry

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
)

// startNATS runs a JetStream server on a free loopback port storing under
// dir; the caller shuts it down (tests that restart it need that control).
func startNATS(tb testing.TB, dir string) *server.Server {
	tb.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = dir
	return natstest.RunServer(&opts)
}

func connect(tb testing.TB, s *server.Server) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream: %v", err)
	}
	return js
}

func testOptions() Options {
	return Options{
		BcryptCost: bcrypt.MinCost,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func open(tb testing.TB, js jetstream.JetStream) *Registry {
	tb.Helper()
	return openWith(tb, js, testOptions())
}

func openWith(tb testing.TB, js jetstream.JetStream, opts Options) *Registry {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Open(ctx, js, opts)
	if err != nil {
		tb.Fatalf("open registry: %v", err)
	}
	tb.Cleanup(r.Close)
	return r
}

// newEnv starts a server and opens one registry on it.
func newEnv(tb testing.TB) (*Registry, jetstream.JetStream) {
	tb.Helper()
	return newEnvWith(tb, testOptions())
}

// newEnvWith is newEnv with options of the test's own.
func newEnvWith(tb testing.TB, opts Options) (*Registry, jetstream.JetStream) {
	tb.Helper()
	s := startNATS(tb, tb.TempDir())
	tb.Cleanup(s.Shutdown)
	js := connect(tb, s)
	return openWith(tb, js, opts), js
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// must and must3 turn a call's trailing error into a test failure:
// must(r.CreateFarm(ctx, f))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(tb testing.TB) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

func must3[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(tb testing.TB) (A, B) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return a, b
	}
}

// eventually polls cond until it holds or the deadline passes: watcher
// propagation between registries is asynchronous.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seed creates farm f1 with adult patient p1.
func seed(tb testing.TB, r *Registry) {
	tb.Helper()
	ctx := ctxT(tb)
	must(r.CreateFarm(ctx, Farm{ID: "f1", Name: "Farm One"}))(tb)
	must(r.CreatePatient(ctx, Patient{Farm: "f1", ID: "p1", Profile: ProfileAdult}))(tb)
}
