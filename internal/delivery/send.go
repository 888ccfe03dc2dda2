package delivery

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// sender signs and POSTs one delivery and classifies the answer; the
// worker and the synchronous webhook test share it.
type sender struct {
	client    *http.Client // without a Timeout: see newSender
	timeout   time.Duration
	userAgent string
	now       func() time.Time
}

// newSender sends with c, its Timeout applied as each request's
// context deadline instead: with a RoundTripper of its own (outbound's),
// net/http enforces Client.Timeout with a timer, a channel and a
// goroutine per request, and looks the RoundTripper's type name up by
// reflection, 3% of the process's CPU in the one-to-one benchmark.
func newSender(c *http.Client, userAgent string, now func() time.Time) sender {
	do := *c
	do.Timeout = 0
	return sender{client: &do, timeout: c.Timeout, userAgent: userAgent, now: now}
}

// result is what one attempt came to.
type result struct {
	status     int     // the response's status; 0 when none arrived
	body       *string // the response body as stored; nil when none arrived
	reason     string  // why it failed, for the delivery log; "" on success
	outcome    outbound.Outcome
	retryAfter time.Duration // the receiver's Retry-After on a 429 or 503
	elapsed    time.Duration
}

// timedOut reports whether the endpoint did not answer in time.
func (r result) timedOut() bool { return r.reason == "timeout" }

// overloaded reports whether the endpoint is overloaded (it timed out
// or answered 429): its retry waits longer.
func (r result) overloaded() bool {
	return r.status == http.StatusTooManyRequests || r.timedOut()
}

// TruncatedNote ends a stored response body that was longer than
// outbound.MaxResponseBody, so that whoever reads the delivery log knows
// the endpoint sent more than is shown.
var TruncatedNote = fmt.Sprintf("\n[truncated by Fluxhook: only the first %d bytes of the response are kept]", outbound.MaxResponseBody)

// post sends the job to the webhook and classifies the answer.
func (s *sender) post(ctx context.Context, hook *fluxhook.Webhook, secrets []string, job wire.Job) result {
	if s.timeout > 0 {
		// Reading the response body counts too, as with Client.Timeout.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(job.Payload))
	if err != nil {
		o, reason := outbound.Classify(0, err)
		return result{reason: reason, outcome: o}
	}
	for k, v := range hook.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)
	signing.Sign(req.Header, secrets, job.DeliveryID, s.now(), job.Payload)
	start := time.Now()
	res, err := s.client.Do(req)
	if err != nil {
		o, reason := outbound.Classify(0, err)
		return result{reason: reason, outcome: o, elapsed: time.Since(start)}
	}
	// A body that fails part way is kept as far as it came: the status
	// decides the outcome.
	b, truncated, _ := outbound.ReadBody(res.Body, outbound.MaxResponseBody)
	res.Body.Close()
	r := result{status: res.StatusCode, elapsed: time.Since(start)}
	r.outcome, r.reason = outbound.Classify(res.StatusCode, nil)
	if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
		r.retryAfter, _ = outbound.RetryAfter(res.Header, s.now())
	}
	body := string(b)
	if truncated {
		body += TruncatedNote
	}
	r.body = &body
	if r.outcome == outbound.Success {
		r.reason = ""
	}
	return r
}

// newAttempt is the delivery log's record of an attempt of job that came
// to r, with the given status (fluxhook.Delivery*). Every attempt record,
// the worker's and the API's, is made here.
func newAttempt(job wire.Job, r result, status string, now time.Time) *fluxhook.Attempt {
	a := &fluxhook.Attempt{DeliveryID: job.DeliveryID, WebhookID: job.WebhookID, Event: job.Event, EventID: job.EventID,
		Payload: job.Payload, Status: status, Attempt: job.Attempt, ResponseBody: r.body, CreatedAt: now}
	if r.status > 0 {
		code := r.status
		a.StatusCode = &code
	}
	if r.reason != "" {
		reason := r.reason
		a.Error = &reason
	}
	if r.elapsed > 0 {
		ms := int(r.elapsed / time.Millisecond)
		a.DurationMS = &ms
	}
	if status == fluxhook.DeliveryDelivered {
		a.DeliveredAt = &now
	}
	return a
}
