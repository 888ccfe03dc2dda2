// Package config reads Fluxhook's FLUXHOOK_* environment variables into a
// Config, once, in each binary's run. Every problem is reported at once,
// each naming its variable, so an operator fixes a deployment in one pass
// instead of one crash loop per mistake. Values that are secrets (or URLs
// that may carry passwords) are never echoed back in error messages.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/retry"
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

// Require reports what the named binary cannot start without: the
// api needs both shared secrets, the worker the encryption key it opens
// webhook secrets with; the all-in-one generates what it lacks.
func (c Config) Require(binary string) error {
	switch binary {
	case "api":
		return c.RequireProductionSecrets()
	case "worker":
		if len(c.EncryptionKey) == 0 {
			return fmt.Errorf("FLUXHOOK_ENCRYPTION_KEY: required: the worker decrypts webhook secrets to sign deliveries; set it to the api's key (the base64 of %d random bytes)", EncryptionKeyBytes)
		}
	}
	return nil
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

// parser collects every problem instead of stopping at the first.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) failf(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(name+": "+format, args...))
}

// get returns the trimmed value, or def when unset or blank. Values
// mounted from files (Kubernetes secrets) often end in a newline that no
// one means.
func (p *parser) get(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) databaseURL(name string) string {
	v := p.get(name, DefaultDatabaseURL)
	if path, ok := sqlitePath(v); ok {
		switch {
		case path == "" || path == "/":
			p.failf(name, "%q has no file path (e.g. sqlite://./data/fluxhook.db)", v)
		case strings.Contains(path, "?"):
			p.failf(name, "%q has query parameters, which SQLite URLs do not take: Fluxhook sets its own pragmas", v)
		}
		return v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		p.failf(name, "%s is neither a postgres:// nor a sqlite:// URL", quoteURL(v))
		return ""
	}
	return v
}

var natsSchemes = map[string]bool{"nats": true, "tls": true, "ws": true, "wss": true}

func (p *parser) natsURL(name string) string {
	v := p.get(name, "")
	if v == "" {
		return ""
	}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		u, err := url.Parse(s)
		if err != nil || !natsSchemes[u.Scheme] || u.Host == "" {
			p.failf(name, "%s is not a nats:// URL (e.g. nats://nats:4222; separate several with commas)", quoteURL(s))
			continue
		}
		if port := u.Port(); port != "" && !validPort(port) {
			p.failf(name, "%s has an invalid port", quoteURL(s))
		}
	}
	return v
}

// redisURL checks what go-redis's ParseURL would refuse, so the mistake
// shows up with the others rather than when the limiter is built.
func (p *parser) redisURL(name string) string {
	v := p.get(name, "")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
		p.failf(name, "%s is not a redis:// or rediss:// URL", quoteURL(v))
		return ""
	}
	if port := u.Port(); port != "" && !validPort(port) {
		p.failf(name, "%s has an invalid port", quoteURL(v))
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			p.failf(name, "%s: the path must be a database number such as /0", quoteURL(v))
		}
	}
	return v
}

func (p *parser) addr(name, def string) string {
	v := p.get(name, def)
	host, port, err := net.SplitHostPort(v)
	if err != nil || strings.ContainsAny(host, " /") {
		p.failf(name, "%q is not a host:port address (e.g. :8080 or 127.0.0.1:8080)", v)
		return v
	}
	if !validPort(port) {
		p.failf(name, "%q: port %q is not a number between 0 and 65535", v, port)
	}
	return v
}

func validPort(s string) bool {
	n, err := strconv.ParseUint(s, 10, 16)
	return err == nil && n <= 65535
}

func (p *parser) jwtSecret(name string) []byte {
	v := p.get(name, "")
	if v == "" {
		return nil
	}
	if len(v) < MinJWTSecretBytes {
		p.failf(name, "is %d bytes long; it must be at least %d (e.g. openssl rand -base64 48)", len(v), MinJWTSecretBytes)
		return nil
	}
	return []byte(v)
}

func (p *parser) encryptionKey(name string) []byte {
	v := p.get(name, "")
	if v == "" {
		return nil
	}
	key, err := decodeKey(v)
	if err != nil {
		p.failf(name, "%v", err)
		return nil
	}
	return key
}

