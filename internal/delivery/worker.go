// Package delivery delivers jobs to webhooks: it signs each one, POSTs it
// through the SSRF-guarded client, classifies the outcome, records the
// attempt (in batches), and schedules the retry or gives up into the dead
// letters. One slow or dead endpoint cannot take the workers from the
// healthy ones: each webhook has a cap on attempts in flight, and an
// endpoint that timed out gets one attempt at a time until it answers.
package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Recorder durably records attempts; Record returns once the attempt is
// committed.
type Recorder interface {
	Record(ctx context.Context, a *fluxhook.Attempt) error
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
	Schedule     Schedule
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
	// written down as the webhook's failing_since (default 1 minute): an
	// endpoint that fails now and then costs no database writes. The
	// time written is the failure that passed the grace, so the clock
	// for DisableAfter starts up to the grace (plus a retry interval)
	// late, and a run this replica saw end on another one never writes
	// an old start.
	FailingGrace time.Duration
	// MaxFinishing caps the attempts whose record, next step and ack are
	// under way after their handler returned (default 1024). At the cap
	// a handler finishes its attempt itself: while the database is down
	// a worker goes on delivering this many attempts, not its whole
	// MaxAckPending, which bounds its memory and what a crash would send
	// again.
	MaxFinishing int
}

// sender signs and POSTs one delivery and classifies the answer; the
// worker and the synchronous webhook test share it.
type sender struct {
	client    *http.Client
	signer    signing.Signer
	userAgent string
	now       func() time.Time
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

	mu        sync.Mutex
	inflight  map[string]int
	slow      map[string]time.Time // webhook → until when it gets one attempt at a time
	lastDone  map[string]time.Time // webhook → when its last attempt ended (or its first began)
	firstFail map[string]time.Time // webhook → first failure of a run not yet written down

	// finishing counts attempts whose record, next step and ack are
	// still under way after their handler returned; finishSlots bounds
	// them.
	finishing   sync.WaitGroup
	finishSlots chan struct{}

	keeper keeper
}

