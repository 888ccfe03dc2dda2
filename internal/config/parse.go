package config

import (
	"encoding/base64"
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
