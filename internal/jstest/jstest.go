// Package jstest runs a real JetStream server for a package's tests, as
// nats-server's own tests do: a free port, its files in a test folder.
package jstest

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server starts JetStream on a free port, storing under a temporary
// folder; it is shut down when the test ends.
func Server(tb testing.TB) *server.Server {
	tb.Helper()
	opts := natstest.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = tb.TempDir()
	srv := natstest.RunServer(&opts)
	tb.Cleanup(srv.Shutdown)
	return srv
}

// Connect opens a connection to srv and its JetStream context; the
// connection is closed when the test ends.
func Connect(tb testing.TB, srv *server.Server) (*nats.Conn, jetstream.JetStream) {
	tb.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return nc, js
}
