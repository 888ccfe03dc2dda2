package fluxhook

import (
	"encoding/json"
	"fmt"
	"strings"
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

// Operational events: what Fluxhook itself has to say about webhooks
// and deliveries, published as ordinary events so that an admin (or a
// webhook's owner) can subscribe a webhook of their own to them
// (API.md "Operational events").
const (
	EventWebhookFailing       = "webhook.failing"
	EventWebhookDisabled      = "webhook.disabled"
	EventWebhookSecretRotated = "webhook.secret_rotated"
	EventDeliveryExhausted    = "delivery.exhausted"
)

// Operational lists the operational events.
var Operational = []string{EventWebhookFailing, EventWebhookDisabled, EventWebhookSecretRotated, EventDeliveryExhausted}

// Event is the envelope every event travels in, from the outbox through
// JetStream to the dispatcher. UserID names the user the event concerns;
// empty means it concerns the whole instance.
type Event struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	UserID    string          `json:"user_id,omitempty"`
	// OrderingKey is the publisher's ordering key (POST /events): the
	// events of one key reach an ordered webhook in the order they were
	// accepted; "" is the webhook's one sequence.
	OrderingKey string `json:"ordering_key,omitempty"`
}

// MaxOrderingKeyLen bounds an ordering key, in bytes: each ordered job
// stores it.
const MaxOrderingKeyLen = 256

// OutboxEvent is an Event written in the same transaction as the change
// that caused it, waiting for the relay to publish it.
type OutboxEvent struct {
	Event
	CreatedAt   time.Time
	PublishedAt *time.Time
}

// MaxEventNameLen bounds event names and subscription patterns: a name
// becomes part of a NATS subject.
const MaxEventNameLen = 128

// ValidateEventName reports whether name may be an event's name:
// lowercase dot-separated words, ^[a-z0-9_]+(\.[a-z0-9_]+)+$, so that it
// never carries the subject wildcards * and >, spaces or an empty token
// into a subject. The error is a sentence for the publisher.
func ValidateEventName(name string) error {
	if len(name) > MaxEventNameLen {
		return fmt.Errorf("event name is %d characters long; at most %d are allowed", len(name), MaxEventNameLen)
	}
	if !eventName(name) {
		return fmt.Errorf("event name %q is not lowercase dot-separated words (like user.created): only a-z, 0-9, _ and . between words are allowed", name)
	}
	return nil
}

// ValidEventPattern reports whether p may be subscribed to: an event
// name, a prefix wildcard ("user.*") or "*".
func ValidEventPattern(p string) bool {
	if p == "*" {
		return true
	}
	if len(p) > MaxEventNameLen {
		return false
	}
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		return eventName(prefix + ".x")
	}
	return eventName(p)
}

// eventName is the grammar itself. A loop, not a regexp: the worker
// checks it for every job.
func eventName(name string) bool {
	words, wordLen := 1, 0
	for i := range len(name) {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			wordLen++
		case c == '.' && wordLen > 0:
			words, wordLen = words+1, 0
		default:
			return false
		}
	}
	return words >= 2 && wordLen > 0
}
