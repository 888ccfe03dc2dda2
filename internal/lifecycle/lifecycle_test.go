package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRun(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		// first returns on its own; the others block until cancelled.
		first     Func
		cancelCtx bool
		wantErr   error  // errors.Is target; nil means Run returns nil
		wantMsg   string // prefix the error must carry
	}{
		{"error cancels the others", func(ctx context.Context) error { return boom }, false, boom, "failing: boom"},
		{"nil return cancels the others", func(ctx context.Context) error { return nil }, false, nil, ""},
		{"panic becomes an error", func(ctx context.Context) error { panic("kaput") }, false, errAny, "failing: panic: kaput"},
		{"context cancel is not an error", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }, true, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			var stopped atomic.Int32
			blocker := Func(func(ctx context.Context) error {
				<-ctx.Done()
				stopped.Add(1)
				return ctx.Err()
			})
			if tt.cancelCtx {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			err := Run(ctx, nil,
				Named{"a", blocker},
				Named{"failing", tt.first},
				Named{"b", blocker},
			)
			if got := stopped.Load(); got != 2 {
				t.Errorf("%d blocked components stopped before Run returned, want 2", got)
			}
			if ctx.Err() == context.DeadlineExceeded {
				t.Fatal("Run only returned at the test deadline")
			}
			switch {
			case tt.wantErr == nil:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case err == nil:
				t.Errorf("Run = nil, want an error")
			default:
				if tt.wantErr != errAny && !errors.Is(err, tt.wantErr) {
					t.Errorf("Run = %v, want errors.Is %v", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), tt.wantMsg) {
					t.Errorf("Run = %q, want prefix %q", err, tt.wantMsg)
				}
			}
		})
	}
}

var errAny = errors.New("any error")

func TestRunReturnsFirstError(t *testing.T) {
	first := errors.New("first")
	err := Run(context.Background(), nil,
		Named{"early", Func(func(ctx context.Context) error { return first })},
		Named{"late", Func(func(ctx context.Context) error {
			<-ctx.Done()
			return errors.New("failed while stopping")
		})},
	)
	if !errors.Is(err, first) || !strings.HasPrefix(err.Error(), "early: ") {
		t.Errorf("Run = %v, want early's error", err)
	}
}

// startServer runs HTTPServer on a port-0 listener under Run and returns
// its URL, a function that begins shutdown, and the channel Run's result
// arrives on.
func startServer(t *testing.T, h http.Handler, shutdownTimeout time.Duration) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go func() { done <- Run(ctx, nil, Named{"http", HTTPServer(srv, ln, shutdownTimeout)}) }()
	return "http://" + ln.Addr().String(), cancel, done
}

func TestHTTPServerGracefulShutdown(t *testing.T) {
	tests := []struct {
		name            string
		handlerTakes    time.Duration
		shutdownTimeout time.Duration
		wantCompleted   bool
	}{
		{"in-flight request finishes", 300 * time.Millisecond, 5 * time.Second, true},
		{"request past the timeout is cut off", 5 * time.Second, 100 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				select {
				case <-time.After(tt.handlerTakes):
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "finished")
			})
			url, stop, done := startServer(t, h, tt.shutdownTimeout)

			type result struct {
				body string
				err  error
			}
			got := make(chan result, 1)
			go func() {
				resp, err := http.Get(url)
				if err != nil {
					got <- result{err: err}
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				got <- result{string(b), err}
			}()
			<-started
			stop()

			res := <-got
			runErr := <-done
			if tt.wantCompleted {
				if res.err != nil || res.body != "finished" {
					t.Errorf("in-flight request: body %q, err %v; want it to finish", res.body, res.err)
				}
				if runErr != nil {
					t.Errorf("Run = %v, want nil", runErr)
				}
			} else {
				if res.err == nil {
					t.Errorf("request completed with %q, want it cut off", res.body)
				}
				if runErr == nil || !strings.Contains(runErr.Error(), "did not finish") {
					t.Errorf("Run = %v, want a shutdown timeout error", runErr)
				}
			}
			// The listener is closed: new connections are refused.
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
				t.Error("server still accepts requests after shutdown")
			}
		})
	}
}

type probe struct {
	Status string            `json:"status"`
	Reason string            `json:"reason"`
	Checks map[string]string `json:"checks"`
}

