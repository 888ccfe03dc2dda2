// Package account is what users do with their accounts: sign up, sign
// in, refresh and sign out, change or delete themselves, reset a
// password, verify an email; and what dashboard admins do with users.
// Every state change that emits a domain event writes it to the outbox in
// the same transaction.
package account

import (
	"encoding/json"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Audiences of access tokens: app sign-ins and dashboard (admin) logins.
const (
	AudienceApp   = auth.AudienceApp
	AudienceAdmin = auth.AudienceAdmin
)

// Lifetimes of mailed one-time tokens.
const (
	ResetTokenTTL        = time.Hour
	VerificationTokenTTL = 48 * time.Hour
)

// Service implements the account operations.
type Service struct {
	db         *store.DB
	hasher     *auth.Hasher
	tokens     *auth.Tokens
	mail       *MailQueue
	sender     Sender // for mails whose outcome the caller reports (invitations)
	smtp       bool
	box        *secretbox.Box
	bus        cachebus.Bus
	logger     *slog.Logger
	now        func() time.Time
	publicURL  string
	refreshTTL time.Duration
	minPass    int
	ended      *endedSessions
}

// Deps are the Service's collaborators.
type Deps struct {
	DB     *store.DB
	Hasher *auth.Hasher
	Tokens *auth.Tokens
	Mail   *MailQueue
	// Sender sends mails synchronously; SMTP says whether it is a real
	// mail server (false: mails are only logged).
	Sender Sender
	SMTP   bool
	Box    *secretbox.Box // seals invitation tokens at rest
	Bus    cachebus.Bus   // announces role changes, deletions and ended sessions to every replica
	Logger *slog.Logger
}

// Config holds the Service's settings.
type Config struct {
	PublicURL  string        // base of links in mails
	RefreshTTL time.Duration // lifetime of a refresh token
	// MinPassword is the shortest password accepted, in characters;
	// DefaultMinPassword when zero.
	MinPassword int
	Now         func() time.Time
	// SessionResync is how often ended sessions are re-read from the
	// database (default DefaultSessionResync).
	SessionResync time.Duration
}

// New returns a Service.
func New(d Deps, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.MinPassword <= 0 {
		cfg.MinPassword = DefaultMinPassword
	}
	if cfg.SessionResync <= 0 {
		cfg.SessionResync = DefaultSessionResync
	}
	// A session's access tokens last their lifetime from issue, judged by
	// the clocks of other replicas too: a minute more covers their skew.
	lifetime := 15*time.Minute + resyncOverlap
	if d.Tokens != nil {
		lifetime = d.Tokens.Lifetime() + resyncOverlap
	}
	s := &Service{db: d.DB, hasher: d.Hasher, tokens: d.Tokens, mail: d.Mail, sender: d.Sender, smtp: d.SMTP, box: d.Box, bus: d.Bus,
		logger: d.Logger, now: cfg.Now, publicURL: strings.TrimRight(cfg.PublicURL, "/"), refreshTTL: cfg.RefreshTTL,
		minPass: cfg.MinPassword, ended: newEndedSessions(d.DB, cfg.Now, lifetime, cfg.SessionResync, d.Logger)}
	if d.Bus != nil {
		d.Bus.Subscribe(cachebus.Session, func(id string) { s.ended.add(id) })
	}
	return s
}

// AuthResult is what a successful sign-in or refresh returns.
type AuthResult struct {
	User         *fluxhook.User `json:"user"`
	AccessToken  string         `json:"access_token"`
	RefreshToken string         `json:"refresh_token"`
	ExpiresIn    int            `json:"expires_in"`
}

// Field limits. The shortest password is a setting
// (FLUXHOOK_MIN_PASSWORD_LENGTH, Config.MinPassword); DefaultMinPassword
// is what it is unless set.
const (
	DefaultMinPassword = 12
	MaxPassword        = 256
	MaxName            = 100
	MaxEmail           = 254
	MaxMetadataLen     = 16 << 10
)

// validateEmail normalises and checks an address, adding a problem to details.
func validateEmail(details map[string]string, field, email string) string {
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		details[field] = "is required"
	case len(email) > MaxEmail:
		details[field] = "must be at most 254 characters"
	default:
		addr, err := mail.ParseAddress(email)
		if err != nil || addr.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
			details[field] = "must be a valid email address like name@example.com"
		}
	}
	return strings.ToLower(email)
}

// validatePassword adds a problem with password to details, if any.
func (s *Service) validatePassword(details map[string]string, field, password string) {
	n := utf8.RuneCountInString(password)
	switch {
	case password == "":
		details[field] = "is required"
	case n < s.minPass:
		details[field] = "must be at least " + itoa(s.minPass) + " characters"
	case n > MaxPassword:
		details[field] = "must be at most 256 characters"
	}
}

func validateName(details map[string]string, field, name string, min int) string {
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	switch {
	case n < min:
		details[field] = "must be at least " + itoa(min) + " characters"
	case n > MaxName:
		details[field] = "must be at most 100 characters"
	case strings.ContainsAny(name, "\r\n\x00"):
		details[field] = "must not contain line breaks or NUL characters"
	}
	return name
}

func validateMetadata(details map[string]string, field string, m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return json.RawMessage("{}")
	}
	if len(m) > MaxMetadataLen {
		details[field] = "must be at most 16 KiB of JSON"
		return nil
	}
	var obj map[string]any
	if err := json.Unmarshal(m, &obj); err != nil {
		details[field] = "must be a JSON object"
		return nil
	}
	return m
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func invalidIf(details map[string]string) error {
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	return nil
}

// userEvent builds a domain event about u.
func (s *Service) userEvent(name string, u *fluxhook.User, extra map[string]any) fluxhook.Event {
	data := map[string]any{"user_id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role}
	for k, v := range extra {
		data[k] = v
	}
	b, _ := json.Marshal(data)
	return fluxhook.Event{ID: store.NewID(), Event: name, Timestamp: s.now().UTC(), Data: b, UserID: u.ID}
}

var errInvalidCredentials = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "INVALID_CREDENTIALS", Message: "The email or password is incorrect."}
