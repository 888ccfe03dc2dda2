package fluxhook

import (
	"encoding/json"
	"time"
)

// Event names in the catalogue. Custom names published through
// POST /api/v1/events are allowed beside these.
const (
	EventUserCreated   = "user.created"
	EventUserUpdated   = "user.updated"
	EventUserDeleted   = "user.deleted"
	EventAuthLogin     = "auth.login"
	EventAuthLogout    = "auth.logout"
	EventPasswordReset = "password.reset"
	EventEmailVerified = "email.verified"
	EventWebhookTest   = "webhook.test"
)

// Catalogue lists the domain events Fluxhook itself emits.
var Catalogue = []string{
	EventUserCreated, EventUserUpdated, EventUserDeleted,
	EventAuthLogin, EventAuthLogout, EventPasswordReset, EventEmailVerified,
}

// Event is the envelope every event travels in, from the outbox through
// JetStream to the dispatcher. UserID names the user the event concerns;
// empty means it concerns the whole instance.
type Event struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	UserID    string          `json:"user_id,omitempty"`
}

// OutboxEvent is an Event written in the same transaction as the change
// that caused it, waiting for the relay to publish it.
type OutboxEvent struct {
	Event
	CreatedAt   time.Time
	PublishedAt *time.Time
}
