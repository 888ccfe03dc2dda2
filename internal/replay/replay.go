// Package replay delivers again, in bulk and in the background, what a
// webhook missed: the kept events of a time window that its current
// subscription matches (EVENTS keeps every event for the retention), or
// every delivery of it that failed for good (from the delivery log).
//
// The API creates a replay (Service); a dispatcher's Runner claims it
// with a lease in the database, so that several replicas never run the
// same one, reads its source, and hands the deliveries to the workers
// through DELIVERIES like any other job, paced so that a week of events
// does not starve live traffic: at most Options.Rate jobs a second, and
// none while the workers already have a backlog. Its progress is in the
// replays table, where GET shows it and a cancel stops it at the
// runner's next step.
//
// A replayed delivery keeps the delivery id the event's first dispatch
// to the webhook had (wire.DeliveryID), so the receiver sees the same
// webhook-id and can drop an event it already has, as Standard Webhooks
// intends; its attempt number follows the delivery's last one, so the
// delivery log shows it as the delivery's newest attempt.
package replay

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Store is what the service needs of the database.
type Store interface {
	CreateReplay(ctx context.Context, r *fluxhook.Replay) error
	Replay(ctx context.Context, id string) (*fluxhook.Replay, error)
	ListReplays(ctx context.Context, webhookID string, limit int) ([]*fluxhook.Replay, error)
	CancelReplay(ctx context.Context, id string) (*fluxhook.Replay, error)
}

// Window tells since when EVENTS holds events (zero when empty), and
// whether it keeps them at all (events.EventsKept).
type Window func(ctx context.Context) (oldest time.Time, kept bool, err error)

// Service is the API's side of replays.
type Service struct {
	db        Store
	window    Window
	retention time.Duration
	now       func() time.Time
}

// NewService returns a Service; retention is EVENTS' (the window a
// replay may reach back), window reads what it holds.
func NewService(db Store, window Window, retention time.Duration, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, window: window, retention: retention, now: now}
}

// Statuses a replay's status option takes.
var Statuses = []string{fluxhook.DeliveryDelivered, fluxhook.DeliveryFailed, fluxhook.DeliveryRetrying, fluxhook.DeliveryPending, fluxhook.ReplayMissed}

// maxListed is how many replays a list shows.
const maxListed = 50

// Request is what POST /webhooks/{id}/replay asks for.
type Request struct {
	Since  *time.Time `json:"since"`
	Until  *time.Time `json:"until"`
	Status *string    `json:"status"`
}

// Replay starts a replay of hook's events in [req.Since, req.Until)
// (Until defaults to now).
func (s *Service) Replay(ctx context.Context, hook *fluxhook.Webhook, req Request) (*fluxhook.Replay, error) {
	now := s.now().UTC()
	details := map[string]string{}
	until := now
	switch {
	case req.Since == nil:
		details["since"] = "is required (RFC 3339)"
	case req.Until != nil && !req.Until.After(*req.Since):
		details["until"] = "must be after since"
	case req.Until != nil && req.Until.After(now.Add(time.Minute)):
		details["until"] = "is in the future; events after now are delivered as they come"
	case !req.Since.Before(now):
		details["since"] = "must be in the past"
	case req.Since.Before(now.Add(-s.retention)):
		details["since"] = fmt.Sprintf("is older than the event retention (%s): events before %s are no longer kept",
			s.retention, now.Add(-s.retention).Format(time.RFC3339))
	}
	if req.Until != nil && req.Until.Before(now) {
		until = req.Until.UTC()
	}
	if req.Status != nil && !slices.Contains(Statuses, *req.Status) {
		details["status"] = fmt.Sprintf("must be one of %v", Statuses)
	}
	if len(details) > 0 {
		return nil, fluxhook.Invalid(details)
	}
	if err := active(hook); err != nil {
		return nil, err
	}
	_, kept, err := s.window(ctx)
	if err != nil {
		return nil, fluxhook.Unavailable("message queue", err)
	}
	if !kept {
		return nil, &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "EVENTS_NOT_KEPT",
			Message: "This deployment does not keep events yet: its EVENTS stream was created as a work queue by an earlier release. " +
				"The one-time step in DESIGN.md (\"Event retention and replay\") turns retention on."}
	}
	since := req.Since.UTC()
	r := &fluxhook.Replay{WebhookID: hook.ID, Kind: fluxhook.ReplayEvents, Since: &since, Until: &until, Status: req.Status}
	if err := s.db.CreateReplay(ctx, r); err != nil {
		return nil, err
	}
	return s.describe(ctx, r), nil
}

// RetryFailed starts a retry of every delivery of hook that failed for
// good (the delivery log's, whatever the event retention).
func (s *Service) RetryFailed(ctx context.Context, hook *fluxhook.Webhook) (*fluxhook.Replay, error) {
	if err := active(hook); err != nil {
		return nil, err
	}
	r := &fluxhook.Replay{WebhookID: hook.ID, Kind: fluxhook.ReplayFailed}
	if err := s.db.CreateReplay(ctx, r); err != nil {
		return nil, err
	}
	return s.describe(ctx, r), nil
}

// Get returns one of hook's replays.
func (s *Service) Get(ctx context.Context, hook *fluxhook.Webhook, id string) (*fluxhook.Replay, error) {
	r, err := s.db.Replay(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.WebhookID != hook.ID {
		return nil, fluxhook.NotFound("replay")
	}
	return s.describe(ctx, r), nil
}

// List returns hook's latest replays, newest first.
func (s *Service) List(ctx context.Context, hook *fluxhook.Webhook) ([]*fluxhook.Replay, error) {
	list, err := s.db.ListReplays(ctx, hook.ID, maxListed)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		s.note(r)
	}
	return list, nil
}

// Cancel stops one of hook's replays.
func (s *Service) Cancel(ctx context.Context, hook *fluxhook.Webhook, id string) (*fluxhook.Replay, error) {
	if _, err := s.Get(ctx, hook, id); err != nil {
		return nil, err
	}
	r, err := s.db.CancelReplay(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, r), nil
}

func active(hook *fluxhook.Webhook) error {
	if hook.IsActive {
		return nil
	}
	return &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "WEBHOOK_DISABLED",
		Message: "The webhook is disabled, and deliveries to a disabled webhook are given up; enable it (is_active: true) first. " +
			"A replay then also delivers the events it missed while disabled."}
}

// describe adds what the replay covers, and since when events are kept.
func (s *Service) describe(ctx context.Context, r *fluxhook.Replay) *fluxhook.Replay {
	s.note(r)
	if r.Kind == fluxhook.ReplayEvents {
		if oldest, kept, err := s.window(ctx); err == nil && kept && !oldest.IsZero() {
			o := oldest.UTC()
			r.AvailableSince = &o
		}
	}
	return r
}

func (s *Service) note(r *fluxhook.Replay) {
	switch r.Kind {
	case fluxhook.ReplayEvents:
		r.IncludesMissed = true
		r.Note = "Every kept event of the window that the webhook's current subscription (events, owner, filter) matches is delivered again, " +
			"including events it missed while disabled or before it subscribed to them. " +
			"An event it already received comes with the same webhook-id, so the receiver can drop it."
	case fluxhook.ReplayFailed:
		r.Note = "Every delivery of this webhook whose last attempt failed (created before this retry) is attempted once more, " +
			"with the payload it had, as a retry by hand would."
	}
}

// storeCheck: *store.DB is the Store.
var _ Store = (*store.DB)(nil)
