package attempts

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the recorder's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	written      prometheus.Counter
	batchSize    prometheus.Histogram
	flushSeconds prometheus.Histogram
	errors       prometheus.Counter
	queued       prometheus.Gauge
}

// NewMetrics creates the recorder's metrics and registers them with reg
// when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_attempt_records_written_total",
			Help: "Delivery attempt records committed to the database.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxhook_attempt_record_batch_size",
			Help:    "Attempt records per committed insert.",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000},
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxhook_attempt_record_flush_seconds",
			Help:    "Duration of each insert of a batch of attempt records, failed or not.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_attempt_record_errors_total",
			Help: "Failed inserts of attempt records; a batch that failed for a transient reason is retried, so a rising count with a steady written rate means the database recovered.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fluxhook_attempt_records_queued",
			Help: "Attempt records waiting to be committed, including the batch being written. Workers wait (and do not ack) while their record is queued.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.written, m.batchSize, m.flushSeconds, m.errors, m.queued)
	}
	return m
}

func (m *Metrics) queuedAdd(n int) {
	if m != nil {
		m.queued.Add(float64(n))
	}
}

func (m *Metrics) flushed(seconds float64, err error) {
	if m == nil {
		return
	}
	m.flushSeconds.Observe(seconds)
	if err != nil {
		m.errors.Inc()
	}
}

func (m *Metrics) committed(n int) {
	if m == nil {
		return
	}
	m.written.Add(float64(n))
	m.batchSize.Observe(float64(n))
}
