package feeds

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the poller's health to Prometheus: per source and
// region, when the last poll succeeded, how many failed since, and the
// totals. An alert on medbiz_feed_consecutive_failures or on the age of
// medbiz_feed_last_success_timestamp_seconds tells an operator that the
// context rules have gone blind (they stay silent, never alarm).
type Collector struct {
	p                                 *Poller
	lastSuccess, consecutive, up      *prometheus.Desc
	polls, failures, readings, reject *prometheus.Desc
}

// NewCollector watches p.
func NewCollector(p *Poller) *Collector {
	l := []string{"source", "region"}
	return &Collector{p: p,
		lastSuccess: prometheus.NewDesc("medbiz_feed_last_success_timestamp_seconds",
			"Unix time of the last successful poll (0: none yet).", l, nil),
		consecutive: prometheus.NewDesc("medbiz_feed_consecutive_failures",
			"Failed polls since the last success.", l, nil),
		up: prometheus.NewDesc("medbiz_feed_up",
			"1 when the last poll succeeded, 0 when it failed or none ran yet.", l, nil),
		polls: prometheus.NewDesc("medbiz_feed_polls_total",
			"Polls of the public service.", l, nil),
		failures: prometheus.NewDesc("medbiz_feed_poll_failures_total",
			"Polls that failed (network, HTTP, service error codes, rate limits, publishing).", l, nil),
		readings: prometheus.NewDesc("medbiz_feed_readings_total",
			"New readings published.", l, nil),
		reject: prometheus.NewDesc("medbiz_feed_readings_rejected_total",
			"Readings dropped as impossible values.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lastSuccess, c.consecutive, c.up, c.polls, c.failures, c.readings, c.reject} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.p.Health() {
		last := 0.0
		if !h.LastSuccess.IsZero() {
			last = float64(h.LastSuccess.UnixNano()) / 1e9
		}
		up := 0.0
		if h.Polls > 0 && h.ConsecutiveFailures == 0 {
			up = 1
		}
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, h.Source, h.Region)
		}
		n := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), h.Source, h.Region)
		}
		g(c.lastSuccess, last)
		g(c.consecutive, float64(h.ConsecutiveFailures))
		g(c.up, up)
		n(c.polls, h.Polls)
		n(c.failures, h.Failures)
		n(c.readings, h.Readings)
		n(c.reject, h.Rejected)
	}
}
