// Package httpapi is Fluxhook's HTTP API (shared/API.md): routes,
// authentication, request decoding and the mapping of application errors
// to statuses and bodies. Handlers return errors; one function turns
// them into responses.
package httpapi

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	ui "github.com/fluxhook/fluxhook/internal/dashboard"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/prometheus/client_golang/prometheus"
)

// Options are the server's settings.
type Options struct {
	MaxBodyBytes   int64          // request body limit
	TrustedProxies []netip.Prefix // peers whose X-Forwarded-For is believed
	AuthRateLimit  int            // sign-in/sign-up/reset attempts per minute per client IP
	CORSOrigins    []string       // allowed browser origins; "*" for any
	PublishTimeout time.Duration  // wait for JetStream's PubAck in POST /events (default 10 s)
	// UserAgent is what deliveries send as User-Agent, shown among a
	// delivery's headers in the dashboard; "" leaves it out.
	UserAgent string
	// PublicURL is where users reach the API (FLUXHOOK_PUBLIC_URL): its
	// origin is the dashboard's, whatever Host a proxy in front sends,
	// and https there makes the session cookie Secure.
	PublicURL string
	// RequestTimeout bounds one request's wait for what it depends on
	// (default DefaultRequestTimeout); it must exceed the outbound
	// timeout of POST /webhooks/{id}/test, whose answer reports a slow
	// endpoint itself.
	RequestTimeout time.Duration
}

// DefaultRequestTimeout is Options.RequestTimeout's default.
const DefaultRequestTimeout = 15 * time.Second

// Deps are the server's collaborators.
type Deps struct {
	Accounts *account.Service
	Keys     *clientkey.Service
	Webhooks *webhooks.Service
	Tokens   *auth.Tokens
	// KeyLimiter enforces each client key's rate_limit_per_minute; it
	// should fail open (a Redis outage must not take the API down).
	KeyLimiter ratelimit.Limiter
	// AuthLimiter limits sign-in, sign-up and password-reset attempts per
	// client IP. It should fail closed.
	AuthLimiter ratelimit.Limiter
	Logger      *slog.Logger
	Registry    prometheus.Registerer

	// Events stores the events published through POST /events.
	Events EventPublisher
	// Deliveries tests webhooks and retries deliveries by hand; Attempts
	// reads the delivery log.
	Deliveries Deliveries
	Attempts   AttemptLog
	// Replays runs replays and bulk retries; nil answers their routes
	// with 501.
	Replays Replays
}

// Server serves the API.
type Server struct {
	accounts    *account.Service
	keys        *clientkey.Service
	webhooks    *webhooks.Service
	keyLimiter  ratelimit.Limiter
	tokens      *auth.Tokens
	authLimiter ratelimit.Limiter
	events      EventPublisher
	logger      *slog.Logger
	metrics     *httpMetrics
	opts        Options
	handler     http.Handler
	deliveries  Deliveries
	attempts    AttemptLog
	log         DeliveryLog
	replays     Replays
}

// New returns a Server.
func New(d Deps, opts Options) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.AuthRateLimit <= 0 {
		opts.AuthRateLimit = 20
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	s := &Server{replays: d.Replays, deliveries: d.Deliveries, attempts: d.Attempts, log: d.Attempts, accounts: d.Accounts, keys: d.Keys, webhooks: d.Webhooks, keyLimiter: d.KeyLimiter, tokens: d.Tokens, authLimiter: d.AuthLimiter, events: d.Events, logger: d.Logger,
		metrics: newHTTPMetrics(d.Registry), opts: opts}
	api := secure(s.cors(s.limitHeaders(s.limitBody(s.routes()))))
	s.handler = s.observe(apiOrDashboard(api, ui.Handler()))
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// jsonMux is a ServeMux whose own 404 and 405 answers are JSON errors
// like every other answer of the API.
type jsonMux struct {
	*http.ServeMux
	s *Server
}

// handle routes pattern to h. Every request waits at most
// Options.RequestTimeout for what it depends on. Without it a database
// that hangs rather than refuses (a network partition, a frozen server)
// held every request that needed it, POST /events included once its
// client key left the cache, until the client or the server's
// WriteTimeout gave up: make chaos's pg-unreachable saw publishes
// unanswered after 30 s. With it they are answered 503 with
// Retry-After, as when the database refuses. POST /events waits for
// JetStream within it (PublishTimeout, 10 s).
func (m jsonMux) handle(pattern string, h handlerFunc) {
	m.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), m.s.opts.RequestTimeout)
		defer cancel()
		if err := h(w, r.WithContext(ctx)); err != nil {
			if fluxhook.ErrorKind(err) == fluxhook.KindInternal && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				err = fluxhook.Unavailable("request deadline", err)
			}
			m.s.writeError(w, r, err)
		}
	}))
}

func (m jsonMux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := m.Handler(r); pattern == "" {
		// Let the mux decide between 404 and 405 (and set Allow), then
		// replace its plain-text body.
		rec := &captureWriter{header: http.Header{}}
		m.ServeMux.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if rec.status == http.StatusMethodNotAllowed {
			writeJSON(w, rec.status, map[string]any{"error": "The method " + r.Method + " is not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow") + ".", "code": "METHOD_NOT_ALLOWED"})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "There is no API endpoint " + r.Method + " " + r.URL.Path + ".", "code": "ROUTE_NOT_FOUND"})
		return
	}
	m.ServeMux.ServeHTTP(w, r)
}

type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) Write(b []byte) (int, error) { return c.body.Write(b) }
func (c *captureWriter) WriteHeader(code int)        { c.status = code }

// perIP limits password-guessing endpoints by client IP.
func (s *Server) perIP(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		limit := ratelimit.PerMinute(s.opts.AuthRateLimit)
		d, err := s.authLimiter.Allow(r.Context(), "auth:"+s.clientIP(r).String(), limit)
		if err != nil && d.Allowed {
			s.logger.Warn("auth rate limiter degraded", "err", err)
		}
		if !d.Allowed {
			setRateHeaders(w, d, limit)
			return rateLimited(d)
		}
		return h(w, r)
	}
}

func rateLimited(d ratelimit.Decision) error {
	ra := d.RetryAfter
	if ra < time.Second {
		ra = time.Second
	}
	return &fluxhook.Error{Kind: fluxhook.KindRateLimited, Code: "RATE_LIMIT_EXCEEDED", Message: "Rate limit exceeded", RetryAfter: ra}
}

// setRateHeaders writes the X-RateLimit-* headers and the IETF
// RateLimit-Policy / RateLimit fields.
func setRateHeaders(w http.ResponseWriter, d ratelimit.Decision, l ratelimit.Limit) {
	h := w.Header()
	reset := strconv.Itoa(int(math.Ceil(d.ResetAfter.Seconds())))
	window := strconv.Itoa(int(l.Period / time.Second))
	h.Set("X-RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-RateLimit-Reset", reset)
	h.Set("RateLimit-Policy", `"default";q=`+strconv.Itoa(d.Limit)+`;w=`+window)
	h.Set("RateLimit", `"default";r=`+strconv.Itoa(d.Remaining)+`;t=`+reset)
}
