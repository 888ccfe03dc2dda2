package fluxhook

import (
	"encoding/json"
	"time"
)

// Role is what a user may do. Users who sign up through /auth/signup are
// RoleUser; dashboard users come from invitations or configuration.
type Role string

const (
	RoleUser           Role = "user"
	RoleDashboardUser  Role = "dashboard_user"
	RoleDashboardAdmin Role = "dashboard_admin"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	return r == RoleUser || r == RoleDashboardUser || r == RoleDashboardAdmin
}

// Dashboard reports whether r may use the dashboard (admin) endpoints.
func (r Role) Dashboard() bool { return r == RoleDashboardUser || r == RoleDashboardAdmin }

// User is an account: an app user or a dashboard user.
type User struct {
	ID            string          `json:"id"`
	Email         string          `json:"email"`
	Name          string          `json:"name"`
	Role          Role            `json:"role"`
	PasswordHash  string          `json:"-"`
	EmailVerified bool            `json:"email_verified"`
	Metadata      json.RawMessage `json:"metadata"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	LastLoginAt   *time.Time      `json:"last_login_at,omitempty"`
}

// RefreshToken is one opaque refresh token of a session. Tokens of one
// sign-in share a FamilyID; each refresh uses the presented token and
// issues the next one in the family. Presenting a used or revoked token
// is reuse, and revokes the whole family.
type RefreshToken struct {
	ID        string
	UserID    string
	FamilyID  string
	TokenHash []byte // SHA-256 of the token; the token itself is never stored
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

// TokenPurpose says what a one-time token is for.
type TokenPurpose string

const (
	PurposePasswordReset     TokenPurpose = "password_reset"
	PurposeEmailVerification TokenPurpose = "email_verification"
)

// OneTimeToken is a hashed, expiring, single-use token mailed to a user.
type OneTimeToken struct {
	ID        string
	UserID    string
	Purpose   TokenPurpose
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// ClientKey is a service credential acting as its owner within Scopes.
type ClientKey struct {
	ID                 string     `json:"id"`
	UserID             string     `json:"user_id"`
	Name               string     `json:"name"`
	Description        *string    `json:"description,omitempty"`
	KeyPrefix          string     `json:"key_prefix"`
	KeyHash            []byte     `json:"-"`
	Scopes             []string   `json:"scopes"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
	RevokedAt          *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt         *time.Time `json:"last_used_at,omitempty"`
}

// Webhook is a subscriber endpoint.
type Webhook struct {
	ID                 string            `json:"id"`
	UserID             string            `json:"user_id"`
	URL                string            `json:"url"`
	Events             []string          `json:"events"`
	Description        *string           `json:"description,omitempty"`
	IsActive           bool              `json:"is_active"`
	RateLimitPerSecond *int              `json:"rate_limit_per_second,omitempty"`
	Headers            map[string]string `json:"headers,omitempty"`
	// Filter is a CEL expression over the event (package filter); only
	// events for which it is true are delivered. nil: every event.
	Filter *string `json:"filter,omitempty"`
	// Ordering is OrderingFIFO for ordered delivery, or "" for none
	// (the default: deliveries in parallel, in no promised order).
	Ordering       string    `json:"ordering,omitempty"`
	DisabledReason *string   `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`

	// Secrets are stored encrypted (AES-GCM); they must be read back to sign.
	SecretEnc         []byte     `json:"-"`
	PrevSecretEnc     []byte     `json:"-"`
	PrevSecretExpires *time.Time `json:"-"`
	// FailingSince is when the current run of failures began (nil after a success).
	FailingSince *time.Time `json:"-"`
}

// OrderingFIFO is the webhook ordering under which events are
// delivered one at a time, in the order they were accepted, per
// ordering key (API.md "Ordered delivery").
const OrderingFIFO = "fifo"

// Invitation invites an email address to become a dashboard user.
type Invitation struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Role       Role       `json:"role"`
	Token      string     `json:"token,omitempty"`
	TokenHash  []byte     `json:"-"`
	TokenEnc   []byte     `json:"-"` // the token sealed at rest; listed back to admins
	InvitedBy  string     `json:"invited_by"`
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
	ExpiresAt  time.Time  `json:"expires_at"`
	CreatedAt  time.Time  `json:"created_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Actor is who makes a request: a signed-in user (access token), or a
// client key acting as its owner within its scopes.
type Actor struct {
	UserID    string
	Role      Role
	SessionID string // the access token's session; empty for client keys
	// KeyID and Scopes are set when a client key authenticated the
	// request; access tokens are limited by role and ownership only.
	KeyID  string
	Scopes []string
}

// IsAdmin reports whether the actor acts as a dashboard admin.
func (a *Actor) IsAdmin() bool { return a.Role == RoleDashboardAdmin }

// Owns reports whether the actor may see and change a thing owned by
// userID: its owner, or a dashboard admin.
func (a *Actor) Owns(userID string) bool { return a.UserID == userID || a.IsAdmin() }

// Delivery statuses, as API.md's WebhookDelivery names them.
const (
	DeliveryPending   = "pending"   // queued, not tried yet (a manual retry)
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryRetrying  = "retrying"  // failed; another attempt is scheduled
	DeliveryFailed    = "failed"    // failed for good (or dead-lettered)
)

// Attempt is one try to deliver an event to a webhook: the rows of the
// delivery log, and API.md's WebhookDelivery. DeliveryID is the same on
// every attempt of one delivery (it is the webhook-id header); ID is the
// attempt's own.
type Attempt struct {
	ID            string          `json:"id"`
	DeliveryID    string          `json:"delivery_id"`
	WebhookID     string          `json:"webhook_id"`
	Event         string          `json:"event"`
	EventID       string          `json:"event_id"`
	Payload       json.RawMessage `json:"payload"`
	Status        string          `json:"status"`
	Attempt       int             `json:"attempt"`
	StatusCode    *int            `json:"status_code,omitempty"`
	ResponseBody  *string         `json:"response_body,omitempty"`
	Error         *string         `json:"error,omitempty"`
	DurationMS    *int            `json:"duration_ms,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
}

// TestResult is API.md's TestWebhookResponse: what the synchronous test
// of a webhook came to. An endpoint that failed is a result, not an error.
type TestResult struct {
	Success      bool    `json:"success"`
	StatusCode   *int    `json:"status_code,omitempty"`
	ResponseBody *string `json:"response_body,omitempty"`
	Error        *string `json:"error,omitempty"`
}
