package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Durable consumer names. Every node uses the same ones, so the nodes
// share each consumer's messages; renaming one would start a new consumer
// from the beginning of its stream.
const (
	StoreDurable           = "store"
	AlertStoreDurable      = "store-alerts"
	AlertingDurable        = "rules"
	AlertingControlDurable = "rules-control"
	ECGDurable             = "ecg"
)

// ConsumerLimits are the tunables of a durable consumer, taken from the
// config (store.* for the store's consumers, rules.* for the alerting
// processor's).
type ConsumerLimits struct {
	// AckWait is how long JetStream waits for an acknowledgement before it
	// delivers the message again.
	AckWait time.Duration
	// MaxAckPending bounds the messages delivered and not yet acknowledged.
	MaxAckPending int
}

func (l ConsumerLimits) validate() error {
	if l.AckWait <= 0 {
		return errors.New("ack wait must be positive")
	}
	if l.MaxAckPending < 1 {
		return errors.New("max ack pending must be at least 1")
	}
	return nil
}

// Consumer is one durable consumer: its stream and its configuration.
// Every consumer medbiz creates is declared by a function below.
type Consumer struct {
	Stream string
	Config jetstream.ConsumerConfig
}

// StoreConsumer feeds the store: every telemetry batch, ECG ones included.
func StoreConsumer(l ConsumerLimits) Consumer {
	return durable(TelemetryStream, StoreDurable, "medbiz: telemetry into InfluxDB", l, TelemetryFilter, ECGFilter)
}

// AlertStoreConsumer feeds the store's "alerts" measurement.
func AlertStoreConsumer(l ConsumerLimits) Consumer {
	return durable(AlertsStream, AlertStoreDurable, "medbiz: alert state changes into InfluxDB", l, AlertsFilter)
}

// AlertingConsumer feeds the rule engine with device telemetry (the ECG
// processor's derived values arrive there too).
func AlertingConsumer(l ConsumerLimits) Consumer {
	return durable(TelemetryStream, AlertingDurable, "medbiz: telemetry into the rule engine", l, TelemetryFilter)
}

// AlertingControlConsumer feeds the rule engine with device status changes
// and caregivers' acknowledgements.
func AlertingControlConsumer(l ConsumerLimits) Consumer {
	return durable(ControlStream, AlertingControlDurable, "medbiz: status and acknowledgements into the rule engine", l,
		StatusFilter, AcksFilter)
}

// ECGConsumer feeds the ECG processor with the batches carrying frames.
func ECGConsumer(l ConsumerLimits) Consumer {
	return durable(TelemetryStream, ECGDurable, "medbiz: ECG frames into the QRS detector", l, ECGFilter)
}

func durable(stream, name, description string, l ConsumerLimits, filters ...string) Consumer {
	cc := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   description,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.AckWait,
		MaxAckPending: l.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	// The server keeps a single filter as FilterSubject; saying it the same
	// way keeps an update of an existing consumer a no-op.
	if len(filters) == 1 {
		cc.FilterSubject = filters[0]
	} else {
		cc.FilterSubjects = filters
	}
	return Consumer{Stream: stream, Config: cc}
}

// Messages creates the consumer (or updates it to this declaration) and
// returns an iterator over its messages.
func (c Consumer) Messages(ctx context.Context, js jetstream.JetStream, opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	if err := (ConsumerLimits{AckWait: c.Config.AckWait, MaxAckPending: c.Config.MaxAckPending}).validate(); err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.Config.Durable, c.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, c.Config)
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", c.Config.Durable, c.Stream, err)
	}
	it, err := cons.Messages(opts...)
	if err != nil {
		return nil, fmt.Errorf("consume %s on %s: %w", c.Config.Durable, c.Stream, err)
	}
	return it, nil
}
