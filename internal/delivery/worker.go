// Package delivery delivers jobs to webhooks: it signs each one, POSTs it
// through the SSRF-guarded client, classifies the outcome, records the
// attempt (in batches), and schedules the retry or gives up into the dead
// letters. One slow or dead endpoint cannot take the workers from the
// healthy ones (gate.go).
package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/retry"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// Recorder durably records attempts; Record returns once the attempt is
// committed. Delivered tells which deliveries are recorded as delivered:
// the worker asks only about a message that came back (after a crash or
// a failure), so as not to send again what it already delivered.
type Recorder interface {
	Record(ctx context.Context, a *fluxhook.Attempt) error
	Delivered(ctx context.Context, deliveryIDs []string) (map[string]bool, error)
}

// Scheduler stores retries and dead letters in JetStream.
type Scheduler interface {
	ScheduleRetry(ctx context.Context, job wire.Job, at time.Time) error
	PublishDead(ctx context.Context, job wire.Job, reason string) error
	// Defer puts a job back for later without using up an attempt.
	Defer(ctx context.Context, job wire.Job, at time.Time) error
}

// Webhooks gives the worker the webhooks it delivers to and takes their
// health changes.
type Webhooks interface {
	// Get returns the webhook with its signing secrets (current first).
	Get(ctx context.Context, id string) (*fluxhook.Webhook, []string, error)
	// MarkFailing records that the webhook started failing at t (nil: it
	// succeeded again).
	MarkFailing(ctx context.Context, id string, t *time.Time) error
	// Disable turns the webhook off with a reason.
	Disable(ctx context.Context, id, reason string) error
}

// DefaultPerWebhookInFlight is the default cap on attempts in flight to
// one webhook. The HTTP client should keep as many idle connections per
// host, or every attempt past its idle pool opens (and TLS-handshakes) a
// new connection.
const DefaultPerWebhookInFlight = 16

// Options tune the worker.
type Options struct {
	// Concurrency is how many attempts are in flight at once (default
	// 64), whatever the messages they came in.
	Concurrency  int
	Schedule     retry.Schedule
	DisableAfter time.Duration // turn a webhook off after failing this long without a success
	// PerWebhookInFlight caps attempts in flight to one webhook, so a
	// slow endpoint holds at most this many workers (default 16); once it
	// has timed out it gets one at a time for a minute.
	PerWebhookInFlight int
	// AckWait is the consumer's ack wait: the worker tells JetStream it
	// is still working on a job three times within it.
	AckWait   time.Duration
	UserAgent string
	// FailingGrace is how long a run of failures lasts before it is
	// written down as the webhook's failing_since (default 1 minute). The
	// time written is the failure that passed the grace, so the clock
	// for DisableAfter starts up to the grace (plus a retry interval)
	// late, and a run this replica saw end on another one never writes
	// an old start.
	FailingGrace time.Duration
	// MaxFinishing caps the jobs whose outcome (record, next step) or
	// deferral is being stored after they gave back their attempt slot
	// (default 1024). At the cap a job keeps its slot until it can start
	// storing: while the database is down a worker goes on delivering
	// this many attempts, not its whole MaxAckPending, which bounds its
	// memory and what a crash would send again.
	MaxFinishing int
	// Now is the clock that decides retries, signatures, slow mode and
	// health (default time.Now).
	Now func() time.Time
	// Announce, when set, publishes the worker's operational events
	// (delivery.exhausted): events.Publisher.PackEvent.
	Announce func(ctx context.Context, e fluxhook.Event) error
	// CircuitChanged, when set, hears a webhook's circuit open (until:
	// when it lets a probe through; wait: the least a job arriving now
	// is parked for, so a job parked late in the wait does not come back
	// while the probe is in flight) and close (until zero); the process
	// tells the dispatchers (dispatch.Circuits), which then park the
	// webhook's new jobs as this worker would. It must not block.
	CircuitChanged func(webhookID string, until time.Time, wait time.Duration)
	// HoldDisabled puts a job of a disabled webhook back for later
	// instead of giving it up: the ordered lane's, whose keys wait for
	// their webhook to be turned back on.
	HoldDisabled bool
}

// Worker delivers jobs.
type Worker struct {
	sender
	hooks    Webhooks
	limiter  ratelimit.Limiter
	recorder Recorder
	sched    Scheduler
	logger   *slog.Logger
	metrics  *Metrics
	opts     Options
	gate     *gate
	health   *health
	keeper   keeper
	rotation rotation
	circuit  circuit

	slots       chan struct{}  // attempts in flight
	finishSlots chan struct{}  // outcomes and deferrals being stored
	waiting     chan struct{}  // jobs waiting a moment in the process
	packs       sync.WaitGroup // messages not yet settled
}

