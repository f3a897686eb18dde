package broker

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the broker's Prometheus series.
type Metrics struct {
	Accepted     prometheus.Counter
	Rejected     *prometheus.CounterVec
	Measurements prometheus.Counter
	StreamErrors prometheus.Counter
	AlertsSent   prometheus.Counter
}

// NewMetrics creates and registers the broker's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_ingest_accepted_total",
			Help: "Telemetry messages accepted and held by the stream.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medbiz_ingest_rejected_total",
			Help: "Telemetry messages rejected whole, by reason.",
		}, []string{"reason"}),
		Measurements: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_ingest_measurements_total",
			Help: "Measurements in accepted telemetry messages.",
		}),
		StreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_ingest_stream_errors_total",
			Help: "Telemetry messages the stream did not acknowledge in time (the device was not acknowledged).",
		}),
		AlertsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "medbiz_alerts_delivered_total",
			Help: "Alert messages published to MQTT caregivers' topics.",
		}),
	}
	reg.MustRegister(m.Accepted, m.Rejected, m.Measurements, m.StreamErrors, m.AlertsSent)
	return m
}
