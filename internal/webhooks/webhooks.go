// Package webhooks manages webhook subscriptions: their URLs (checked
// against SSRF rules), the events they subscribe to, their signing
// secrets (sealed at rest, rotated with a 24-hour overlap) and their
// custom headers.
package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/filter"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// Limits on webhook fields.
const (
	MaxEvents        = 100
	MaxDescription   = 1000
	MaxHeaders       = 20
	MaxHeaderValue   = 1024
	MaxRatePerSecond = 10000
	RotationOverlap  = 24 * time.Hour
)

// Headers a webhook may not set: they belong to the transport or to
// Fluxhook's signature, and a receiver must be able to trust them.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Upgrade": true, "Te": true, "Trailer": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Expect": true, "User-Agent": true,
	"X-Fluxbase-Signature": true, "Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
}

// Service manages webhooks.
type Service struct {
	db     *store.DB
	box    *secretbox.Box
	policy outbound.Policy
	lookup outbound.LookupFunc
	bus    cachebus.Bus
	now    func() time.Time
}

// New returns a Service. lookup resolves hosts for the URL check (nil:
// the system resolver).
func New(db *store.DB, box *secretbox.Box, policy outbound.Policy, lookup outbound.LookupFunc, bus cachebus.Bus, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, box: box, policy: policy, lookup: lookup, bus: bus, now: now}
}

// Input is the body of create and update; nil fields are left out (on
// create, they take their defaults).
type Input struct {
	URL                *string            `json:"url"`
	Events             []string           `json:"events"`
	Description        *string            `json:"description"`
	Secret             *string            `json:"secret"`
	IsActive           *bool              `json:"is_active"`
	RateLimitPerSecond *int               `json:"rate_limit_per_second"`
	Headers            *map[string]string `json:"headers"`
	// Filter is a CEL expression (package filter); "" or null removes it.
	Filter Optional[string] `json:"filter"`
	// Ordering is "fifo" for ordered delivery; "none" or null turns it off.
	Ordering Optional[string] `json:"ordering"`
}

// Optional is a field that may be absent, null or a value: on update,
// absent leaves the field as it is and null clears it.
type Optional[T any] struct {
	Set   bool // present in the body, null or not
	Value *T   // nil for null
}

// UnmarshalJSON is called only for a field present in the body.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	o.Value = new(T)
	return json.Unmarshal(b, o.Value)
}

func (s *Service) apply(ctx context.Context, w *fluxhook.Webhook, in Input, creating bool) (map[string]string, error) {
	details := map[string]string{}
	if in.URL != nil || creating {
		if in.URL == nil || strings.TrimSpace(*in.URL) == "" {
			details["url"] = "is required"
		} else {
			u := strings.TrimSpace(*in.URL)
			if err := s.policy.CheckURL(ctx, u, s.lookup); err != nil {
				var ue *outbound.URLError
				if !errors.As(err, &ue) {
					return nil, err
				}
				details["url"] = ue.Reason
			}
			w.URL = u
		}
	}
	if in.Events != nil || creating {
		if len(in.Events) == 0 || len(in.Events) > MaxEvents {
			details["events"] = "must list 1 to 100 events, such as user.created, user.* or *"
		}
		seen := map[string]bool{}
		w.Events = w.Events[:0]
		for _, e := range in.Events {
			if !fluxhook.ValidEventPattern(e) {
				details["events"] = "\"" + truncate(e, 64) + "\" is not an event name: use names like user.created, a prefix wildcard like user.*, or *"
				break
			}
			if !seen[e] {
				seen[e] = true
				w.Events = append(w.Events, e)
			}
		}
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > MaxDescription {
			details["description"] = "must be at most 1000 characters"
		}
		w.Description = in.Description
	}
	if in.IsActive != nil {
		if *in.IsActive && !w.IsActive {
			// Turning a webhook back on clears why it was turned off.
			w.DisabledReason, w.FailingSince = nil, nil
		}
		w.IsActive = *in.IsActive
	}
	if in.RateLimitPerSecond != nil {
		if r := *in.RateLimitPerSecond; r < 1 || r > MaxRatePerSecond {
			details["rate_limit_per_second"] = "must be from 1 to 10000 deliveries per second"
		}
		w.RateLimitPerSecond = in.RateLimitPerSecond
	}
	if in.Headers != nil {
		h, problem := validHeaders(*in.Headers)
		if problem != "" {
			details["headers"] = problem
		}
		w.Headers = h
	}
	if in.Filter.Set {
		w.Filter = nil
		if in.Filter.Value != nil && strings.TrimSpace(*in.Filter.Value) != "" {
			src := *in.Filter.Value
			if _, err := filter.Compile(src); err != nil {
				var fe *filter.Error
				if !errors.As(err, &fe) {
					return nil, err
				}
				details["filter"] = fe.Message
			}
			w.Filter = &src
		}
	}
	if in.Ordering.Set {
		switch o := in.Ordering.Value; {
		case o == nil || *o == "none":
			w.Ordering = ""
		case *o == fluxhook.OrderingFIFO:
			w.Ordering = fluxhook.OrderingFIFO
		default:
			details["ordering"] = "must be \"fifo\" (events one at a time, in the order they were accepted, per ordering key) or \"none\", not \"" + truncate(*o, 64) + "\""
		}
	}
	if in.Secret != nil {
		if err := signing.ValidateSecret(*in.Secret); err != nil {
			details["secret"] = err.Error()
		}
	}
	return details, nil
}

