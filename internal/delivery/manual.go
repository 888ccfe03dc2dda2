package delivery

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// AttemptStore writes and reads the delivery log.
type AttemptStore interface {
	InsertAttempts(ctx context.Context, as []*fluxhook.Attempt) error
	LatestAttempt(ctx context.Context, deliveryID string) (*fluxhook.Attempt, error)
}

// JobPublisher stores delivery jobs.
type JobPublisher interface {
	PublishJobs(ctx context.Context, jobs []wire.Job) error
}

// Manual is what the API does with deliveries by hand: the synchronous
// test of a webhook, and the retry of a failed delivery.
type Manual struct {
	sender
	attempts AttemptStore
	jobs     JobPublisher
}

// NewManual returns a Manual.
func NewManual(client *http.Client, userAgent string, attempts AttemptStore, jobs JobPublisher) *Manual {
	return &Manual{sender: newSender(client, userAgent, time.Now), attempts: attempts, jobs: jobs}
}

// Test sends a webhook.test event to the webhook now, signed like any
// delivery, records it in the delivery log, and reports what happened.
// The endpoint failing is a result (success false), not an error.
func (m *Manual) Test(ctx context.Context, hook *fluxhook.Webhook, secrets []string) (*fluxhook.TestResult, error) {
	data, _ := json.Marshal(map[string]any{"test": true, "webhook_id": hook.ID})
	e := fluxhook.Event{ID: wire.NewID(), Event: fluxhook.EventWebhookTest, Timestamp: m.now().UTC(), Data: data, UserID: hook.UserID}
	body, err := wire.Payload(&e)
	if err != nil {
		return nil, err
	}
	job := wire.Job{DeliveryID: wire.DeliveryID(e.ID, e.Timestamp, hook.ID), EventID: e.ID, Event: e.Event, WebhookID: hook.ID, Attempt: 1, Payload: body}
	r := m.post(ctx, hook, secrets, job)
	status := fluxhook.DeliveryFailed
	if r.outcome == outbound.Success {
		status = fluxhook.DeliveryDelivered
	}
	a := newAttempt(job, r, status, m.now())
	if err := m.attempts.InsertAttempts(ctx, []*fluxhook.Attempt{a}); err != nil {
		return nil, err
	}
	return &fluxhook.TestResult{Success: status == fluxhook.DeliveryDelivered, StatusCode: a.StatusCode, ResponseBody: a.ResponseBody, Error: a.Error}, nil
}

// Retry queues one more attempt of a delivery that failed for good, and
// returns the pending attempt. The attempt gets the retries the schedule
// still has after it.
func (m *Manual) Retry(ctx context.Context, hook *fluxhook.Webhook, deliveryID string) (*fluxhook.Attempt, error) {
	last, err := m.attempts.LatestAttempt(ctx, deliveryID)
	if err != nil {
		return nil, err
	}
	if last.WebhookID != hook.ID {
		return nil, fluxhook.NotFound("delivery")
	}
	if last.Status != fluxhook.DeliveryFailed {
		return nil, &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "DELIVERY_NOT_FAILED",
			Message: "Only a failed delivery can be retried by hand; this one is " + last.Status + "."}
	}
	job := wire.Job{DeliveryID: last.DeliveryID, EventID: last.EventID, Event: last.Event, WebhookID: hook.ID,
		Attempt: last.Attempt + 1, Payload: last.Payload, UserID: hook.UserID}
	if err := m.jobs.PublishJobs(ctx, []wire.Job{job}); err != nil {
		return nil, fluxhook.Unavailable("message queue", err)
	}
	return &fluxhook.Attempt{ID: wire.NewID(), DeliveryID: last.DeliveryID, WebhookID: hook.ID, Event: last.Event, EventID: last.EventID,
		Payload: last.Payload, Status: fluxhook.DeliveryPending, Attempt: last.Attempt + 1, CreatedAt: m.now().UTC()}, nil
}
