package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CheckTimeout bounds each readiness check: a probe that hangs would make
// Kubernetes' own probe time out with no hint of which dependency hangs.
const CheckTimeout = 2 * time.Second

// maxCheckErrorLen keeps /readyz bodies short; the full error belongs in
// the logs of the code that failed.
const maxCheckErrorLen = 200

// Health answers the admin port's probes. The zero value is not ready;
// call SetReady(true) once the process has started. Its methods are safe
// for concurrent use.
type Health struct {
	mu     sync.Mutex
	checks []check

	ready    atomic.Bool
	draining atomic.Bool
	// waiting is what start-up waits for, said by /readyz until ready.
	waiting atomic.Pointer[string]
}

type check struct {
	name string
	fn   func(ctx context.Context) error
}

// NewHealth returns a Health that is not ready yet.
func NewHealth() *Health { return &Health{} }

// AddCheck adds a dependency check to /readyz. fn gets a context that
// ends after CheckTimeout and returns nil when the dependency is usable.
func (h *Health) AddCheck(name string, fn func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, check{name: name, fn: fn})
}

// SetReady marks the process as started (or not). It has no effect once
// Drain has been called.
func (h *Health) SetReady(ready bool) { h.ready.Store(ready) }

// Waiting says what start-up is waiting for (a dependency not there
// yet, and why), for /readyz to answer while the process is not ready;
// "" says nothing more than "starting".
func (h *Health) Waiting(reason string) { h.waiting.Store(&reason) }

// Drain makes /readyz fail from now on, so that load balancers and
// Kubernetes stop routing to the process while it finishes in-flight
// work. Call it when shutdown begins, e.g. context.AfterFunc(ctx, h.Drain).
func (h *Health) Drain() { h.draining.Store(true) }

type healthBody struct {
	Status string            `json:"status"`
	Reason string            `json:"reason,omitempty"`
	Checks map[string]string `json:"checks,omitempty"`
}

// ServeHealthz answers liveness: the process is running and serving HTTP.
// It deliberately checks no dependency, so that an outage elsewhere does
// not make Kubernetes restart every pod.
func (h *Health) ServeHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

// ServeReadyz answers readiness: 200 when the process has started, is not
// draining and every check passes; otherwise 503 with each check's result.
func (h *Health) ServeReadyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case h.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "not ready", Reason: "draining"})
		return
	case !h.ready.Load():
		reason := "starting"
		if p := h.waiting.Load(); p != nil && *p != "" {
			reason += ": " + sanitize(*p)
		}
		writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "not ready", Reason: reason})
		return
	}
	results, ok := h.runChecks(r.Context())
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "not ready", Checks: results})
		return
	}
	writeJSON(w, http.StatusOK, healthBody{Status: "ready", Checks: results})
}

func (h *Health) runChecks(ctx context.Context) (map[string]string, bool) {
	h.mu.Lock()
	checks := append([]check(nil), h.checks...)
	h.mu.Unlock()

	results := make(map[string]string, len(checks))
	if len(checks) == 0 {
		return results, true
	}
	type result struct {
		name string
		err  error
	}
	ch := make(chan result, len(checks))
	for _, c := range checks {
		go func() { ch <- result{c.name, runCheck(ctx, c.fn)} }()
	}
	ok := true
	for range checks {
		res := <-ch
		if res.err != nil {
			ok = false
			results[res.name] = "error: " + sanitize(res.err.Error())
			continue
		}
		results[res.name] = "ok"
	}
	return results, ok
}

// runCheck returns by the timeout even if fn ignores its context; such a
// fn's goroutine finishes on its own later.
func runCheck(ctx context.Context, fn func(context.Context) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("check panicked: %v", r)
			}
		}()
		done <- fn(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", CheckTimeout)
	}
}

// userinfo matches the credentials in "scheme://user:password@host".
var userinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@`)

// sanitize keeps a check's error short and free of URL credentials, since
// /readyz is served without authentication.
func sanitize(s string) string {
	s = userinfo.ReplaceAllString(s, "${1}xxxxx@")
	if r := []rune(s); len(r) > maxCheckErrorLen {
		s = string(r[:maxCheckErrorLen]) + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Handler returns the admin port's routes: GET /healthz, GET /readyz and,
// when reg is not nil, GET /metrics serving reg.
//
// The caller owns reg and registers everything on it, including
// collectors.NewGoCollector() and collectors.NewProcessCollector(...):
// this package registers nothing, so several Handlers (as in tests) never
// collide on a registry.
func (h *Health) Handler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", h.ServeHealthz)
	mux.HandleFunc("GET /readyz", h.ServeReadyz)
	if reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			// A failing collector should cost its own series, not the
			// whole scrape.
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
			Timeout:             10 * time.Second,
		}))
	}
	return mux
}

// AdminServer returns the admin port's server on addr (see Handler), with
// timeouts fit for probes and scrapes. Serve it with HTTPServer.
func AdminServer(addr string, h *Health, reg *prometheus.Registry) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h.Handler(reg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}