func validHeaders(in map[string]string) (map[string]string, string) {
	if len(in) > MaxHeaders {
		return nil, "may hold at most 20 headers"
	}
	out := make(map[string]string, len(in))
	for name, value := range in {
		canon := http.CanonicalHeaderKey(name)
		switch {
		case !validToken(name):
			return nil, "\"" + truncate(name, 64) + "\" is not a valid header name"
		case reservedHeaders[canon] || strings.HasPrefix(canon, "Webhook-"):
			return nil, canon + " is set by Fluxhook and cannot be overridden"
		case len(value) > MaxHeaderValue:
			return nil, canon + " is longer than 1024 bytes"
		case strings.ContainsAny(value, "\r\n\x00"):
			return nil, canon + " contains a line break or NUL character"
		}
		out[canon] = value
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Create makes a webhook owned by the actor and returns it with its
// secret (the one given, or a generated whsec_ secret), shown this once.
func (s *Service) Create(ctx context.Context, a *fluxhook.Actor, in Input) (*fluxhook.Webhook, string, error) {
	w := &fluxhook.Webhook{ID: wire.NewID(), UserID: a.UserID, IsActive: true}
	details, err := s.apply(ctx, w, in, true)
	if err != nil {
		return nil, "", err
	}
	if len(details) > 0 {
		return nil, "", fluxhook.Invalid(details)
	}
	secret := signing.NewSecret()
	if in.Secret != nil {
		secret = *in.Secret
	}
	w.SecretEnc = s.box.Seal([]byte(secret), []byte(w.ID))
	if err := s.db.CreateWebhook(ctx, w); err != nil {
		return nil, "", err
	}
	s.bus.Publish(cachebus.Webhook, w.ID)
	return w, secret, nil
}

// List returns the actor's webhooks (all of them for an admin).
func (s *Service) List(ctx context.Context, a *fluxhook.Actor) ([]*fluxhook.Webhook, error) {
	owner := a.UserID
	if a.IsAdmin() {
		owner = ""
	}
	return s.db.ListWebhooks(ctx, owner)
}

// Get returns one webhook; another user's is not found.
func (s *Service) Get(ctx context.Context, a *fluxhook.Actor, id string) (*fluxhook.Webhook, error) {
	w, err := s.db.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Owns(w.UserID) {
		return nil, fluxhook.NotFound("webhook")
	}
	return w, nil
}

// Update changes the given fields. A new secret given here replaces the
// current one at once (use RotateSecret for an overlap).
func (s *Service) Update(ctx context.Context, a *fluxhook.Actor, id string, in Input) (*fluxhook.Webhook, error) {
	w, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	details, err := s.apply(ctx, w, in, false)
	if err != nil {
		return nil, err
	}
	if len(details) > 0 {
		return nil, fluxhook.Invalid(details)
	}
	if in.Secret != nil {
		w.SecretEnc = s.box.Seal([]byte(*in.Secret), []byte(w.ID))
		w.PrevSecretEnc, w.PrevSecretExpires = nil, nil
	}
	if err := s.db.UpdateWebhook(ctx, w); err != nil {
		return nil, err
	}
	s.bus.Publish(cachebus.Webhook, w.ID)
	return w, nil
}

// Delete removes a webhook.
func (s *Service) Delete(ctx context.Context, a *fluxhook.Actor, id string) error {
	if _, err := s.Get(ctx, a, id); err != nil {
		return err
	}
	if err := s.db.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	s.bus.Publish(cachebus.Webhook, id)
	return nil
}

// RotateSecret replaces the signing secret (with the one given, or a
// generated one); the old secret keeps signing beside the new for 24 h,
// so receivers can switch without losing a delivery.
func (s *Service) RotateSecret(ctx context.Context, a *fluxhook.Actor, id string, given *string) (string, error) {
	w, err := s.Get(ctx, a, id)
	if err != nil {
		return "", err
	}
	secret := signing.NewSecret()
	if given != nil {
		if err := signing.ValidateSecret(*given); err != nil {
			return "", fluxhook.Invalid(map[string]string{"secret": err.Error()})
		}
		secret = *given
	}
	until := s.now().Add(RotationOverlap)
	w.PrevSecretEnc, w.PrevSecretExpires = w.SecretEnc, &until
	w.SecretEnc = s.box.Seal([]byte(secret), []byte(w.ID))
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if err := q.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		return announce(ctx, q, w.ID, fluxhook.EventWebhookSecretRotated, map[string]any{
			"rotated_at": s.now().UTC(), "previous_secret_expires_at": until.UTC()})
	})
	if err != nil {
		return "", err
	}
	s.bus.Publish(cachebus.Webhook, w.ID)
	return secret, nil
}

