package httpapi

import (
	"context"
	"net/http"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Deliveries is what the API does with deliveries by hand.
type Deliveries interface {
	Test(ctx context.Context, hook *fluxhook.Webhook, secrets []string) (*fluxhook.TestResult, error)
	Retry(ctx context.Context, hook *fluxhook.Webhook, deliveryID string) (*fluxhook.Attempt, error)
}

// AttemptLog reads the delivery log; DeliveryLog is what the dashboard
// reads of it.
type AttemptLog interface {
	DeliveryLog
	Attempts(ctx context.Context, webhookID string, limit int) ([]*fluxhook.Attempt, error)
	// Attempt returns one delivery row by its own id.
	Attempt(ctx context.Context, id string) (*fluxhook.Attempt, error)
}

// testWebhook sends a webhook.test event now and answers with what the
// endpoint did: 200 with success false when it failed (API.md).
func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) error {
	a := principalFrom(r.Context())
	hook, err := s.webhooks.Get(r.Context(), a, r.PathValue("id"))
	if err != nil {
		return err
	}
	secrets, err := s.webhooks.Secrets(hook)
	if err != nil {
		return err
	}
	res, err := s.deliveries.Test(r.Context(), hook, secrets)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	details := map[string]string{}
	limit := queryInt(r, "limit", 50, 1, 1000, details)
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	hook, err := s.webhooks.Get(r.Context(), principalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	list, err := s.attempts.Attempts(r.Context(), hook.ID, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": list})
	return nil
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.webhooks.Get(r.Context(), principalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	deliveryID, err := s.retryTarget(r, hook)
	if err != nil {
		return err
	}
	a, err := s.deliveries.Retry(r.Context(), hook, deliveryID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, a)
	return nil
}

// retryTarget returns the delivery id a retry names. A delivery row shows
// both its own "id" and its "delivery_id", and a caller may copy either:
// a row id is resolved to its delivery (when the row belongs to hook;
// another webhook's row falls through and is not found as a delivery).
func (s *Server) retryTarget(r *http.Request, hook *fluxhook.Webhook) (string, error) {
	id := r.PathValue("delivery_id")
	row, err := s.attempts.Attempt(r.Context(), id)
	switch {
	case fluxhook.IsNotFound(err):
		return id, nil
	case err != nil:
		return "", err
	case row.WebhookID != hook.ID:
		return "", fluxhook.NotFound("delivery")
	}
	return row.DeliveryID, nil
}
