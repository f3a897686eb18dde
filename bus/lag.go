package bus

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// LagCollector exports, per stream consumer, the messages not yet
// delivered and those delivered but not yet acknowledged: how far each
// processor is behind. It asks JetStream at every scrape.
type LagCollector struct {
	js         jetstream.JetStream
	pending    *prometheus.Desc
	ackPending *prometheus.Desc
}

// NewLagCollector watches every consumer of medbiz's streams.
func NewLagCollector(js jetstream.JetStream) *LagCollector {
	labels := []string{"stream", "consumer"}
	return &LagCollector{
		js: js,
		pending: prometheus.NewDesc("medbiz_consumer_pending_messages",
			"Messages of the stream the consumer has not been delivered yet.", labels, nil),
		ackPending: prometheus.NewDesc("medbiz_consumer_ack_pending_messages",
			"Messages delivered to the consumer and not yet acknowledged.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *LagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.ackPending
}

// Collect implements prometheus.Collector.
func (c *LagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, stream := range []string{TelemetryStream, AlertsStream, ControlStream} {
		s, err := c.js.Stream(ctx, stream)
		if err != nil {
			continue
		}
		infos := s.ListConsumers(ctx)
		for info := range infos.Info() {
			if info.Config.Durable == "" {
				continue // ordered consumers of alert delivery
			}
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), stream, info.Name)
			ch <- prometheus.MustNewConstMetric(c.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), stream, info.Name)
		}
	}
}