// New returns a Worker.
func New(hooks Webhooks, client *http.Client, limiter ratelimit.Limiter, rec Recorder, sched Scheduler, logger *slog.Logger, m *Metrics, o Options) *Worker {
	if o.PerWebhookInFlight <= 0 {
		o.PerWebhookInFlight = DefaultPerWebhookInFlight
	}
	if len(o.Schedule.Delays) == 0 {
		o.Schedule.Delays = DefaultSchedule
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
	return &Worker{sender: sender{client: client, userAgent: o.UserAgent, now: time.Now}, hooks: hooks, limiter: limiter, recorder: rec, sched: sched,
		logger: logger, metrics: m, opts: o, inflight: map[string]int{}, slow: map[string]time.Time{}, lastDone: map[string]time.Time{},
		firstFail: map[string]time.Time{}, finishSlots: make(chan struct{}, o.MaxFinishing), keeper: keeper{every: o.AckWait / 3}}
}

// Wait returns once every attempt whose handler has returned is recorded
// and acked (or handed back). Call it after the consumer has stopped and
// before the recorder stops.
func (w *Worker) Wait() { w.finishing.Wait() }

// acquire takes an in-flight slot for a webhook, or reports that the
// webhook is at its cap, and whether it is in slow mode.
func (w *Worker) acquire(id string) (ok, slow bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	limit := w.opts.PerWebhookInFlight
	if until, found := w.slow[id]; found {
		if w.now().Before(until) {
			limit, slow = 1, true
		} else {
			delete(w.slow, id)
		}
	}
	if w.inflight[id] >= limit {
		return false, slow
	}
	if w.inflight[id] == 0 {
		w.lastDone[id] = w.now()
	}
	w.inflight[id]++
	return true, slow
}

// stalled reports whether a webhook is busy and none of its attempts has
// ended for a while: waiting for one of its slots would only hold a
// worker.
func (w *Worker) stalled(id string) bool {
	return w.stalledFor(id) > 100*time.Millisecond
}

// stalledFor is how long a busy webhook has gone without an attempt
// ending (zero when it has nothing in flight).
func (w *Worker) stalledFor(id string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[id] == 0 {
		return 0
	}
	return w.now().Sub(w.lastDone[id])
}

func (w *Worker) release(id string, timedOut bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inflight[id]--; w.inflight[id] <= 0 {
		delete(w.inflight, id)
		delete(w.lastDone, id)
	} else {
		w.lastDone[id] = w.now()
	}
	if timedOut {
		w.slow[id] = w.now().Add(time.Minute)
	} else {
		delete(w.slow, id)
	}
}

// Handle delivers one job message. It acks the message only after the
// attempt is recorded and, on failure, after the next attempt or the
// dead letter is stored. Those steps run after Handle returns (up to
// MaxFinishing attempts at a time): the handler is free for the next job
// as soon as the request is done, so group commits and a database
// restart hold messages instead of handlers, and deliveries go on while
// records wait.
func (w *Worker) Handle(ctx context.Context, msg jetstream.Msg) {
	// A slow endpoint or a database restart can outlast the ack wait; a
	// worker that is alive says so, and only a dead one's jobs go to
	// another worker.
	stop := w.keeper.keep(msg)
	handedOff := false
	defer func() {
		if !handedOff {
			stop()
		}
	}()
	later := func(f func()) {
		select {
		case w.finishSlots <- struct{}{}:
		default:
			f() // at the cap: finish here, holding the handler
			return
		}
		handedOff = true
		w.finishing.Go(func() {
			defer func() { <-w.finishSlots }()
			defer stop()
			f()
		})
	}
	job, err := wire.DecodeJob(msg.Data())
	if err != nil {
		w.logger.Error("undecodable delivery job dropped", "subject", msg.Subject(), "err", err)
		w.metrics.outcome("invalid")
		_ = msg.Term()
		return
	}
	hook, secrets, err := w.hooks.Get(ctx, job.WebhookID)
	if fluxhook.IsNotFound(err) {
		// Deleted since the event was dispatched: nobody to deliver to.
		w.metrics.outcome("dropped")
		_ = msg.Ack()
		return
	}
	if err != nil {
		w.logger.Warn("load webhook", "webhook_id", job.WebhookID, "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return
	}
	if !hook.IsActive {
		reason := "webhook is disabled"
		if hook.DisabledReason != nil {
			reason += ": " + *hook.DisabledReason
		}
		later(func() {
			w.finish(ctx, msg, job, w.attempt(job, nil, reason, 0, fluxhook.DeliveryFailed), func(ctx context.Context) error {
				return w.sched.PublishDead(ctx, job, reason)
			}, "disabled")
		})
		return
	}
	if hook.RateLimitPerSecond != nil {
		d, _ := w.limiter.Allow(ctx, "webhook:"+hook.ID, ratelimit.PerSecond(*hook.RateLimitPerSecond))
		if !d.Allowed {
			// Deferred, not failed: no attempt is used up.
			w.metrics.outcome("rate_limited")
			w.putBack(ctx, msg, job, max(d.RetryAfter, 50*time.Millisecond))
			return
		}
	}
	ok, slow := w.acquireWait(ctx, hook.ID)
	if !ok && !slow {
		w.metrics.outcome("deferred")
		w.putBack(ctx, msg, job, deferral(w.stalledFor(hook.ID), w.client.Timeout))
		return
	}
	var (
		code       int
		body       *string
		reason     string
		outcome    outbound.Outcome
		retryAfter time.Duration
		elapsed    time.Duration
	)
	if ok {
		code, body, reason, outcome, retryAfter, elapsed = w.post(ctx, hook, secrets, job)
		w.release(hook.ID, reason == "timeout")
		w.metrics.duration.Observe(elapsed.Seconds())
	} else {
		// The endpoint has been timing out and its one probe is in flight
		// (an open circuit): this attempt fails without a request and waits
		// on the retry schedule, at least a minute. Putting the job back
		// instead would cycle it through the stream, and a dead endpoint's
		// stream of jobs would eat the budget healthy endpoints need.
		reason, outcome = "timeout", outbound.Retry
		w.metrics.circuitOpen.Inc()
	}
	later(func() { w.conclude(ctx, msg, job, hook, code, body, reason, outcome, retryAfter, elapsed, ok) })
}

// conclude records an attempt's outcome and stores what comes next.
func (w *Worker) conclude(ctx context.Context, msg jetstream.Msg, job wire.Job, hook *fluxhook.Webhook, status int, body *string, reason string,
	outcome outbound.Outcome, retryAfter, elapsed time.Duration, sent bool) {
	if !sent {
		reason = "not sent: the endpoint timed out on recent deliveries, so it gets one request at a time until it answers"
	}
	now := w.now()
	if job.FirstAttemptAt.IsZero() {
		job.FirstAttemptAt = now
	}
	var code *int
	if status > 0 {
		code = &status
	}
	switch outcome {
	case outbound.Success:
		a := w.attempt(job, code, "", elapsed, fluxhook.DeliveryDelivered)
		a.ResponseBody = body
		a.DeliveredAt = &now
		if w.finish(ctx, msg, job, a, nil, "success") {
			w.metrics.toDelivery.Observe(now.Sub(eventTime(job)).Seconds())
			w.succeeded(ctx, hook)
		}
		return
	case outbound.Retry:
		if delay, ok := w.opts.Schedule.Next(job.Attempt, retryAfter, !sent || slowOutcome(status, reason)); ok {
			at := now.Add(delay)
			a := w.attempt(job, code, reason, elapsed, fluxhook.DeliveryRetrying)
			a.ResponseBody, a.NextAttemptAt = body, &at
			next := job
			next.Attempt++
			if w.finish(ctx, msg, job, a, func(ctx context.Context) error { return w.sched.ScheduleRetry(ctx, next, at) }, "retry") {
				w.metrics.retries.Inc()
				w.failing(ctx, hook, now)
			}
			return
		}
		reason = fmt.Sprintf("gave up after %d attempts: %s", job.Attempt, reason)
	case outbound.Gone:
		reason = "the endpoint answered 410 Gone; the webhook was disabled"
	}
	a := w.attempt(job, code, reason, elapsed, fluxhook.DeliveryFailed)
	a.ResponseBody = body
	label := "failed"
	if outcome == outbound.Gone {
		label = "gone"
	}
	if w.finish(ctx, msg, job, a, func(ctx context.Context) error { return w.sched.PublishDead(ctx, job, reason) }, label) {
		w.metrics.deadLetters.Inc()
		if outcome == outbound.Gone {
			w.disable(ctx, hook.ID, "the endpoint answered 410 Gone", "gone")
			return
		}
		w.failing(ctx, hook, now)
	}
}

// maxFirstFail bounds the runs of failures kept in memory; past it the
// bookkeeping starts over (the runs are noted again on their next failure).
const maxFirstFail = 100_000

// failing notes a failure in the webhook's health: a run of failures
// that has lasted FailingGrace is written down as the webhook's
// failing_since; failing longer than DisableAfter turns the webhook off.
func (w *Worker) failing(ctx context.Context, hook *fluxhook.Webhook, now time.Time) {
	since := hook.FailingSince
	if since == nil {
		w.mu.Lock()
		first, ok := w.firstFail[hook.ID]
		if !ok {
			if len(w.firstFail) >= maxFirstFail {
				w.firstFail = map[string]time.Time{}
			}
			first = now
			w.firstFail[hook.ID] = first
		}
		w.mu.Unlock()
		if now.Sub(first) < w.opts.FailingGrace {
			return
		}
		// Now, not first: this replica may have missed the successes
		// that ended the run it started noting.
		if err := w.hooks.MarkFailing(ctx, hook.ID, &now); err != nil {
			w.logger.Warn("note webhook failing", "webhook_id", hook.ID, "err", err)
			return // noted again on the next failure
		}
		since = &now
	}
	w.mu.Lock()
	delete(w.firstFail, hook.ID)
	w.mu.Unlock()
	if w.opts.DisableAfter > 0 && now.Sub(*since) > w.opts.DisableAfter {
		w.disable(ctx, hook.ID, "failing without a single success since "+since.UTC().Format(time.RFC3339), "failing")
	}
}

// succeeded ends the webhook's run of failures, if it had one.
func (w *Worker) succeeded(ctx context.Context, hook *fluxhook.Webhook) {
	w.mu.Lock()
	delete(w.firstFail, hook.ID)
	w.mu.Unlock()
	if hook.FailingSince != nil {
		if err := w.hooks.MarkFailing(ctx, hook.ID, nil); err != nil {
			w.logger.Warn("note webhook healthy", "webhook_id", hook.ID, "err", err)
		}
	}
}

func (w *Worker) disable(ctx context.Context, id, reason, label string) {
	if err := w.hooks.Disable(ctx, id, reason); err != nil {
		w.logger.Warn("disable webhook", "webhook_id", id, "err", err)
		return
	}
	w.metrics.disabled.WithLabelValues(label).Inc()
	w.logger.Info("webhook disabled", "webhook_id", id, "reason", reason)
}

func eventTime(job wire.Job) time.Time {
	if job.EventAt.IsZero() {
		return job.FirstAttemptAt
	}
	return job.EventAt
}

func (w *Worker) attempt(job wire.Job, code *int, reason string, elapsed time.Duration, status string) *fluxhook.Attempt {
	a := &fluxhook.Attempt{DeliveryID: job.DeliveryID, WebhookID: job.WebhookID, Event: job.Event, EventID: job.EventID,
		Payload: job.Payload, Status: status, Attempt: job.Attempt, StatusCode: code, CreatedAt: w.now()}
	if reason != "" {
		a.Error = &reason
	}
	if elapsed > 0 {
		ms := int(elapsed / time.Millisecond)
		a.DurationMS = &ms
	}
	return a
}

// finish records the attempt, stores what comes next (retry or dead
// letter), and only then acks. While it waits (a database restart can
// hold the record for a while) it keeps the message from being
// redelivered. It reports whether the message was acked.
func (w *Worker) finish(ctx context.Context, msg jetstream.Msg, job wire.Job, a *fluxhook.Attempt, next func(context.Context) error, label string) bool {
	if err := w.recorder.Record(ctx, a); err != nil {
		w.logger.Warn("record attempt", "delivery_id", job.DeliveryID, "err", err)
		_ = msg.NakWithDelay(5 * time.Second)
		return false
	}
	if next != nil {
		nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := next(nctx)
		cancel()
		if err != nil {
			// The attempt is recorded; this job comes back and is tried
			// again, which at-least-once allows.
			w.logger.Warn("store next step of delivery", "delivery_id", job.DeliveryID, "err", err)
			_ = msg.NakWithDelay(5 * time.Second)
			return false
		}
	}
	w.metrics.outcome(label)
	if err := msg.Ack(); err != nil {
		w.logger.Warn("ack delivery job", "delivery_id", job.DeliveryID, "err", err)
	}
	return true
}

// acquireWait waits a moment for a slot of a busy webhook: a burst of
// jobs for one endpoint (a pull hands out many at once) queues here for
// milliseconds instead of being put back for longer. An endpoint in slow
// mode, or one whose attempts have stopped ending, gets no wait.
func (w *Worker) acquireWait(ctx context.Context, id string) (ok, slow bool) {
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		ok, slow = w.acquire(id)
		if ok || slow || time.Now().After(deadline) || ctx.Err() != nil || w.stalled(id) {
			return ok, slow
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// putBack defers a job without using up an attempt. A short wait is a
// delayed nak; a longer one (or a job put back several times already)
// is a new scheduled message and the original is acked, because a nak'd
// message keeps its ack-pending slot while it waits, and a backlog for a
// slow endpoint must not fill the consumer's slots and starve the
// healthy endpoints.
func (w *Worker) putBack(ctx context.Context, msg jetstream.Msg, job wire.Job, d time.Duration) {
	n := uint64(1)
	if meta, err := msg.Metadata(); err == nil {
		n = meta.NumDelivered
	}
	if d < time.Second && n <= 3 {
		_ = msg.NakWithDelay(d)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.sched.Defer(dctx, job, w.now().Add(max(d, time.Second))); err != nil {
		_ = msg.NakWithDelay(d)
		return
	}
	_ = msg.Ack()
}

// deferral is how long a job waits when its webhook is busy (at its cap
// of attempts in flight): a moment, with jitter — or, once the webhook
// has gone a second without an attempt ending (an endpoint that stopped
// answering, before its requests time out and open the circuit), until
// just after its oldest attempt times out (timeout is the request
// timeout), and at least as long as it has been stalled, up to
// maxDeferral, with jitter that only adds. Until that timeout the
// webhook's slots stay full, and a job back sooner would only be put
// back again: cycling such jobs through the stream would spend on them
// the stream writes the healthy endpoints need (with a 15 s timeout,
// waits of about as long as the stall made four trips; this makes two).
func deferral(stalledFor, timeout time.Duration) time.Duration {
	if stalledFor <= time.Second {
		return time.Duration(float64(250*time.Millisecond) * (0.8 + 0.4*rand.Float64()))
	}
	d := min(max(stalledFor, timeout-stalledFor+250*time.Millisecond), maxDeferral)
	return time.Duration(float64(d) * (1 + 0.4*rand.Float64()))
}

// maxDeferral caps how long a job for a stalled webhook is put back.
const maxDeferral = 10 * time.Second

// keeper tells JetStream, for every message registered with it, that
// the message is still being worked on, every third of the ack wait:
// one goroutine and one ticker for all of a worker's messages rather
// than one of each per message (which took 2–3% of a busy worker's CPU).
// The goroutine runs while messages are registered.
type keeper struct {
	every time.Duration // a third of the ack wait

	mu      sync.Mutex
	msgs    map[jetstream.Msg]struct{}
	running bool
}

// keep registers msg until the returned func is called.
func (k *keeper) keep(msg jetstream.Msg) (stop func()) {
	k.mu.Lock()
	if k.msgs == nil {
		k.msgs = map[jetstream.Msg]struct{}{}
	}
	k.msgs[msg] = struct{}{}
	if !k.running {
		k.running = true
		go k.run()
	}
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		delete(k.msgs, msg)
		k.mu.Unlock()
	}
}

// run refreshes every registered message at each tick, so none goes a
// third of the ack wait without (one registered just before a tick is
// refreshed early, which costs a message, not a redelivery).
func (k *keeper) run() {
	t := time.NewTicker(k.every)
	defer t.Stop()
	var due []jetstream.Msg
	for range t.C {
		k.mu.Lock()
		if len(k.msgs) == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		due = due[:0]
		for m := range k.msgs {
			due = append(due, m)
		}
		k.mu.Unlock()
		for _, m := range due {
			_ = m.InProgress()
		}
		clear(due) // no reference kept to messages until the next tick
	}
}

// TruncatedNote ends a stored response body that was longer than
// outbound.MaxResponseBody, so that whoever reads the delivery log knows
// the endpoint sent more than is shown.
var TruncatedNote = fmt.Sprintf("\n[truncated by Fluxhook: only the first %d bytes of the response are kept]", outbound.MaxResponseBody)

// post sends the job to the webhook and classifies the answer.
func (w *sender) post(ctx context.Context, hook *fluxhook.Webhook, secrets []string, job wire.Job) (status int, body *string, reason string, outcome outbound.Outcome, retryAfter time.Duration, elapsed time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(job.Payload))
	if err != nil {
		o, r := outbound.Classify(0, err)
		return 0, nil, r, o, 0, 0
	}
	for k, v := range hook.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.userAgent)
	w.signer.Sign(req.Header, secrets, job.DeliveryID, w.now(), job.Payload)
	start := time.Now()
	res, err := w.client.Do(req)
	if err != nil {
		elapsed = time.Since(start)
		o, r := outbound.Classify(0, err)
		return 0, nil, r, o, 0, elapsed
	}
	// A body that fails part way is kept as far as it came: the status
	// decides the outcome.
	b, truncated, _ := outbound.ReadBody(res.Body, outbound.MaxResponseBody)
	res.Body.Close()
	elapsed = time.Since(start)
	outcome, reason = outbound.Classify(res.StatusCode, nil)
	if res.StatusCode == 429 || res.StatusCode == 503 {
		retryAfter, _ = outbound.RetryAfter(res.Header, w.now())
	}
	s := string(b)
	if truncated {
		s += TruncatedNote
	}
	if outcome == outbound.Success {
		reason = ""
	}
	return res.StatusCode, &s, reason, outcome, retryAfter, elapsed
}
