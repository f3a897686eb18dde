// Package bus owns medbiz's use of NATS: the embedded server, the
// connection, the JetStream streams and their subject names. Everything
// that crosses between the broker and the processors goes through here.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names.
const (
	TelemetryStream = "TELEMETRY"
	AlertsStream    = "ALERTS"
	// ControlStream carries device status changes and caregivers'
	// acknowledgements to the alerting processor.
	ControlStream = "CONTROL"
)

// TelemetrySubject is where the ingest hook publishes a device's accepted batches.
func TelemetrySubject(farm, patient, device string) string {
	return "medbiz.telemetry." + farm + "." + patient + "." + device
}

// ECGSubject is where a device's batches that carry ECG frames go, so only
// the ECG processor reads raw waveforms; they are in TELEMETRY too, so the
// store keeps them.
func ECGSubject(farm, patient, device string) string {
	return "medbiz.ecg." + farm + "." + patient + "." + device
}

// AlertSubject is where alert state changes of one patient are published.
func AlertSubject(farm, patient string) string {
	return "medbiz.alerts." + farm + "." + patient
}

// StatusSubject carries a device's online/offline changes.
func StatusSubject(farm, patient, device string) string {
	return "medbiz.status." + farm + "." + patient + "." + device
}

// AckSubject carries caregivers' acknowledgements of one patient's alerts.
func AckSubject(farm, patient string) string {
	return "medbiz.acks." + farm + "." + patient
}

// StreamOptions apply to every stream medbiz creates.
type StreamOptions struct {
	Replicas int
	MaxAge   time.Duration
}

// EnsureStreams creates or updates the streams and the active-alerts
// bucket medbiz needs.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 7 * 24 * time.Hour
	}
	streams := []jetstream.StreamConfig{
		{Name: TelemetryStream, Subjects: []string{"medbiz.telemetry.>", "medbiz.ecg.>"}, Description: "accepted device telemetry"},
		{Name: AlertsStream, Subjects: []string{"medbiz.alerts.>"}, Description: "alert state changes"},
		{Name: ControlStream, Subjects: []string{"medbiz.status.>", "medbiz.acks.>"}, Description: "device status and acknowledgements"},
	}
	for _, sc := range streams {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = o.Replicas
		sc.MaxAge = o.MaxAge
		sc.Retention = jetstream.LimitsPolicy
		sc.Discard = jetstream.DiscardOld
		// A duplicate window lets a publisher that retries after a lost ack
		// (Nats-Msg-Id) land its message once.
		sc.Duplicates = 2 * time.Minute
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

// Connect dials NATS (an external URL, or the embedded server when srv is
// non-nil, in process without TCP) and returns the connection and its
// JetStream context. It retries for as long as ctx allows, so medbiz can
// start before an external NATS is up.
func Connect(ctx context.Context, url string, embedded *Embedded, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name("medbiz"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
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
	var lastErr error
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			// The broker keeps a device's QoS 1 messages in flight while
			// their acknowledgements come back; allow many at once.
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16))
			if err != nil {
				nc.Close()
				return nil, nil, fmt.Errorf("jetstream: %w", err)
			}
			return nc, js, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("connect nats %s: %w", url, errors.Join(lastErr, ctx.Err()))
		case <-time.After(500 * time.Millisecond):
			logger.Warn("nats not reachable yet", "url", url, "error", err)
		}
	}
}
