package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// DeliveryLog is what the dashboard reads of the delivery log beyond
// one webhook's attempts. *store.DB satisfies it.
type DeliveryLog interface {
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*fluxhook.Attempt, *store.DeliveryCursor, error)
	DeliveryAttempts(ctx context.Context, deliveryID string) ([]*fluxhook.Attempt, error)
	AttemptCountsSince(ctx context.Context, owner string, since time.Time) (map[string]store.AttemptCounts, error)
	LastAttempt(ctx context.Context, webhookID string) (*fluxhook.Attempt, error)
	AttemptTimeline(ctx context.Context, owner, webhookID string, from, to time.Time) ([]store.TimelineRow, error)
}

// deliveryStatuses are the states a delivery can be in (API.md's
// WebhookDelivery.status).
var deliveryStatuses = []string{fluxhook.DeliveryPending, fluxhook.DeliveryDelivered, fluxhook.DeliveryRetrying, fluxhook.DeliveryFailed}

// ownerOf is whose webhooks an actor sees: their own, or every one ("")
// for an admin (as webhooks.Service.List decides).
func ownerOf(a *Principal) string {
	if a.IsAdmin() {
		return ""
	}
	return a.UserID
}

// queryTime reads an RFC 3339 time from the query string.
func queryTime(r *http.Request, name string, details map[string]string) time.Time {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		details[name] = "must be a time in RFC 3339 form, like 2026-03-01T12:00:00Z"
	}
	return t
}

// listAllDeliveries is GET /deliveries: the delivery log across the
// caller's webhooks, one row per delivery (its latest attempt), newest
// first, filtered and paged by cursor.
func (s *Server) listAllDeliveries(w http.ResponseWriter, r *http.Request) error {
	a := principalFrom(r.Context())
	q := r.URL.Query()
	details := map[string]string{}
	f := store.DeliveryFilter{OwnerID: ownerOf(a), Limit: queryInt(r, "limit", 50, 1, 200, details)}
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			if !slices.Contains(deliveryStatuses, st) {
				details["status"] = "must be one or more of " + strings.Join(deliveryStatuses, ", ") + ", separated by commas"
				break
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	if v := q.Get("event"); v != "" && v != "*" {
		if !fluxhook.ValidEventPattern(v) {
			details["event"] = "must be an event name like user.created, or a prefix like user.*"
		}
		f.Event = v
	}
	f.Since, f.Until = queryTime(r, "since", details), queryTime(r, "until", details)
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		details["until"] = "must be after since"
	}
	if v := q.Get("cursor"); v != "" {
		c, err := store.ParseDeliveryCursor(v)
		if err != nil {
			details["cursor"] = "is not one this server gave; start again from the first page"
		}
		f.After = c
	}
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	if id := q.Get("webhook_id"); id != "" {
		// Another user's webhook, or none: 404 says so, where an empty
		// list would look like a quiet webhook.
		hook, err := s.webhooks.Get(r.Context(), a, id)
		if err != nil {
			return err
		}
		f.WebhookID = hook.ID
	}
	list, next, err := s.log.ListDeliveries(r.Context(), f)
	if err != nil {
		return err
	}
	body := map[string]any{"deliveries": list}
	if next != nil {
		body["next_cursor"] = next.String()
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// headerSent is one header of the request a delivery's attempts sent.
type headerSent struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Note says why Value is not the exact bytes sent: signatures and
	// timestamps differ per attempt and are not stored.
	Note string `json:"note,omitempty"`
}

// deliveryWebhook is the webhook a delivery went to, as the detail shows it.
type deliveryWebhook struct {
	ID          string  `json:"id"`
	URL         string  `json:"url"`
	Description *string `json:"description,omitempty"`
	IsActive    bool    `json:"is_active"`
}

// getDelivery is GET /deliveries/{id}: one delivery (by its delivery id,
// or the id of one of its attempts) with every attempt, the webhook it
// went to, and the headers its requests carried.
func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) error {
	a := principalFrom(r.Context())
	id := r.PathValue("id")
	attempts, err := s.log.DeliveryAttempts(r.Context(), id)
	if err != nil {
		return err
	}
	if len(attempts) == 0 {
		row, err := s.attempts.Attempt(r.Context(), id)
		if err != nil {
			return err
		}
		if attempts, err = s.log.DeliveryAttempts(r.Context(), row.DeliveryID); err != nil {
			return err
		}
	}
	if len(attempts) == 0 {
		return fluxhook.NotFound("delivery")
	}
	latest := attempts[len(attempts)-1]
	body := map[string]any{"delivery": latest, "attempts": attempts}
	hook, err := s.webhooks.Get(r.Context(), a, latest.WebhookID)
	switch {
	case fluxhook.IsNotFound(err) && a.IsAdmin():
		// The webhook was deleted since; an admin may still read its log.
	case fluxhook.IsNotFound(err):
		return fluxhook.NotFound("delivery")
	case err != nil:
		return err
	default:
		body["webhook"] = deliveryWebhook{ID: hook.ID, URL: hook.URL, Description: hook.Description, IsActive: hook.IsActive}
	}
	body["request_headers"] = s.headersSent(hook, latest)
	writeJSON(w, http.StatusOK, body)
	return nil
}

// headersSent lists the headers of a delivery's requests (API.md
// "Deliveries as the receiver sees them"). The delivery log does not
// keep requests, so this is rebuilt from the webhook as it is now and
// the rule the worker signs by; signatures are named, not shown.
func (s *Server) headersSent(hook *fluxhook.Webhook, d *fluxhook.Attempt) []headerSent {
	hs := []headerSent{{Name: "Content-Type", Value: "application/json"}}
	if s.opts.UserAgent != "" {
		hs = append(hs, headerSent{Name: "User-Agent", Value: s.opts.UserAgent})
	}
	if hook != nil {
		names := make([]string, 0, len(hook.Headers))
		for k := range hook.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			hs = append(hs, headerSent{Name: k, Value: hook.Headers[k], Note: "the webhook's own header, as it is configured now"})
		}
	}
	return append(hs,
		headerSent{Name: "webhook-id", Value: d.DeliveryID},
		headerSent{Name: "webhook-timestamp", Value: "", Note: "the time of each attempt, in Unix seconds"},
		headerSent{Name: "webhook-signature", Value: "", Note: "v1,<base64 HMAC-SHA256 of id.timestamp.body>, per attempt; not stored"},
		headerSent{Name: "X-Fluxbase-Signature", Value: "", Note: "hex HMAC-SHA256 of the body; not stored"},
	)
}