func get(t *testing.T, h http.Handler, path string) (int, probe, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var p probe
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: body %q: %v", path, rec.Body, err)
		}
	}
	return rec.Code, p, rec.Body.String()
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	dbDown := func(context.Context) error {
		return errors.New(`dial postgres://fluxhook:s3cr3tpw@db:5432/x: connection refused`)
	}
	hangs := func(ctx context.Context) error { time.Sleep(10 * time.Second); return nil }

	tests := []struct {
		name       string
		ready      bool
		drain      bool
		checks     map[string]func(context.Context) error
		wantCode   int
		wantStatus string
		wantChecks map[string]string // prefixes of each check's result
	}{
		{"all checks pass", true, false, map[string]func(context.Context) error{"db": ok, "nats": ok}, 200, "ready", map[string]string{"db": "ok", "nats": "ok"}},
		{"no checks", true, false, nil, 200, "ready", nil},
		{"a check fails", true, false, map[string]func(context.Context) error{"db": dbDown, "nats": ok}, 503, "not ready", map[string]string{"db": "error: dial postgres://xxxxx@db:5432/x: connection refused", "nats": "ok"}},
		{"a check hangs", true, false, map[string]func(context.Context) error{"slow": hangs}, 503, "not ready", map[string]string{"slow": "error: no answer within 2s"}},
		{"not started", false, false, map[string]func(context.Context) error{"db": ok}, 503, "not ready", nil},
		{"draining", true, true, map[string]func(context.Context) error{"db": ok}, 503, "not ready", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHealth()
			for name, fn := range tt.checks {
				h.AddCheck(name, fn)
			}
			h.SetReady(tt.ready)
			if tt.drain {
				h.Drain()
			}
			start := time.Now()
			code, p, body := get(t, h.Handler(nil), "/readyz")
			if took := time.Since(start); took > CheckTimeout+time.Second {
				t.Errorf("/readyz took %s", took)
			}
			if code != tt.wantCode || p.Status != tt.wantStatus {
				t.Errorf("/readyz = %d %q, want %d %q (body %s)", code, p.Status, tt.wantCode, tt.wantStatus, body)
			}
			if len(p.Checks) != len(tt.wantChecks) {
				t.Errorf("checks = %v, want %v", p.Checks, tt.wantChecks)
			}
			for name, want := range tt.wantChecks {
				if p.Checks[name] != want {
					t.Errorf("check %s = %q, want %q", name, p.Checks[name], want)
				}
			}
			if strings.Contains(body, "s3cr3tpw") {
				t.Errorf("body reveals a password: %s", body)
			}
		})
	}
}

func TestReadyzRunsChecksInParallel(t *testing.T) {
	h := NewHealth()
	for _, name := range []string{"a", "b", "c", "d"} {
		h.AddCheck(name, func(ctx context.Context) error { time.Sleep(500 * time.Millisecond); return nil })
	}
	h.SetReady(true)
	start := time.Now()
	code, _, _ := get(t, h.Handler(nil), "/readyz")
	if took := time.Since(start); code != 200 || took > 1500*time.Millisecond {
		t.Errorf("/readyz = %d after %s; four 500 ms checks in parallel should take about 500 ms", code, took)
	}
}

