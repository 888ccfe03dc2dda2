package client

import (
	"encoding/json"
	"time"
)

// The API's shapes (shared/API.md). Optional values are pointers; times
// are UTC.

// User is an account.
type User struct {
	ID            string          `json:"id"`
	Email         string          `json:"email"`
	Name          string          `json:"name"`
	Role          string          `json:"role"` // user, dashboard_user or dashboard_admin
	EmailVerified bool            `json:"email_verified"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	LastLoginAt   *time.Time      `json:"last_login_at,omitempty"`
}

// AuthResponse is what signing in, signing up and refreshing return.
type AuthResponse struct {
	User         User   `json:"user"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"` // seconds
}

// SignUpRequest creates an app user.
type SignUpRequest struct {
	Email    string         `json:"email"`
	Password string         `json:"password"`
	Name     string         `json:"name,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// ClientKey is a service credential; the key itself is shown only once.
type ClientKey struct {
	ID                 string     `json:"id"`
	UserID             string     `json:"user_id"`
	Name               string     `json:"name"`
	Description        *string    `json:"description,omitempty"`
	KeyPrefix          string     `json:"key_prefix"`
	Scopes             []string   `json:"scopes"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
	RevokedAt          *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt         *time.Time `json:"last_used_at,omitempty"`
}

// CreateClientKeyRequest is the body of CreateClientKey.
type CreateClientKeyRequest struct {
	Name               string     `json:"name"`
	Description        *string    `json:"description,omitempty"`
	Scopes             []string   `json:"scopes"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
}

// CreateClientKeyResponse holds the new key's metadata and the full key.
type CreateClientKeyResponse struct {
	ClientKey ClientKey `json:"client_key"`
	Key       string    `json:"key"`
}

// UpdateClientKeyRequest changes the fields that are set.
type UpdateClientKeyRequest struct {
	Name               *string    `json:"name,omitempty"`
	Description        *string    `json:"description,omitempty"`
	Scopes             []string   `json:"scopes,omitempty"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
}

// Webhook is an endpoint that receives events.
type Webhook struct {
	ID                 string            `json:"id"`
	UserID             string            `json:"user_id"`
	URL                string            `json:"url"`
	Events             []string          `json:"events"`
	Description        *string           `json:"description,omitempty"`
	IsActive           bool              `json:"is_active"`
	HasSecret          bool              `json:"has_secret"`
	Secret             string            `json:"secret,omitempty"` // in the create response only
	RateLimitPerSecond *int              `json:"rate_limit_per_second,omitempty"`
	Headers            map[string]string `json:"headers,omitempty"`
	Filter             *string           `json:"filter,omitempty"`   // a CEL expression; absent: every subscribed event
	Ordering           string            `json:"ordering,omitempty"` // "fifo", or "" for no ordering
	DisabledReason     *string           `json:"disabled_reason,omitempty"`
	CreatedAt          time.Time         `json:"created_at"`
	UpdatedAt          time.Time         `json:"updated_at"`
}

// WebhookRequest creates a webhook (URL and Events required) or changes
// the fields that are set.
type WebhookRequest struct {
	URL                string            `json:"url,omitempty"`
	Events             []string          `json:"events,omitempty"`
	Description        *string           `json:"description,omitempty"`
	Secret             *string           `json:"secret,omitempty"`
	IsActive           *bool             `json:"is_active,omitempty"`
	RateLimitPerSecond *int              `json:"rate_limit_per_second,omitempty"`
	Headers            map[string]string `json:"headers,omitempty"`
	// Filter is a CEL expression over the event (API.md "Filters"), such
	// as `data.amount > 100`; nil leaves it as it is, a pointer to ""
	// removes it.
	Filter *string `json:"filter,omitempty"`
	// Ordering is "fifo" for ordered delivery (API.md "Ordered
	// delivery"), "none" to turn it off; "" leaves it as it is.
	Ordering string `json:"ordering,omitempty"`
}

// TestResult is what the endpoint did with a webhook.test event.
type TestResult struct {
	Success      bool    `json:"success"`
	StatusCode   *int    `json:"status_code,omitempty"`
	ResponseBody *string `json:"response_body,omitempty"`
	Error        *string `json:"error,omitempty"`
}

// Delivery is one attempt to deliver an event to a webhook.
type Delivery struct {
	ID            string          `json:"id"`
	DeliveryID    string          `json:"delivery_id"` // the same on every attempt: the webhook-id header
	WebhookID     string          `json:"webhook_id"`
	Event         string          `json:"event"`
	EventID       string          `json:"event_id"`
	Payload       json.RawMessage `json:"payload"`
	Status        string          `json:"status"` // pending, delivered, retrying, failed
	Attempt       int             `json:"attempt"`
	StatusCode    *int            `json:"status_code,omitempty"`
	ResponseBody  *string         `json:"response_body,omitempty"`
	Error         *string         `json:"error,omitempty"`
	DurationMS    *int            `json:"duration_ms,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
}

// ReplayRequest asks for a replay of the kept events with Since <=
// timestamp < Until (Until: now when nil). Status keeps only the events
// whose delivery is in that state now: delivered, failed, retrying,
// pending, or missed (never attempted).
type ReplayRequest struct {
	Since  time.Time  `json:"since"`
	Until  *time.Time `json:"until,omitempty"`
	Status string     `json:"status,omitempty"`
}

// Replay is a replay of kept events (Kind "replay") or a retry of every
// failed delivery (Kind "retry_failed") of one webhook, and its progress.
type Replay struct {
	ID               string     `json:"id"`
	WebhookID        string     `json:"webhook_id"`
	Kind             string     `json:"kind"`
	Since            *time.Time `json:"since,omitempty"`
	Until            *time.Time `json:"until,omitempty"`
	Status           string     `json:"status,omitempty"`
	State            string     `json:"state"` // pending, running, done, cancelled, failed
	EventsScanned    int64      `json:"events_scanned"`
	EventsMatched    int64      `json:"events_matched"`
	DeliveriesQueued int64      `json:"deliveries_queued"`
	// IncludesMissed: events missed while disabled or before subscribing
	// are delivered too.
	IncludesMissed bool       `json:"includes_missed"`
	Note           string     `json:"note,omitempty"`
	AvailableSince *time.Time `json:"available_since,omitempty"`
	Error          *string    `json:"error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
}

// PublishResult is the stored event's id; Duplicate is true when the
// idempotency key had been used already.
type PublishResult struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// Payload is the body a webhook endpoint receives.
type Payload struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}
