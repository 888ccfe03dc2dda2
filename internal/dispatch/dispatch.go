package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// JobPublisher stores delivery jobs, returning once all are acknowledged.
type JobPublisher interface {
	PublishJobs(ctx context.Context, jobs []wire.Job) error
}

// publishChunk bounds one PublishJobs call, so a fan-out to 10,000
// webhooks keeps a bounded number of publishes in flight.
const publishChunk = 1000

// inChunks hands jobs to store publishChunk at a time, each call within
// 30 s, and stops at the first failure.
func inChunks(ctx context.Context, jobs []wire.Job, store func(context.Context, []wire.Job) error) error {
	for start := 0; start < len(jobs); start += publishChunk {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := store(cctx, jobs[start:min(start+publishChunk, len(jobs))])
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// Metrics are the dispatcher's metrics.
type Metrics struct {
	events  *prometheus.CounterVec
	fanout  prometheus.Histogram
	latency prometheus.Histogram
	cached  prometheus.GaugeFunc
	// filterErrors counts filters that failed to evaluate (no match).
	filterErrors prometheus.Counter
	// parked counts jobs parked at once for an open circuit.
	parked prometheus.Counter
}

// NewMetrics registers the dispatcher's metrics on reg.
func NewMetrics(reg prometheus.Registerer, subs *Subscriptions) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxhook_dispatch_events_total",
			Help: "Events the dispatcher handled, by result (dispatched, no_subscribers, error, invalid).",
		}, []string{"result"}),
		fanout: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxhook_dispatch_fanout",
			Help:    "Delivery jobs made from one event.",
			Buckets: []float64{0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000},
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fluxhook_dispatch_seconds",
			Help:    "Time from an event's timestamp to all its jobs being stored.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		cached: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "fluxhook_dispatch_active_webhooks",
			Help: "Active webhooks in the dispatcher's subscription cache.",
		}, func() float64 { return float64(subs.Size()) }),
		filterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_dispatch_filter_errors_total",
			Help: "Webhook filters that failed to evaluate for an event (a missing field, a type mismatch, the cost limit); each counts as no match.",
		}),
		parked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_dispatch_parked_total",
			Help: "Jobs stored parked, as they were made, because a worker reported their webhook's circuit open (its endpoint not answering); they come back when it lets a probe through.",
		}),
	}
	for _, r := range []string{"dispatched", "no_subscribers", "error", "invalid"} {
		m.events.WithLabelValues(r)
	}
	reg.MustRegister(m.events, m.fanout, m.latency, m.cached, m.filterErrors, m.parked)
	return m
}

// Dispatcher turns events into delivery jobs.
type Dispatcher struct {
	subs    *Subscriptions
	pub     JobPublisher
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
	// circuits and deferrer park the jobs of webhooks whose circuit a
	// worker reported open (ParkOpenCircuits); nil: none are.
	circuits *Circuits
	deferrer JobDeferrer
}

// New returns a Dispatcher.
func New(subs *Subscriptions, pub JobPublisher, logger *slog.Logger, m *Metrics) *Dispatcher {
	return &Dispatcher{subs: subs, pub: pub, logger: logger, metrics: m, now: time.Now}
}

// ParkOpenCircuits makes d store the jobs of webhooks whose circuit c
// holds open as deferrals, through p, rather than as jobs to try now.
func (d *Dispatcher) ParkOpenCircuits(c *Circuits, p JobDeferrer) {
	d.circuits, d.deferrer = c, p
}

// Jobs returns the delivery jobs for an event: one per webhook
// subscribed to it whose filter, if any, accepts it.
func (d *Dispatcher) Jobs(ctx context.Context, e *fluxhook.Event) ([]wire.Job, error) {
	subs, err := d.subs.Match(ctx, e)
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	subs = keep(subs, e, d.filterFailed)
	if len(subs) == 0 {
		return nil, nil
	}
	body, err := wire.Payload(e)
	if err != nil {
		return nil, err
	}
	jobs := make([]wire.Job, len(subs))
	for i, s := range subs {
		jobs[i] = wire.Job{DeliveryID: wire.DeliveryID(e.ID, e.Timestamp, s.id), EventID: e.ID, Event: e.Event, WebhookID: s.id,
			Attempt: 1, Payload: body, UserID: e.UserID, EventAt: e.Timestamp}
		if s.ordered {
			jobs[i].Order = &wire.Order{Key: e.OrderingKey}
		}
	}
	return jobs, nil
}

// Handle dispatches one message of EVENTS: an event, or a pack of them.
// It acks only after every job of every event is stored, and naks (for
// redelivery) otherwise. The jobs of events dispatched at the same time
// share messages (events.Publisher packs them). A redelivered event
// stores its jobs again; they carry the same delivery ids, so the
// receiver sees the same webhook-id twice, which at-least-once allows.
func (d *Dispatcher) Handle(ctx context.Context, msg jetstream.Msg) {
	evs, err := wire.DecodeEvents(msg.Data())
	if err != nil {
		d.logger.Error("undecodable events dropped", "subject", msg.Subject(), "err", err)
		d.metrics.events.WithLabelValues("invalid").Inc()
		_ = msg.Term()
		return
	}
	var jobs []wire.Job
	fanout := make([]int, len(evs))
	seq := streamSeq(msg)
	for i := range evs {
		ej, err := d.Jobs(ctx, &evs[i])
		if err != nil {
			d.fail(msg, evs, err)
			return
		}
		place(ej, seq, i)
		jobs, fanout[i] = append(jobs, ej...), len(ej)
	}
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
		// Some of these jobs may be stored already, from the delivery
		// that failed or whose dispatcher died: the worker looks them
		// up among the delivered before sending them again.
		for i := range jobs {
			jobs[i].Again = true
		}
	}
	var parked map[time.Time][]wire.Job
	if d.deferrer != nil {
		jobs, parked = d.circuits.split(jobs)
	}
	for at, pj := range parked {
		if err := inChunks(ctx, pj, func(ctx context.Context, c []wire.Job) error { return d.deferrer.DeferJobs(ctx, c, at) }); err != nil {
			d.fail(msg, evs, err)
			return
		}
		d.metrics.parked.Add(float64(len(pj)))
	}
	if err := inChunks(ctx, jobs, d.pub.PublishJobs); err != nil {
		d.fail(msg, evs, err)
		return
	}
	if err := msg.Ack(); err != nil {
		// The jobs are stored; a redelivery stores them again.
		d.logger.Warn("ack events", "event_id", evs[0].ID, "events", len(evs), "err", err)
	}
	now := d.now()
	for i, e := range evs {
		d.metrics.fanout.Observe(float64(fanout[i]))
		if fanout[i] == 0 {
			d.metrics.events.WithLabelValues("no_subscribers").Inc()
			continue
		}
		d.metrics.events.WithLabelValues("dispatched").Inc()
		d.metrics.latency.Observe(now.Sub(e.Timestamp).Seconds())
	}
}

// filterFailed counts a filter that could not be evaluated. It is not
// logged: a filter on a field most events lack would fill the log.
func (d *Dispatcher) filterFailed(*sub, error) {
	if d.metrics != nil {
		d.metrics.filterErrors.Inc()
	}
}

func (d *Dispatcher) fail(msg jetstream.Msg, evs []fluxhook.Event, err error) {
	d.metrics.events.WithLabelValues("error").Add(float64(len(evs)))
	d.logger.Warn("dispatch failed; the events will be redelivered", "event_id", evs[0].ID, "event", evs[0].Event, "events", len(evs), "err", err)
	_ = msg.NakWithDelay(2 * time.Second)
}