func TestDrainStopsReadiness(t *testing.T) {
	h := NewHealth()
	h.SetReady(true)
	handler := h.Handler(nil)
	if code, _, _ := get(t, handler, "/readyz"); code != 200 {
		t.Fatalf("before Drain: /readyz = %d", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	context.AfterFunc(ctx, h.Drain)
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for code, _, _ := get(t, handler, "/readyz"); code == 200 && time.Now().Before(deadline); code, _, _ = get(t, handler, "/readyz") {
		time.Sleep(time.Millisecond)
	}
	h.SetReady(true) // a late SetReady must not undo draining
	if code, p, _ := get(t, handler, "/readyz"); code != 503 || p.Reason != "draining" {
		t.Errorf("after Drain: /readyz = %d %+v, want 503 draining", code, p)
	}
	if code, p, _ := get(t, handler, "/healthz"); code != 200 || p.Status != "ok" {
		t.Errorf("after Drain: /healthz = %d %+v, want 200 ok: the process is still alive", code, p)
	}
}

func TestAdminServer(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "fluxhook_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)

	h := NewHealth()
	h.SetReady(true)
	h.AddCheck("db", func(context.Context) error { return nil })
	url, stop, done := startServer(t, AdminServer("", h, reg).Handler, 5*time.Second)

	tests := []struct {
		method, path string
		wantCode     int
		wantBody     string
	}{
		{"GET", "/healthz", 200, `{"status":"ok"}`},
		{"GET", "/readyz", 200, `{"status":"ready","checks":{"db":"ok"}}`},
		{"GET", "/metrics", 200, "fluxhook_test_things_total 3"},
		{"POST", "/healthz", 405, ""},
		{"GET", "/nothing", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if !strings.Contains(string(b), tt.wantBody) {
				t.Errorf("body %q does not contain %q", b, tt.wantBody)
			}
		})
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestHTTPServerListensOnAddr(t *testing.T) {
	// Reserve a free port, then let the component listen on it itself.
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	h := NewHealth()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- HTTPServer(AdminServer(addr, h, nil), nil, time.Second).Run(ctx) }()
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}

	// A busy address fails the component at once.
	busy, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	err = HTTPServer(&http.Server{Addr: busy.Addr().String()}, nil, time.Second).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("busy address: Run = %v, want an error naming it", err)
	}
}

func TestRunStarting(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		start   func(ctx context.Context, firstRan *atomic.Bool) ([]Named, error)
		cancel  bool // ctx ends while start waits
		wantErr string
		wantRan bool // the component start returned ran
	}{
		{"start's components join the first", func(ctx context.Context, _ *atomic.Bool) ([]Named, error) {
			return []Named{{"late", Func(func(ctx context.Context) error { return boom })}}, nil
		}, false, "late: boom", true},
		{"a failed start stops the first", func(ctx context.Context, _ *atomic.Bool) ([]Named, error) {
			return nil, boom
		}, false, "start: boom", false},
		{"a panicking start stops the first", func(ctx context.Context, _ *atomic.Bool) ([]Named, error) {
			panic("kaput")
		}, false, "start: panic: kaput", false},
		{"stopped while starting is a clean stop", func(ctx context.Context, _ *atomic.Bool) ([]Named, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("waiting for NATS: %w", ctx.Err())
		}, true, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var firstRunning, firstStopped, lateRan atomic.Bool
			first := Func(func(ctx context.Context) error {
				firstRunning.Store(true)
				<-ctx.Done()
				firstStopped.Store(true)
				return ctx.Err()
			})
			err := RunStarting(ctx, nil, func(ctx context.Context) ([]Named, error) {
				for !firstRunning.Load() { // the first run while start-up waits
					time.Sleep(time.Millisecond)
				}
				if tt.cancel {
					cancel()
				}
				more, err := tt.start(ctx, &firstRunning)
				for i, nc := range more {
					more[i].Component = Func(func(ctx context.Context) error { lateRan.Store(true); return nc.Component.Run(ctx) })
				}
				return more, err
			}, Named{"admin", first})
			if ctx.Err() == context.DeadlineExceeded {
				t.Fatal("RunStarting only returned at the test deadline")
			}
			if !firstStopped.Load() {
				t.Error("the first component was still running when RunStarting returned")
			}
			if lateRan.Load() != tt.wantRan {
				t.Errorf("start's component ran: %v, want %v", lateRan.Load(), tt.wantRan)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
				t.Errorf("err = %v, want one starting %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadyzSaysWhatStartUpWaitsFor(t *testing.T) {
	h := NewHealth()
	h.Waiting("waiting for the database (attempt 3): dial postgres://fluxhook:s3cr3t@db:5432/x: connection refused")
	code, p, body := get(t, h.Handler(nil), "/readyz")
	if code != 503 || p.Reason != "starting: waiting for the database (attempt 3): dial postgres://xxxxx@db:5432/x: connection refused" {
		t.Errorf("/readyz = %d %s", code, body)
	}
	h.Waiting("")
	if _, p, body := get(t, h.Handler(nil), "/readyz"); p.Reason != "starting" {
		t.Errorf("/readyz after Waiting(\"\") = %s, want the reason \"starting\"", body)
	}
	if code, _, _ := get(t, h.Handler(nil), "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while starting, want 200: a process waiting for a dependency is alive", code)
	}
}
