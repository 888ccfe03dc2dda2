package delivery

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the worker's metrics. Labels stay bounded: outcomes and
// reasons, never webhook ids or URLs.
type Metrics struct {
	attempts    *prometheus.CounterVec
	duration    prometheus.Histogram
	toDelivery  prometheus.Histogram
	retries     prometheus.Counter
	deadLetters prometheus.Counter
	disabled    *prometheus.CounterVec
	circuitOpen prometheus.Counter
}

// Outcomes counted by fluxhook_delivery_attempts_total.
var outcomes = []string{"success", "retry", "failed", "gone", "disabled", "dropped", "duplicate", "rate_limited", "deferred", "parked", "invalid"}

// NewMetrics registers the worker's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxhook_delivery_attempts_total",
			Help: "Delivery jobs handled by the worker, by outcome: success, retry (failed, retry scheduled), failed (given up, dead-lettered), gone (410), disabled (webhook off), dropped (webhook deleted), duplicate (already delivered, in a message delivered again), rate_limited, deferred and parked (put back without using an attempt: a limit, a busy endpoint, an open circuit), invalid.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxhook_delivery_attempt_duration_seconds",
			Help:    "Time from sending a delivery to reading its answer.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30},
		}),
		toDelivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxhook_event_to_delivery_seconds",
			Help:    "Time from an event's timestamp to its successful delivery to a webhook (includes retries).",
			Buckets: prometheus.ExponentialBuckets(0.002, 3, 14),
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_delivery_retries_scheduled_total",
			Help: "Retries scheduled after a failed attempt.",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_delivery_dead_letters_total",
			Help: "Deliveries given up and sent to the dead letters.",
		}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxhook_webhooks_disabled_total",
			Help: "Webhooks the worker turned off, by reason: gone (410) or failing (no success for the configured period).",
		}, []string{"reason"}),
		circuitOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_delivery_circuit_open_total",
			Help: "Jobs parked without an attempt because their endpoint kept failing or timing out (its circuit is open); they come back when a probe may go through.",
		}),
	}
	for _, o := range outcomes {
		m.attempts.WithLabelValues(o)
	}
	m.disabled.WithLabelValues("gone")
	m.disabled.WithLabelValues("failing")
	reg.MustRegister(m.attempts, m.duration, m.toDelivery, m.retries, m.deadLetters, m.disabled, m.circuitOpen)
	return m
}

func (m *Metrics) outcome(o string) { m.attempts.WithLabelValues(o).Inc() }