// Keys are a webhook's signing secrets: the current one and, while the
// rotation overlap lasts, the one it replaced. The overlap's rule lives
// here and only here.
type Keys struct {
	secrets []string // current first, then the previous one if any
	until   time.Time
}

// At returns the secrets that sign a delivery made at t: the current
// one first, then the previous one until its overlap ends.
func (k Keys) At(t time.Time) []string {
	if len(k.secrets) > 1 && !t.Before(k.until) {
		return k.secrets[:1]
	}
	return k.secrets
}

// Keys opens the webhook's sealed secrets.
func (s *Service) Keys(w *fluxhook.Webhook) (Keys, error) {
	cur, err := s.box.Open(w.SecretEnc, []byte(w.ID))
	if err != nil {
		return Keys{}, errors.New("webhook " + w.ID + ": cannot open its secret (wrong FLUXHOOK_ENCRYPTION_KEY?)")
	}
	k := Keys{secrets: []string{string(cur)}}
	if w.PrevSecretEnc != nil && w.PrevSecretExpires != nil {
		if prev, err := s.box.Open(w.PrevSecretEnc, []byte(w.ID)); err == nil {
			k.secrets, k.until = append(k.secrets, string(prev)), *w.PrevSecretExpires
		}
	}
	return k, nil
}

// Secrets returns the secrets a delivery made now is signed with.
func (s *Service) Secrets(w *fluxhook.Webhook) ([]string, error) {
	k, err := s.Keys(w)
	if err != nil {
		return nil, err
	}
	return k.At(s.now()), nil
}

// Load returns a webhook whoever owns it, with its keys: the worker
// delivers to every webhook.
func (s *Service) Load(ctx context.Context, id string) (*fluxhook.Webhook, Keys, error) {
	w, err := s.db.Webhook(ctx, id)
	if err != nil {
		return nil, Keys{}, err
	}
	k, err := s.Keys(w)
	if err != nil {
		return nil, Keys{}, err
	}
	return w, k, nil
}

// MarkFailing records that the webhook started failing at t, or with
// nil that it succeeded again. Health changes do not change what a
// delivery is: caches keep serving the webhook while the database is
// down (cachebus.WebhookHealth). The start of a run is announced with a
// webhook.failing event, written with it.
func (s *Service) MarkFailing(ctx context.Context, id string, t *time.Time) error {
	err := s.db.Tx(ctx, func(q *store.Queries) error {
		started, err := q.SetWebhookFailing(ctx, id, t)
		if err != nil || !started {
			return err
		}
		return announce(ctx, q, id, fluxhook.EventWebhookFailing, map[string]any{"failing_since": t.UTC()})
	})
	if err != nil {
		return err
	}
	s.bus.Publish(cachebus.WebhookHealth, id)
	return nil
}

// Disable turns a webhook off with a reason the owner can read, and
// announces it with a webhook.disabled event, written with it.
func (s *Service) Disable(ctx context.Context, id, reason string) error {
	err := s.db.Tx(ctx, func(q *store.Queries) error {
		disabled, err := q.DisableWebhook(ctx, id, reason)
		if err != nil || !disabled {
			return err
		}
		return announce(ctx, q, id, fluxhook.EventWebhookDisabled, map[string]any{"reason": reason, "disabled_at": s.now().UTC()})
	})
	if err != nil {
		return err
	}
	s.bus.Publish(cachebus.Webhook, id)
	return nil
}

// announce writes an operational event about webhook id to the outbox,
// inside the transaction of the change it describes. It concerns the
// webhook's owner: their webhooks and the dashboard's receive it
// (dispatch's visibility rule).
func announce(ctx context.Context, q *store.Queries, id, event string, data map[string]any) error {
	w, err := q.Webhook(ctx, id)
	if err != nil {
		return err
	}
	data["webhook_id"], data["url"] = w.ID, w.URL
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return q.InsertOutbox(ctx, fluxhook.Event{Event: event, Data: b, UserID: w.UserID})
}
