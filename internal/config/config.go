// Package config reads Fluxhook's FLUXHOOK_* environment variables into a
// Config, once, in each binary's run. Every problem is reported at once,
// each naming its variable, so an operator fixes a deployment in one pass
// instead of one crash loop per mistake. Values that are secrets (or URLs
// that may carry passwords) are never echoed back in error messages.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Defaults for the all-in-one process; production deployments override
// the addresses of their services.
const (
	DefaultDatabaseURL = "sqlite://./data/fluxhook.db"
	DefaultHTTPAddr    = ":8080"
	DefaultAdminAddr   = ":9090"
	DefaultDataDir     = "./data"

	// MinJWTSecretBytes is the shortest accepted HMAC key for tokens:
	// shorter keys make offline guessing of the secret feasible.
	MinJWTSecretBytes = 32
	// EncryptionKeyBytes is the AES-256 key size used for secrets at rest.
	EncryptionKeyBytes = 32
	// DefaultMinPasswordLength is the shortest password accepted by
	// default, in characters. FLUXHOOK_MIN_PASSWORD_LENGTH may lower it to
	// MinPasswordLengthFloor (the Fluxbase examples sign in with an
	// 8-character password) or raise it to MaxPasswordLength.
	DefaultMinPasswordLength = 12
	MinPasswordLengthFloor   = 8
	// MaxPasswordLength is the longest password internal/account accepts
	// (account.MaxPassword): a minimum above it would refuse every password.
	MaxPasswordLength    = 256
	minMaxBodyBytes      = 1024
	maxMaxBodyBytes      = 64 << 20
	maxWorkerConcurrency = 4096
)

// Config is the validated configuration of every Fluxhook binary. Each
// binary uses the part it needs.
type Config struct {
	// DatabaseURL is postgres://, postgresql:// or a sqlite: URL; see
	// SQLitePath and IsPostgres.
	DatabaseURL string
	// NATSURL is empty for the embedded server (all-in-one only) or a
	// comma-separated list of nats:// (or tls://, ws://, wss://) URLs.
	NATSURL string
	// RedisURL is empty for the in-process rate limiter.
	RedisURL string

	HTTPAddr  string
	AdminAddr string

	// JWTSecret and EncryptionKey are nil when not configured; see
	// RequireProductionSecrets and EnsureLocalSecrets.
	JWTSecret     []byte
	EncryptionKey []byte

	// AdminEmail and AdminPassword are both set or both empty.
	AdminEmail    string
	AdminPassword string
	// MinPasswordLength is the shortest password, in characters, that
	// sign-up, password changes, resets, invitations and the bootstrap
	// admin accept.
	MinPasswordLength int

	// PublicURL is the absolute base URL users reach the API at, without
	// a trailing slash (links in emails are built from it).
	PublicURL string
	// SMTPURL is nil when no mail server is configured.
	SMTPURL *url.URL

	DataDir string

	AllowInsecureTargets bool
	AllowPrivateTargets  bool
	// AllowedTargetCIDRs are private networks webhooks may reach while
	// AllowPrivateTargets is off; cloud metadata addresses stay refused.
	AllowedTargetCIDRs []netip.Prefix

	// RetrySchedule holds the delays after the first try, one per retry.
	RetrySchedule []time.Duration

	LogLevel  slog.Level
	LogFormat string // "json" or "text"

	ShutdownTimeout   time.Duration
	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	DeliveryTimeout   time.Duration
	DisableAfter      time.Duration
	DeliveryRetention time.Duration
	// EventRetention is how long EVENTS keeps every event: how far back
	// a replay reaches (FLUXHOOK_EVENT_RETENTION, default 7 days).
	EventRetention time.Duration
	// ReplayRate is how many deliveries a second one dispatcher's replay
	// queues at most (FLUXHOOK_REPLAY_RATE, default 100).
	ReplayRate int

	// AuthRateLimit is sign-in, signup and reset attempts per minute per
	// client IP.
	AuthRateLimit int
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix

	MaxBodyBytes      int64
	WorkerConcurrency int
	// WorkerAckWait is how long JetStream waits for a worker to ack (or
	// say it is still working on) a job before handing it to another: how
	// soon the jobs of a crashed worker are delivered again.
	WorkerAckWait time.Duration
	// NATSSyncInterval is the all-in-one's embedded JetStream sync
	// interval; 0 (the default) syncs every write.
	NATSSyncInterval time.Duration
	// StreamReplicas is the JetStream streams' replica count: 1 for a
	// single server, 3 for a production cluster.
	StreamReplicas int
}