// decodeKey accepts every common base64 flavour, because keys are pasted
// from openssl, from Kubernetes secrets and from URL-safe generators.
func decodeKey(v string) ([]byte, error) {
	encodings := []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	}
	for _, enc := range encodings {
		b, err := enc.DecodeString(v)
		if err != nil {
			continue
		}
		if len(b) != EncryptionKeyBytes {
			return nil, fmt.Errorf("decodes to %d bytes; it must be the base64 of exactly %d (e.g. openssl rand -base64 32)", len(b), EncryptionKeyBytes)
		}
		return b, nil
	}
	return nil, fmt.Errorf("is not valid base64; it must be the base64 of exactly %d bytes (e.g. openssl rand -base64 32)", EncryptionKeyBytes)
}

func (p *parser) admin(emailName, passwordName string, minPassword int) (string, string) {
	email := p.get(emailName, "")
	// Spaces may be part of a password: only an all-blank value counts as
	// unset.
	password := p.getenv(passwordName)
	if strings.TrimSpace(password) == "" {
		password = ""
	}
	switch {
	case email == "" && password == "":
		return "", ""
	case email == "":
		p.failf(emailName, "required when %s is set", passwordName)
	case password == "":
		p.failf(passwordName, "required when %s is set", emailName)
	}
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			p.failf(emailName, "%q is not an email address", email)
		}
	}
	// The admin is a user like the others: the same minimum, checked here
	// so a short one stops start-up with the other configuration problems.
	if password != "" && utf8.RuneCountInString(password) < minPassword {
		p.failf(passwordName, "is %d characters long; it must be at least %d (FLUXHOOK_MIN_PASSWORD_LENGTH)", utf8.RuneCountInString(password), minPassword)
	}
	return email, password
}

func (p *parser) publicURL(name, httpAddr string) string {
	v := p.get(name, "")
	if v == "" {
		// Only meaningful when the HTTP address is valid; otherwise its
		// own error has been reported.
		if _, port, err := net.SplitHostPort(httpAddr); err == nil {
			return "http://localhost:" + port
		}
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.failf(name, "%q is not an absolute http:// or https:// URL", v)
		return ""
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		p.failf(name, "%q must not have user info, a query or a fragment: links are built by appending paths", v)
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (p *parser) smtpURL(name string) *url.URL {
	v := p.get(name, "")
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		p.failf(name, "%s is not an smtp:// or smtps:// URL with a host", quoteURL(v))
		return nil
	}
	if port := u.Port(); port != "" && !validPort(port) {
		p.failf(name, "%s has an invalid port", quoteURL(v))
		return nil
	}
	return u
}

func (p *parser) boolean(name string) bool {
	v := p.get(name, "")
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.failf(name, "%q is not a boolean (true or false)", v)
	}
	return b
}

// retrySchedule parses the retry schedule; package retry owns its syntax.
func (p *parser) retrySchedule(name string) []time.Duration {
	d, err := retry.Parse(p.get(name, ""))
	if err != nil {
		p.failf(name, "%v", err)
	}
	return d
}

func (p *parser) logLevel(name string) slog.Level {
	switch v := strings.ToLower(p.get(name, "info")); v {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		p.failf(name, "%q is not one of debug, info, warn, error", v)
		return slog.LevelInfo
	}
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(p.get(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.failf(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := p.get(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.failf(name, "%q is not a positive Go duration (e.g. 30s, 15m, 720h)", v)
		return def
	}
	return d
}

func (p *parser) integer(name string, def, lo, hi int64) int64 {
	v := p.get(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		p.failf(name, "%q is not a whole number between %d and %d", v, lo, hi)
		return def
	}
	return n
}

func (p *parser) prefixes(name string) []netip.Prefix {
	v := p.get(name, "")
	if v == "" {
		return nil
	}
	var out []netip.Prefix
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				p.failf(name, "%q is not a CIDR or IP address", s)
				continue
			}
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			p.failf(name, "%q is not a CIDR or IP address", s)
			continue
		}
		// A peer's address arrives unmapped from net/http; an IPv4 entry
		// written as ::ffff:a.b.c.d must still match it.
		addr = addr.Unmap()
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out
}

// quoteURL quotes a URL for an error message with any password replaced,
// because these messages end up in logs.
func quoteURL(s string) string {
	u, err := url.Parse(s)
	if err == nil {
		return strconv.Quote(u.Redacted())
	}
	// Unparseable, so find the user info by hand: anything between "://"
	// and the last "@" before the path may hold a password.
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			rest = rest[:j]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			s = s[:i+3] + "xxxxx" + s[i+3+at:]
		}
	}
	return strconv.Quote(s)
}
