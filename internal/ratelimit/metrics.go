package ratelimit

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Decision labels of fluxhook_ratelimit_decisions_total.
const (
	DecisionAllowed    = "allowed"     // the limiter let the request through
	DecisionLimited    = "limited"     // the limiter refused it
	DecisionFailOpen   = "fail_open"   // the shared limiter failed; FailOpen's fallback decided
	DecisionFailClosed = "fail_closed" // the shared limiter failed; FailClosed refused
	DecisionError      = "error"       // no decision: an invalid Limit, or the caller gave up
)

// Metrics holds the rate limiters' Prometheus metrics.
type Metrics struct {
	// Decisions counts decisions by limiter name and decision. Keys are
	// never labels: they are unbounded (client IPs among them).
	Decisions *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (when not
// nil); it panics if they are already registered there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxhook_ratelimit_decisions_total",
			Help: "Rate limit decisions, by limiter and decision (allowed, limited, fail_open, fail_closed, error).",
		}, []string{"limiter", "decision"}),
	}
	if reg != nil {
		reg.MustRegister(m.Decisions)
	}
	return m
}

// Instrument counts l's decisions under the limiter label name, which
// should be one of a few fixed names ("api", "login", "delivery"). With a
// nil m it returns l.
func Instrument(l Limiter, m *Metrics, name string) Limiter {
	if m == nil {
		return l
	}
	// Every series exists from the start, at zero, so a rate() or an
	// alert on fail_open sees the first outage rather than an absent
	// series; holding the counters also skips a label lookup per call.
	c := func(decision string) prometheus.Counter { return m.Decisions.WithLabelValues(name, decision) }
	return &instrumented{
		l:          l,
		allowed:    c(DecisionAllowed),
		limited:    c(DecisionLimited),
		failOpen:   c(DecisionFailOpen),
		failClosed: c(DecisionFailClosed),
		errored:    c(DecisionError),
	}
}

type instrumented struct {
	l                                               Limiter
	allowed, limited, failOpen, failClosed, errored prometheus.Counter
}

func (i *instrumented) Allow(ctx context.Context, key string, lim Limit) (Decision, error) {
	d, err := i.l.Allow(ctx, key, lim)
	switch {
	case err != nil && d.Degraded:
		i.failClosed.Inc()
	case err != nil:
		i.errored.Inc()
	case d.Degraded:
		i.failOpen.Inc()
	case d.Allowed:
		i.allowed.Inc()
	default:
		i.limited.Inc()
	}
	return d, err
}
