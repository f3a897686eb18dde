// Package bus owns medbiz's use of NATS: the embedded server, the
// connection, the JetStream streams and their subject names. Everything
// that crosses between the broker and the processors goes through here.
package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/medbiz/medbiz/internal/retry"
)

// Stream names.
const (
	TelemetryStream = "TELEMETRY"
	AlertsStream    = "ALERTS"
	// ControlStream carries device status changes and caregivers'
	// acknowledgements to the alerting processor.
	ControlStream = "CONTROL"
)

// StreamOptions apply to every stream medbiz creates.
type StreamOptions struct {
	Replicas int
	MaxAge   time.Duration
}

// duplicateWindow lets a publisher that retries after a lost ack
// (Nats-Msg-Id) land its message once.
const duplicateWindow = 2 * time.Minute

// EnsureStreams creates or updates the streams and the active-alerts
// bucket medbiz needs (nats.replicas and nats.max_age give the options).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	if o.Replicas < 1 || o.MaxAge <= 0 {
		return fmt.Errorf("streams: %d replicas, max age %v: need at least one replica and a positive age", o.Replicas, o.MaxAge)
	}
	streams := []jetstream.StreamConfig{
		{Name: TelemetryStream, Subjects: []string{TelemetryFilter, ECGFilter}, Description: "accepted device telemetry"},
		{Name: AlertsStream, Subjects: []string{AlertsFilter}, Description: "alert state changes"},
		{Name: ControlStream, Subjects: []string{StatusFilter, AcksFilter}, Description: "device status and acknowledgements"},
	}
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = o.Replicas
		sc.MaxAge = o.MaxAge
		sc.Retention = jetstream.LimitsPolicy
		sc.Discard = jetstream.DiscardOld
		sc.Duplicates = duplicateWindow
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	}
	_, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      ActiveAlertsBucket,
		Description: "alerts that are not resolved",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create key-value bucket %s: %w", ActiveAlertsBucket, err)
	}
	return nil
}

// reconnectWait is how long the NATS client waits between reconnects.
const reconnectWait = 500 * time.Millisecond

// Connect dials NATS (an external URL, or the embedded server when srv is
// non-nil, in process without TCP) and returns the connection and its
// JetStream context. It retries as retry.Startup says for as long as ctx
// allows, so medbiz can start before an external NATS is up.
func Connect(ctx context.Context, url string, embedded *Embedded, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name("medbiz"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("nats reconnected", "url", c.ConnectedUrl()) }),
	}
	if embedded != nil {
		opts = append(opts, nats.InProcessServer(embedded.srv))
		url = embedded.ClientURL()
	}
	var nc *nats.Conn
	err := retry.Startup().Do(ctx, func() (err error) {
		nc, err = nats.Connect(url, opts...)
		return err
	}, func(err error, wait time.Duration) {
		logger.Warn("nats not reachable yet", "url", url, "error", err, "retry_in", wait)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	// The broker keeps a device's QoS 1 messages in flight while their
	// acknowledgements come back; allow many at once.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}
