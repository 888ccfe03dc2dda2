package dispatch

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// JobPublisher stores delivery jobs, returning once all are acknowledged.
type JobPublisher interface {
	PublishJobs(ctx context.Context, jobs []events.Job) error
}

// deliveryNamespace makes delivery ids deterministic: the same event and
// webhook always give the same delivery id, so an event dispatched twice
// (after a crash before its ack) carries the same webhook-id header and
// the same JetStream msg id.
var deliveryNamespace = uuid.MustParse("6f1d3a52-93c4-4bb4-a1f5-7a5c0d1e8b27")

// DeliveryID returns the delivery id of an event (accepted at at) for a
// webhook: a UUIDv8 whose first 48 bits are at in Unix milliseconds, as
// in a UUIDv7, and whose other bits come from a SHA-1 of the event and
// webhook ids. Deterministic like a UUIDv5, and time-ordered like the
// other ids, so that the delivery log's index on it grows at its end
// instead of taking a write on a random page for every attempt.
func DeliveryID(eventID string, at time.Time, webhookID string) string {
	id := uuid.NewSHA1(deliveryNamespace, []byte(eventID+"."+webhookID))
	ms := uint64(max(at.UnixMilli(), 0))
	for i := range 6 {
		id[i] = byte(ms >> (8 * (5 - i)))
	}
	id[6] = id[6]&0x0f | 0x80 // version 8
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id.String()
}

// publishChunk bounds one PublishJobs call, so a fan-out to 10,000
// webhooks keeps a bounded number of publishes in flight.
const publishChunk = 1000

// Metrics are the dispatcher's metrics.
type Metrics struct {
	events  *prometheus.CounterVec
	fanout  prometheus.Histogram
	latency prometheus.Histogram
	cached  prometheus.GaugeFunc
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
	}
	for _, r := range []string{"dispatched", "no_subscribers", "error", "invalid"} {
		m.events.WithLabelValues(r)
	}
	reg.MustRegister(m.events, m.fanout, m.latency, m.cached)
	return m
}

// Dispatcher turns events into delivery jobs.
type Dispatcher struct {
	subs    *Subscriptions
	pub     JobPublisher
	logger  *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// New returns a Dispatcher.
func New(subs *Subscriptions, pub JobPublisher, logger *slog.Logger, m *Metrics) *Dispatcher {
	return &Dispatcher{subs: subs, pub: pub, logger: logger, metrics: m, now: time.Now}
}

// envelope is the body receivers get: the seeds' WebhookPayload, with
// the signature in headers.
type envelope struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// jsTime is how JavaScript's Date.prototype.toISOString writes a time:
// UTC with milliseconds, which is what receivers in JavaScript expect.
const jsTime = "2006-01-02T15:04:05.000Z"

// Payload returns the body sent for an event: exactly what JavaScript's
// JSON.stringify(JSON.parse(body)) gives, so receivers that verify the
// signature over JSON.stringify(req.body), as the seeds do, succeed.
func Payload(e *fluxhook.Event) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return jsjson.Marshal(envelope{ID: e.ID, Event: e.Event, Timestamp: e.Timestamp.UTC().Format(jsTime), Data: data})
}

// Jobs returns the delivery jobs for an event.
func (d *Dispatcher) Jobs(ctx context.Context, e *fluxhook.Event) ([]events.Job, error) {
	subs, err := d.subs.Match(ctx, e)
	if err != nil || len(subs) == 0 {
		return nil, err
	}
	body, err := Payload(e)
	if err != nil {
		return nil, err
	}
	jobs := make([]events.Job, len(subs))
	for i, s := range subs {
		jobs[i] = events.Job{DeliveryID: DeliveryID(e.ID, e.Timestamp, s.id), EventID: e.ID, Event: e.Event, WebhookID: s.id,
			Attempt: 1, Payload: body, UserID: e.UserID, EventAt: e.Timestamp, MsgID: events.JobMsgID(e.ID, s.id)}
	}
	return jobs, nil
}

// Handle dispatches one event message: it acks only after every job is
// stored, and naks (for redelivery) otherwise. Jobs carry deterministic
// msg ids, so a redelivered event does not store its jobs twice.
func (d *Dispatcher) Handle(ctx context.Context, msg jetstream.Msg) {
	e, err := events.DecodeEvent(msg.Data())
	if err != nil {
		d.logger.Error("undecodable event dropped", "subject", msg.Subject(), "err", err)
		d.metrics.events.WithLabelValues("invalid").Inc()
		_ = msg.Term()
		return
	}
	jobs, err := d.Jobs(ctx, &e)
	if err != nil {
		d.fail(msg, &e, err)
		return
	}
	for start := 0; start < len(jobs); start += publishChunk {
		end := min(start+publishChunk, len(jobs))
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := d.pub.PublishJobs(pctx, jobs[start:end])
		cancel()
		if err != nil {
			d.fail(msg, &e, err)
			return
		}
	}
	if err := msg.Ack(); err != nil {
		// The jobs are stored; a redelivery will store nothing new.
		d.logger.Warn("ack event", "event_id", e.ID, "err", err)
	}
	d.metrics.fanout.Observe(float64(len(jobs)))
	if len(jobs) == 0 {
		d.metrics.events.WithLabelValues("no_subscribers").Inc()
		return
	}
	d.metrics.events.WithLabelValues("dispatched").Inc()
	d.metrics.latency.Observe(d.now().Sub(e.Timestamp).Seconds())
}

func (d *Dispatcher) fail(msg jetstream.Msg, e *fluxhook.Event, err error) {
	d.metrics.events.WithLabelValues("error").Inc()
	d.logger.Warn("dispatch failed; the event will be redelivered", "event_id", e.ID, "event", e.Event, "err", err)
	_ = msg.NakWithDelay(2 * time.Second)
}
