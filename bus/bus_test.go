package bus

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedKeepsStreamsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)

	start := func() (*Embedded, jetstream.JetStream, func()) {
		e, err := StartEmbedded(EmbeddedConfig{Dir: dir, Addr: "127.0.0.1:0", SyncAlways: true, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		nc, js, err := Connect(ctx, "", e, logger)
		if err != nil {
			t.Fatal(err)
		}
		return e, js, func() { nc.Close(); e.Shutdown() }
	}

	_, js, stop := start()
	if err := EnsureStreams(ctx, js, StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, TelemetrySubject("f1", "p1", "d1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, AckSubject("f1", "p1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	stop()

	_, js, stop = start()
	defer stop()
	if err := EnsureStreams(ctx, js, StreamOptions{Replicas: 1, MaxAge: time.Hour}); err != nil {
		t.Fatalf("streams after restart: %v", err)
	}
	for name, want := range map[string]uint64{TelemetryStream: 1, ControlStream: 1, AlertsStream: 0} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != want {
			t.Errorf("%s holds %d messages after restart, want %d", name, info.State.Msgs, want)
		}
	}
}