// New returns a Worker.
func New(hooks Webhooks, client *http.Client, limiter ratelimit.Limiter, rec Recorder, sched Scheduler, logger *slog.Logger, m *Metrics, o Options) *Worker {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.PerWebhookInFlight <= 0 {
		o.PerWebhookInFlight = DefaultPerWebhookInFlight
	}
	if len(o.Schedule.Delays) == 0 {
		o.Schedule.Delays = retry.DefaultDelays
	}
	if o.UserAgent == "" {
		o.UserAgent = "Fluxhook"
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.FailingGrace <= 0 {
		o.FailingGrace = time.Minute
	}
	if o.MaxFinishing <= 0 {
		o.MaxFinishing = 1024
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Worker{
		sender: newSender(client, o.UserAgent, o.Now),
		hooks:  hooks, limiter: limiter, recorder: rec, sched: sched, logger: logger, metrics: m, opts: o,
		gate:    newGate(o.PerWebhookInFlight, o.Now),
		circuit: circuit{now: o.Now, changed: circuitNews(o)},
		health: &health{hooks: hooks, grace: o.FailingGrace, disableAfter: o.DisableAfter, logger: logger, metrics: m,
			firstFail: map[string]time.Time{}},
		keeper:      keeper{every: o.AckWait / 3},
		slots:       make(chan struct{}, o.Concurrency),
		finishSlots: make(chan struct{}, o.MaxFinishing),
		waiting:     make(chan struct{}, o.MaxFinishing),
	}
}

// circuitNews is what the circuit tells o.CircuitChanged: the least
// wait of a job parked for the first time, as try parks it.
func circuitNews(o Options) func(string, time.Time, time.Duration) {
	if o.CircuitChanged == nil {
		return nil
	}
	return func(id string, until time.Time, wait time.Duration) {
		if !until.IsZero() {
			wait = max(wait, o.Schedule.Wait(1))
		}
		o.CircuitChanged(id, until, wait)
	}
}

// Wait returns once every message handed to Handle is settled. Call it
// after the consumer has stopped and before the recorder stops.
func (w *Worker) Wait() { w.packs.Wait() }

// try makes the attempt of job, or decides that none can be made now. It
// returns a verdict to settle at once, or finish: the steps that make the
// attempt's outcome durable and return the verdict. Parking the job
// counts in job.Parked.
func (w *Worker) try(ctx context.Context, jp *wire.Job) (verdict, func(context.Context) verdict) {
	job := *jp
	hook, secrets, err := w.hooks.Get(ctx, job.WebhookID)
	if fluxhook.IsNotFound(err) {
		// Deleted since the event was dispatched: nobody to deliver to.
		return verdict{action: ack, outcome: "dropped"}, nil
	}
	if err != nil {
		w.logger.Warn("load webhook", "webhook_id", job.WebhookID, "err", err)
		return verdict{action: nak, delay: 5 * time.Second}, nil
	}
	if !hook.IsActive && w.opts.HoldDisabled {
		return verdict{action: nak, delay: disabledHold, outcome: "deferred"}, nil
	}
	if !hook.IsActive {
		reason := "webhook is disabled"
		if hook.DisabledReason != nil {
			reason += ": " + *hook.DisabledReason
		}
		return verdict{}, func(ctx context.Context) verdict {
			return w.giveUp(ctx, hook, job, result{reason: reason}, "disabled")
		}
	}
	if ok, wait := w.circuit.allow(hook.ID); !ok {
		// The endpoint keeps failing: the job waits, parked, without an
		// attempt, until the circuit lets a probe through, and the n-th
		// time at least as long as the n-th retry would (see circuit).
		w.metrics.circuitOpen.Inc()
		jp.Parked++
		return verdict{action: nak, delay: max(wait, w.opts.Schedule.Wait(jp.Parked)), outcome: "parked"}, nil
	}
	if hook.RateLimitPerSecond != nil {
		d, _ := w.limiter.Allow(ctx, "webhook:"+hook.ID, ratelimit.PerSecond(*hook.RateLimitPerSecond))
		if !d.Allowed {
			// Deferred, not failed: no attempt is used up.
			return verdict{action: nak, delay: max(d.RetryAfter, 50*time.Millisecond), outcome: "rate_limited"}, nil
		}
	}
	ok, slow := w.gate.acquireWait(ctx, hook.ID)
	if !ok {
		// Busy, or timing out with its one request at a time in flight:
		// put back until a slot is likely free, without an attempt.
		outcome := "deferred"
		if slow {
			outcome = "parked"
			w.metrics.circuitOpen.Inc()
		}
		return verdict{action: nak, delay: deferral(w.gate.stalledFor(hook.ID), w.client.Timeout), outcome: outcome}, nil
	}
	signed, current := w.rotation.order(hook.ID, secrets)
	r := w.post(ctx, hook, signed, job)
	w.rotation.observe(hook.ID, len(secrets) > 1, current, r.status)
	w.circuit.observe(hook.ID, r.status > 0)
	w.gate.release(hook.ID, r.timedOut())
	w.metrics.duration.Observe(r.elapsed.Seconds())
	return verdict{}, func(ctx context.Context) verdict { return w.conclude(ctx, hook, job, r) }
}

// conclude decides what follows an attempt that came to r (done, a
// retry, or giving up), makes it durable, and returns the verdict.
func (w *Worker) conclude(ctx context.Context, hook *fluxhook.Webhook, job wire.Job, r result) verdict {
	now := w.now()
	if job.FirstAttemptAt.IsZero() {
		job.FirstAttemptAt = now
	}
	switch r.outcome {
	case outbound.Success:
		v := w.commit(ctx, job, newAttempt(job, r, fluxhook.DeliveryDelivered, now), nil, "success")
		if v.action == ack {
			w.metrics.toDelivery.Observe(now.Sub(eventTime(job)).Seconds())
			w.health.succeeded(ctx, hook)
		}
		return v
	case outbound.Retry:
		delay, ok := w.opts.Schedule.Next(job.Attempt, r.retryAfter, r.overloaded())
		if !ok {
			r.reason = fmt.Sprintf("gave up after %d attempts: %s", job.Attempt, r.reason)
			return w.giveUp(ctx, hook, job, r, "failed")
		}
		at := now.Add(delay)
		a := newAttempt(job, r, fluxhook.DeliveryRetrying, now)
		a.NextAttemptAt = &at
		next := job
		next.Attempt++
		v := w.commit(ctx, job, a, func(ctx context.Context) error { return w.sched.ScheduleRetry(ctx, next, at) }, "retry")
		if v.action == ack {
			w.metrics.retries.Inc()
			w.health.failed(ctx, hook, now)
		}
		return v
	case outbound.Gone:
		r.reason = "the endpoint answered 410 Gone; the webhook was disabled"
		return w.giveUp(ctx, hook, job, r, "gone")
	}
	return w.giveUp(ctx, hook, job, r, "failed")
}

// giveUp records the delivery as failed for good and stores it in the
// dead letters; outcome says why (failed, gone, disabled).
func (w *Worker) giveUp(ctx context.Context, hook *fluxhook.Webhook, job wire.Job, r result, outcome string) verdict {
	now := w.now()
	dead := func(ctx context.Context) error { return w.sched.PublishDead(ctx, job, r.reason) }
	v := w.commit(ctx, job, newAttempt(job, r, fluxhook.DeliveryFailed, now), dead, outcome)
	if v.action != ack {
		return v
	}
	switch outcome {
	case "gone":
		w.metrics.deadLetters.Inc()
		w.health.disable(ctx, hook.ID, "the endpoint answered 410 Gone", "gone")
	case "failed":
		w.metrics.deadLetters.Inc()
		w.health.failed(ctx, hook, now)
		w.exhausted(ctx, hook, job, r, now)
	}
	return v
}

// exhausted announces a delivery that used up its attempts with a
// delivery.exhausted event, for its webhook's owner and the dashboard.
// Not for the deliveries of operational events themselves: a dead
// endpoint subscribed to them would otherwise be sent one more event
// about each one it missed, for ever. The dead letter is stored
// already; should the announcement fail, it is logged, not retried.
func (w *Worker) exhausted(ctx context.Context, hook *fluxhook.Webhook, job wire.Job, r result, now time.Time) {
	if w.opts.Announce == nil || slices.Contains(fluxhook.Operational, job.Event) {
		return
	}
	data := map[string]any{
		"webhook_id": hook.ID, "url": hook.URL, "delivery_id": job.DeliveryID, "event_id": job.EventID, "event": job.Event,
		"attempts": job.Attempt, "last_error": r.reason,
	}
	if r.status > 0 {
		data["last_status"] = r.status
	}
	if !job.FirstAttemptAt.IsZero() {
		data["first_attempt_at"] = job.FirstAttemptAt.UTC()
	}
	b, err := json.Marshal(data)
	if err == nil {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = w.opts.Announce(actx, fluxhook.Event{ID: wire.NewID(), Event: fluxhook.EventDeliveryExhausted, Timestamp: now.UTC(), Data: b, UserID: hook.UserID})
		cancel()
	}
	if err != nil {
		w.logger.Warn("announce an exhausted delivery", "delivery_id", job.DeliveryID, "err", err)
	}
}

// commit records the attempt and stores what comes next (the retry or the
// dead letter, when next is not nil); only then is the verdict an ack.
// When either fails the job is handed back and tried again, its attempt
// already recorded, which at-least-once allows.
func (w *Worker) commit(ctx context.Context, job wire.Job, a *fluxhook.Attempt, next func(context.Context) error, outcome string) verdict {
	if err := w.recorder.Record(ctx, a); err != nil {
		w.logger.Warn("record attempt", "delivery_id", job.DeliveryID, "err", err)
		return verdict{action: nak, delay: 5 * time.Second}
	}
	if next != nil {
		nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := next(nctx)
		cancel()
		if err != nil {
			w.logger.Warn("store next step of delivery", "delivery_id", job.DeliveryID, "err", err)
			return verdict{action: nak, delay: 5 * time.Second}
		}
	}
	return verdict{action: ack, outcome: outcome}
}

func eventTime(job wire.Job) time.Time {
	if job.EventAt.IsZero() {
		return job.FirstAttemptAt
	}
	return job.EventAt
}