// Load reads and validates the configuration. getenv is os.Getenv in
// production and a map lookup in tests. The error joins every problem
// found (errors.Join), one line per variable.
func Load(getenv func(string) string) (Config, error) {
	p := &parser{getenv: getenv}
	var c Config

	c.DatabaseURL = p.databaseURL("FLUXHOOK_DATABASE_URL")
	c.NATSURL = p.natsURL("FLUXHOOK_NATS_URL")
	c.RedisURL = p.redisURL("FLUXHOOK_REDIS_URL")
	c.HTTPAddr = p.addr("FLUXHOOK_HTTP_ADDR", DefaultHTTPAddr)
	c.AdminAddr = p.addr("FLUXHOOK_ADMIN_ADDR", DefaultAdminAddr)
	c.JWTSecret = p.jwtSecret("FLUXHOOK_JWT_SECRET")
	c.EncryptionKey = p.encryptionKey("FLUXHOOK_ENCRYPTION_KEY")
	c.MinPasswordLength = int(p.integer("FLUXHOOK_MIN_PASSWORD_LENGTH", DefaultMinPasswordLength, MinPasswordLengthFloor, MaxPasswordLength))
	c.AdminEmail, c.AdminPassword = p.admin("FLUXHOOK_ADMIN_EMAIL", "FLUXHOOK_ADMIN_PASSWORD", c.MinPasswordLength)
	c.PublicURL = p.publicURL("FLUXHOOK_PUBLIC_URL", c.HTTPAddr)
	c.SMTPURL = p.smtpURL("FLUXHOOK_SMTP_URL")
	c.DataDir = p.get("FLUXHOOK_DATA_DIR", DefaultDataDir)
	c.AllowInsecureTargets = p.boolean("FLUXHOOK_ALLOW_INSECURE_TARGETS")
	c.AllowPrivateTargets = p.boolean("FLUXHOOK_ALLOW_PRIVATE_TARGETS")
	c.AllowedTargetCIDRs = p.prefixes("FLUXHOOK_ALLOWED_TARGET_CIDRS")
	c.RetrySchedule = p.retrySchedule("FLUXHOOK_RETRY_SCHEDULE")
	c.LogLevel = p.logLevel("FLUXHOOK_LOG_LEVEL")
	c.LogFormat = p.oneOf("FLUXHOOK_LOG_FORMAT", "json", "json", "text")
	c.ShutdownTimeout = p.duration("FLUXHOOK_SHUTDOWN_TIMEOUT", 25*time.Second)
	c.AccessTokenTTL = p.duration("FLUXHOOK_ACCESS_TOKEN_TTL", 15*time.Minute)
	c.RefreshTokenTTL = p.duration("FLUXHOOK_REFRESH_TOKEN_TTL", 720*time.Hour)
	c.DeliveryTimeout = p.duration("FLUXHOOK_DELIVERY_TIMEOUT", 15*time.Second)
	c.DisableAfter = p.duration("FLUXHOOK_DISABLE_AFTER", 120*time.Hour)
	c.DeliveryRetention = p.duration("FLUXHOOK_DELIVERY_RETENTION", 720*time.Hour)
	c.EventRetention = p.duration("FLUXHOOK_EVENT_RETENTION", 168*time.Hour)
	if c.EventRetention != 0 && c.EventRetention < 24*time.Hour {
		// EVENTS' duplicate window (POST /events idempotency, 24 h) must
		// fit in what it keeps.
		p.errs = append(p.errs, fmt.Errorf("FLUXHOOK_EVENT_RETENTION: %s is shorter than the 24h idempotency window of POST /events; use 24h or more", c.EventRetention))
	}
	c.ReplayRate = int(p.integer("FLUXHOOK_REPLAY_RATE", 100, 1, 100000))
	c.AuthRateLimit = int(p.integer("FLUXHOOK_AUTH_RATE_LIMIT", 20, 1, 1<<31-1))
	c.TrustedProxies = p.prefixes("FLUXHOOK_TRUSTED_PROXIES")
	c.MaxBodyBytes = p.integer("FLUXHOOK_MAX_BODY_BYTES", 1<<20, minMaxBodyBytes, maxMaxBodyBytes)
	c.WorkerConcurrency = int(p.integer("FLUXHOOK_WORKER_CONCURRENCY", 64, 1, maxWorkerConcurrency))
	c.WorkerAckWait = p.duration("FLUXHOOK_WORKER_ACK_WAIT", 30*time.Second)
	c.StreamReplicas = int(p.integer("FLUXHOOK_STREAM_REPLICAS", 1, 1, 5))
	if v := getenv("FLUXHOOK_NATS_SYNC_INTERVAL"); v != "" && v != "always" {
		c.NATSSyncInterval = p.duration("FLUXHOOK_NATS_SYNC_INTERVAL", 0)
	}

	if err := errors.Join(p.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// RequireProductionSecrets reports the secrets that the separate
// binaries (api, dispatcher, worker) must be given: generating them per
// replica would make tokens and stored webhook secrets unreadable to the
// other replicas.
func (c Config) RequireProductionSecrets() error {
	var errs []error
	if len(c.JWTSecret) == 0 {
		errs = append(errs, fmt.Errorf("FLUXHOOK_JWT_SECRET: required: set it to at least %d random bytes (e.g. openssl rand -base64 48), the same on every replica", MinJWTSecretBytes))
	}
	if len(c.EncryptionKey) == 0 {
		errs = append(errs, fmt.Errorf("FLUXHOOK_ENCRYPTION_KEY: required: set it to the base64 of %d random bytes (e.g. openssl rand -base64 32), the same on every replica", EncryptionKeyBytes))
	}
	return errors.Join(errs...)
}

// Require reports what the named binary cannot start without: api,
// dispatcher and worker need a NATS server to connect to, the api both
// shared secrets, the worker the encryption key it opens webhook secrets
// with; the all-in-one generates what it lacks. Checked before start-up,
// which waits for dependencies, so that a missing setting stops the
// process at once.
func (c Config) Require(binary string) error {
	var errs []error
	if binary != "fluxhook" && c.NATSURL == "" {
		errs = append(errs, fmt.Errorf("FLUXHOOK_NATS_URL: required for %s (only the all-in-one fluxhook runs NATS embedded)", binary))
	}
	switch binary {
	case "api":
		errs = append(errs, c.RequireProductionSecrets())
	case "worker":
		if len(c.EncryptionKey) == 0 {
			errs = append(errs, fmt.Errorf("FLUXHOOK_ENCRYPTION_KEY: required: the worker decrypts webhook secrets to sign deliveries; set it to the api's key (the base64 of %d random bytes)", EncryptionKeyBytes))
		}
	}
	return errors.Join(errs...)
}

// SQLitePath returns the database file path when DatabaseURL names a
// SQLite database: sqlite://path, sqlite:path and sqlite:///abs/path.
func (c Config) SQLitePath() (string, bool) {
	return sqlitePath(c.DatabaseURL)
}

// IsPostgres reports whether DatabaseURL names a PostgreSQL database.
func (c Config) IsPostgres() bool {
	s := strings.ToLower(c.DatabaseURL)
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

func sqlitePath(dbURL string) (string, bool) {
	lower := strings.ToLower(dbURL)
	switch {
	case strings.HasPrefix(lower, "sqlite://"):
		// Not url.Parse: "sqlite://./data/x.db" would make "." a host.
		return dbURL[len("sqlite://"):], true
	case strings.HasPrefix(lower, "sqlite:"):
		return dbURL[len("sqlite:"):], true
	}
	return "", false
}
