package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/medbiz/medbiz/registry"
)

// Metrics are the broker's Prometheus series.
type Metrics struct {
	Accepted     prometheus.Counter
	Rejected     *prometheus.CounterVec
	Measurements prometheus.Counter
	StreamErrors prometheus.Counter
	AlertsSent   prometheus.Counter
	// AuthFailures counts refused CONNECTs by reason; AuthThrottled those
	// refused unchecked while a username or address was backing off.
	AuthFailures  *prometheus.CounterVec
	AuthThrottled *prometheus.CounterVec
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
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medbiz_auth_failures_total",
			Help: "MQTT CONNECTs refused, by reason (credentials, certificate, will, client_id, busy, unavailable).",
		}, []string{"reason"}),
		AuthThrottled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "medbiz_auth_throttled_total",
			Help: "MQTT CONNECTs refused without a check because their username or address was backing off after failed logins.",
		}, []string{"scope"}),
	}
	for _, r := range []string{refusedCredentials, refusedCertificate, refusedWill, refusedClientID, refusedBusy, refusedUnavailable} {
		m.AuthFailures.WithLabelValues(r)
	}
	for _, s := range []string{registry.ScopeUsername, registry.ScopeAddress} {
		m.AuthThrottled.WithLabelValues(s)
	}
	reg.MustRegister(m.Accepted, m.Rejected, m.Measurements, m.StreamErrors, m.AlertsSent, m.AuthFailures, m.AuthThrottled)
	return m
}
