package relay

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus metrics.
type Metrics struct {
	Published     prometheus.Counter
	PublishErrors prometheus.Counter
	Backlog       prometheus.Gauge

	// oldestPending is the creation time (Unix nanoseconds) of the oldest
	// pending row at the last backlog refresh, 0 when there was none.
	// The age is computed at scrape time, so it keeps growing between
	// refreshes, and while the database cannot be asked, as a stuck
	// outbox does.
	oldestPending atomic.Int64
}

// NewMetrics creates the relay's metrics and registers them with reg
// (when not nil). One Metrics serves one Relay.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_outbox_published_total",
			Help: "Outbox events published to JetStream and stamped.",
		}),
		PublishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_outbox_publish_errors_total",
			Help: "Outbox events whose publish failed (they stay pending and are retried).",
		}),
		Backlog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fluxhook_outbox_backlog",
			Help: "Outbox events not yet published, measured every few seconds.",
		}),
	}
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "fluxhook_outbox_oldest_pending_seconds",
		Help: "Age of the oldest outbox event not yet published; 0 when none is.",
	}, m.oldestPendingSeconds)
	if reg != nil {
		reg.MustRegister(m.Published, m.PublishErrors, m.Backlog, oldest)
	}
	return m
}

func (m *Metrics) setBacklog(n int, oldest time.Duration) {
	m.Backlog.Set(float64(n))
	if n == 0 {
		m.oldestPending.Store(0)
		return
	}
	m.oldestPending.Store(time.Now().Add(-oldest).UnixNano())
}

func (m *Metrics) oldestPendingSeconds() float64 {
	at := m.oldestPending.Load()
	if at == 0 {
		return 0
	}
	return max(time.Since(time.Unix(0, at)).Seconds(), 0)
}
