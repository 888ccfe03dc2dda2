package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/prometheus/client_golang/prometheus"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// validRequestID accepts a caller's X-Request-Id when it is short and
// plain, so it can be logged and echoed without risk.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpMetrics are the API's request metrics. Labels are the route
// pattern (bounded), never the raw path.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxhook_http_requests_total",
			Help: "HTTP requests served by the API, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fluxhook_http_request_duration_seconds",
			Help:    "Time to serve an API request, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fluxhook_http_requests_in_flight",
			Help: "API requests being served now.",
		}),
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// observe is the outermost middleware: it gives the request an id,
// recovers panics into a 500 that leaks nothing, and records the access
// log line and the metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.inflight.Inc()
		defer func() {
			s.metrics.inflight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request", slog.String("request_id", id),
					slog.String("route", r.Pattern), slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
				if sw.status == 0 {
					s.writeError(sw, r, &fluxhook.Error{Kind: fluxhook.KindInternal, Err: fmt.Errorf("panic: %v", p)})
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			code := strconv.Itoa(sw.status)
			s.metrics.requests.WithLabelValues(route, r.Method, code).Inc()
			s.metrics.duration.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelWarn
			}
			s.logger.LogAttrs(r.Context(), level, "request", slog.String("request_id", id), slog.String("method", r.Method),
				slog.String("route", route), slog.Int("status", sw.status), slog.Int("bytes", sw.bytes),
				slog.Duration("duration", elapsed), slog.String("ip", s.clientIP(r).String()))
		}()
		next.ServeHTTP(sw, r)
	})
}

// MaxHeaderBytes is the most request line and header bytes the API
// accepts; above it the answer is 431 with the API's JSON error body.
// ServerMaxHeaderBytes is what the http.Server serving the API must be
// given as its own MaxHeaderBytes: net/http answers requests over its
// limit itself, in plain text and before any handler runs (so without
// X-Request-Id), and its limit must therefore sit well above ours.
const (
	MaxHeaderBytes       = 64 << 10
	ServerMaxHeaderBytes = 1 << 20
)

// limitHeaders answers a request whose headers are over MaxHeaderBytes.
func (s *Server) limitHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if headerBytes(r) > MaxHeaderBytes {
			// The connection may carry more of the same; do not keep it.
			w.Header().Set("Connection", "close")
			s.writeError(w, r, fluxhook.Errorf(kindHeadersTooLarge, "REQUEST_HEADERS_TOO_LARGE",
				"The request's headers are larger than the limit of %d bytes.", MaxHeaderBytes))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headerBytes is about what the request line and headers took on the
// wire, counted the way net/http counts against its own limit.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: ") + len(r.Host) + 2
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + len(v) + 4
		}
	}
	return n
}

// limitBody caps every request body; decode turns the overflow into 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBodyBytes {
			s.writeError(w, r, fluxhook.Errorf(fluxhook.KindTooLarge, "PAYLOAD_TOO_LARGE", "The request body is larger than the limit of %d bytes.", s.opts.MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// cors lets browser apps (the SDK runs in browsers) call the API. Auth is
// by header, not cookie, so no credentials are allowed.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && s.originAllowed(origin) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, PUT, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, apikey, X-Client-Key, X-Request-Id, Idempotency-Key, X-Client-Info, Prefer")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.opts.CORSOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

// secure sets headers that cost nothing and close whole classes of
// browser attacks on a JSON API.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}
