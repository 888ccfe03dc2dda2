package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/google/uuid"
)

// ---------------------------------------------------------------------
// HTTP calls.

var httpClient = &http.Client{Timeout: 30 * time.Second}

// doJSON sends a JSON request and returns the status, headers and raw
// body, or the transport error. Safe in any goroutine.
func doJSON(ctx context.Context, c *http.Client, method, url string, body any, h map[string]string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		js, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

func bearer(token string) map[string]string {
	if token == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + token}
}

// call sends a JSON request to api (the /api/v1 base URL) with a bearer
// token (a JWT or an fbk_ key; "" for none) and decodes the JSON answer.
// It fails the test on a transport error, so it is for the test's own
// goroutine.
func call(t testing.TB, method, url string, body any, token string) (int, http.Header, map[string]any) {
	t.Helper()
	st, h, b, err := doJSON(context.Background(), httpClient, method, url, body, bearer(token))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return st, h, out
}

// mustCall is call expecting status want.
func mustCall(t testing.TB, want int, method, url string, body any, token string) map[string]any {
	t.Helper()
	st, _, out := call(t, method, url, body, token)
	if st != want {
		t.Fatalf("%s %s: %d %v, want %d", method, url, st, out, want)
	}
	return out
}

// metric returns the value of one series from a /metrics page (0 when absent).
func metric(t testing.TB, adminURL, series string) float64 {
	t.Helper()
	res, err := httpClient.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// metricLines returns the /metrics lines containing every one of parts.
func metricLines(t testing.TB, adminURL string, parts ...string) []string {
	t.Helper()
	res, err := httpClient.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out []string
next:
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

// ---------------------------------------------------------------------
// Management helpers.

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct-horse-admin-battery"
	userPassword  = "correct-horse-battery"
)

// SignUp signs a user up and returns the user's id and access token.
func SignUp(t testing.TB, api, email string) (id, access string) {
	t.Helper()
	out := mustCall(t, 201, "POST", api+"/auth/signup", map[string]string{"email": email, "password": userPassword, "name": "E2E User"}, "")
	u, _ := out["user"].(map[string]any)
	id, _ = u["id"].(string)
	access, _ = out["access_token"].(string)
	return id, access
}

// SignIn signs a user in and returns the access token.
func SignIn(t testing.TB, api, email string) string {
	t.Helper()
	out := mustCall(t, 200, "POST", api+"/auth/signin", map[string]string{"email": email, "password": userPassword}, "")
	s, _ := out["access_token"].(string)
	return s
}

// AdminLogin signs the configured dashboard admin in and returns the
// access token.
func AdminLogin(t testing.TB, api string) string {
	t.Helper()
	out := mustCall(t, 200, "POST", api+"/admin/login", map[string]string{"email": adminEmail, "password": adminPassword}, "")
	s, _ := out["access_token"].(string)
	if s == "" {
		t.Fatalf("admin login: no access_token in %v", out)
	}
	return s
}

// WebhookSpec is what CreateWebhook creates.
type WebhookSpec struct {
	URL                string
	Secret             string
	Events             []string // default ["*"]
	RateLimitPerSecond int      // 0: none
}

// CreateWebhook creates a webhook owned by token's user and returns its id.
func CreateWebhook(t testing.TB, api, token string, s WebhookSpec) string {
	t.Helper()
	if s.Events == nil {
		s.Events = []string{"*"}
	}
	body := map[string]any{"url": s.URL, "events": s.Events, "secret": s.Secret, "description": "e2e receiver"}
	if s.RateLimitPerSecond > 0 {
		body["rate_limit_per_second"] = s.RateLimitPerSecond
	}
	out := mustCall(t, 201, "POST", api+"/webhooks", body, token)
	if out["secret"] != s.Secret {
		t.Fatalf("create webhook: the response's secret %v is not the one given", out["secret"])
	}
	id, _ := out["id"].(string)
	return id
}

// CreateClientKey creates a client key (100,000 requests a minute) and
// returns the full key.
func CreateClientKey(t testing.TB, api, token string, scopes ...string) string {
	t.Helper()
	out := mustCall(t, 201, "POST", api+"/client-keys", map[string]any{"name": "e2e", "scopes": scopes, "rate_limit_per_minute": 100000}, token)
	k, _ := out["key"].(string)
	if !strings.HasPrefix(k, "fbk_") {
		t.Fatalf("create client key: no key in %v", out)
	}
	return k
}

// Delivery is one record of GET /webhooks/{id}/deliveries.
type Delivery struct {
	ID            string     `json:"id"`
	DeliveryID    string     `json:"delivery_id"`
	WebhookID     string     `json:"webhook_id"`
	Event         string     `json:"event"`
	EventID       string     `json:"event_id"`
	Status        string     `json:"status"`
	Attempt       int        `json:"attempt"`
	StatusCode    *int       `json:"status_code"`
	Error         *string    `json:"error"`
	CreatedAt     time.Time  `json:"created_at"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
}

// Deliveries lists a webhook's delivery log (newest first).
func Deliveries(t testing.TB, api, token, webhookID string, limit int) []Delivery {
	t.Helper()
	st, _, b, err := doJSON(context.Background(), httpClient, "GET", fmt.Sprintf("%s/webhooks/%s/deliveries?limit=%d", api, webhookID, limit), nil, bearer(token))
	if err != nil {
		t.Fatal(err)
	}
	if st != 200 {
		t.Fatalf("GET /webhooks/%s/deliveries: %d %s", webhookID, st, b)
	}
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET deliveries: %v: %s", err, b)
	}
	return out.Deliveries
}

// Publish publishes one event through POST /events and returns the status
// and body.
func Publish(t testing.TB, api, key, event, id string, data map[string]any) (int, map[string]any) {
	t.Helper()
	st, _, out := call(t, "POST", api+"/events", map[string]any{"event": event, "data": data, "id": id}, key)
	return st, out
}

// newIDs returns n fresh event ids (UUIDv7).
func newIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	return ids
}

// ---------------------------------------------------------------------
// Publisher: many events through POST /events, retrying what may be
// retried.

// Response is one answer (or transport error) to POST /events.
type Response struct {
	ID         string
	Status     int // 0: transport error
	Err        string
	RetryAfter string
	Start, End time.Time
}

// Publisher publishes events through POST /events with bounded
// concurrency. 503 and 429 (honouring Retry-After, up to 1 s) and
// transport errors are retried with the same id, which the API's
// idempotency makes safe; any other answer but 202 stops the run.
type Publisher struct {
	API         string
	Key         string
	Event       string
	Concurrency int           // default 32
	Interval    time.Duration // minimum time between starting two events (0: as fast as possible)
	GiveUp      time.Duration // per event (default 2 min)

	Accepted atomic.Int64

	mu        sync.Mutex
	responses []Response
}

// Run publishes one event per id, with data {"e2e": id, "seq": i}.
func (p *Publisher) Run(ctx context.Context, ids []string) error {
	if p.Concurrency == 0 {
		p.Concurrency = 32
	}
	if p.GiveUp == 0 {
		p.GiveUp = 2 * time.Minute
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: p.Concurrency, MaxIdleConns: p.Concurrency, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	jobs := make(chan int)
	go func() {
		defer close(jobs)
		var tick <-chan time.Time
		if p.Interval > 0 {
			tk := time.NewTicker(p.Interval)
			defer tk.Stop()
			tick = tk.C
		}
		for i := range ids {
			if tick != nil && i > 0 {
				select {
				case <-tick:
				case <-ctx.Done():
					return
				}
			}
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range p.Concurrency {
		wg.Go(func() {
			for i := range jobs {
				if err := p.one(ctx, client, ids[i], i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if n := p.Accepted.Load(); int(n) != len(ids) {
		return fmt.Errorf("%d of %d events accepted", n, len(ids))
	}
	return nil
}

func (p *Publisher) one(ctx context.Context, c *http.Client, id string, seq int) error {
	body := map[string]any{"event": p.Event, "data": map[string]any{"e2e": id, "seq": seq}, "id": id}
	h := map[string]string{"Authorization": "Bearer " + p.Key}
	giveUp := time.Now().Add(p.GiveUp)
	for {
		r := Response{ID: id, Start: time.Now()}
		st, hdr, b, err := doJSON(ctx, c, "POST", p.API+"/events", body, h)
		r.End, r.Status = time.Now(), st
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.Err = err.Error()
		} else {
			r.RetryAfter = hdr.Get("Retry-After")
		}
		p.mu.Lock()
		p.responses = append(p.responses, r)
		p.mu.Unlock()
		wait := 100 * time.Millisecond
		switch {
		case err != nil:
		case st == http.StatusAccepted:
			p.Accepted.Add(1)
			return nil
		case st == http.StatusServiceUnavailable || st == http.StatusTooManyRequests:
			if s, err := strconv.Atoi(r.RetryAfter); err == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, time.Second)
			}
		case st == http.StatusNotFound || st == http.StatusMethodNotAllowed || st == http.StatusNotImplemented:
			return fmt.Errorf("POST /api/v1/events answered %d %s: the ingestion endpoint is not there yet", st, b)
		default:
			return fmt.Errorf("POST /api/v1/events (id %s) answered %d %s, want 202 (or 503 while a dependency is down)", id, st, b)
		}
		if time.Now().After(giveUp) {
			return fmt.Errorf("event %s not accepted within %v (last: %d %s)", id, p.GiveUp, r.Status, r.Err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}

// Responses returns every answer so far.
func (p *Publisher) Responses() []Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Response(nil), p.responses...)
}

// Summary counts the answers by status ("err" for transport errors).
func (p *Publisher) Summary() map[string]int {
	out := map[string]int{}
	for _, r := range p.Responses() {
		if r.Status == 0 {
			out["err"]++
		} else {
			out[strconv.Itoa(r.Status)]++
		}
	}
	return out
}

// runPublisher starts p.Run in a goroutine; the returned channel yields
// its error.
func runPublisher(p *Publisher, ids []string) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Run(context.Background(), ids) }()
	return ch
}

// waitAccepted waits until at least n events were accepted, or the
// publisher ended, failing the test on a publisher error or timeout.
func waitAccepted(t testing.TB, p *Publisher, done <-chan error, n int64, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for p.Accepted.Load() < n {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("publishing: %v", err)
			}
			t.Fatalf("the publisher ended with %d events accepted, before %d", p.Accepted.Load(), n)
		case <-deadline:
			t.Fatalf("only %d events accepted after %v, waiting for %d (answers: %v)", p.Accepted.Load(), timeout, n, p.Summary())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitPublished waits for the publisher to end, failing on an error.
func waitPublished(t testing.TB, p *Publisher, done <-chan error, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("publishing: %v (answers: %v)", err, p.Summary())
		}
	case <-time.After(timeout):
		t.Fatalf("publishing did not finish within %v: %d accepted (answers: %v)", timeout, p.Accepted.Load(), p.Summary())
	}
}

// waitDelivered waits until every id arrived at the receiver, reporting
// progress, and returns how long it took.
func waitDelivered(t testing.TB, rcv *Receiver, ids []string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitForDetail(t, timeout, func() (bool, string) {
		missing := rcv.Missing(ids)
		if len(missing) == 0 {
			return true, ""
		}
		sample := missing[:min(3, len(missing))]
		// What the receiver did get for the missing ones, and how many
		// requests failed verification.
		want := map[string]bool{}
		for _, id := range missing {
			want[id] = true
		}
		seen := map[int]int{}
		for _, q := range rcv.Find(func(q Request) bool { return want[q.Tag] }) {
			seen[q.Status]++
		}
		bad, problems := rcv.SigFailures()
		return false, fmt.Sprintf("%d of %d events not delivered, e.g. %v; requests for them answered %v; %d requests received, %d failed verification %q",
			len(missing), len(ids), sample, seen, rcv.Total(), bad, problems[:min(2, len(problems))])
	}, "every published event arrives at the receiver")
	return time.Since(start)
}

// arrivalProfile says when the events had arrived, relative to from: half
// of them, 99 %, all.
func arrivalProfile(rcv *Receiver, ids []string, from time.Time) string {
	at := rcv.FirstArrivals(ids)
	if len(at) == 0 {
		return "none arrived"
	}
	q := func(f float64) time.Duration {
		return at[min(len(at)-1, int(f*float64(len(at))))].Sub(from).Round(time.Millisecond)
	}
	return fmt.Sprintf("50%% at %v, 99%% at %v, all at %v", q(0.5), q(0.99), at[len(at)-1].Sub(from).Round(time.Millisecond))
}

// ---------------------------------------------------------------------
// Stack: api, dispatcher and worker on NATS, PostgreSQL and Redis, with
// an admin webhook on "*" pointing at a receiver.

// StackConfig says what NewStack starts.
type StackConfig struct {
	DatabaseURL   string            // "": a fresh database on the test PostgreSQL
	RedisURL      string            // "": the test Redis (FLUXHOOK_TEST_REDIS_URL)
	RetrySchedule string            // "": 1s,1s,2s
	Env           map[string]string // more FLUXHOOK_* variables
	WebhookRate   int               // the webhook's rate_limit_per_second (0: none)
}

// Stack is a running Fluxhook with its dependencies and a tenant: the
// admin's token, a webhook on "*" delivering to Receiver, and a client key
// with write:events.
type Stack struct {
	NATS       *NATSServer
	API        *Proc // the api, or the all-in-one fluxhook
	Dispatcher *Proc // nil for the all-in-one
	Worker     *Proc // nil for the all-in-one
	Env        map[string]string

	Receiver   *Receiver
	AdminToken string
	WebhookID  string
	Key        string
}

// webhookSecret is the receiver's secret, given when the webhook is
// created: a Standard Webhooks secret of 32 bytes.
var webhookSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("fluxhook-e2e-receiver-secret-32b"))

// commonEnv is what every Fluxhook process of a test gets.
func commonEnv(schedule string) map[string]string {
	if schedule == "" {
		schedule = "1s,1s,2s"
	}
	level := "warn"
	if l := os.Getenv("FLUXHOOK_E2E_LOG_LEVEL"); l != "" {
		level = l // e.g. debug, to see what the processes do in a failing run
	}
	return map[string]string{
		"FLUXHOOK_JWT_SECRET":             strings.Repeat("e2e-jwt-secret-", 4),
		"FLUXHOOK_ENCRYPTION_KEY":         base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"FLUXHOOK_ADMIN_EMAIL":            adminEmail,
		"FLUXHOOK_ADMIN_PASSWORD":         adminPassword,
		"FLUXHOOK_ALLOW_INSECURE_TARGETS": "true",
		"FLUXHOOK_ALLOW_PRIVATE_TARGETS":  "true",
		"FLUXHOOK_RETRY_SCHEDULE":         schedule,
		"FLUXHOOK_LOG_LEVEL":              level,
		"FLUXHOOK_AUTH_RATE_LIMIT":        "100000",
		"FLUXHOOK_SHUTDOWN_TIMEOUT":       "10s",
		// A killed worker's jobs come back after the ack wait; keep runs short.
		"FLUXHOOK_WORKER_ACK_WAIT": "10s",
	}
}

// NewStack starts NATS, the api, the dispatcher and the worker, and sets
// up the tenant.
func NewStack(t testing.TB, cfg StackConfig) *Stack {
	t.Helper()
	start := time.Now()
	binaries(t)
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = testenv.PostgresURL(t)
	}
	if cfg.RedisURL == "" {
		cfg.RedisURL = testenv.RedisURL(t)
	}
	s := &Stack{NATS: StartNATS(t), Env: commonEnv(cfg.RetrySchedule)}
	s.Env["FLUXHOOK_DATABASE_URL"] = cfg.DatabaseURL
	s.Env["FLUXHOOK_NATS_URL"] = s.NATS.URL
	s.Env["FLUXHOOK_REDIS_URL"] = cfg.RedisURL
	for k, v := range cfg.Env {
		s.Env[k] = v
	}
	s.Receiver = NewReceiver(t, webhookSecret)
	s.API = StartProc(t, "api", s.Env) // migrates the database first
	s.Dispatcher = StartProc(t, "dispatcher", s.Env)
	s.Worker = StartProc(t, "worker", s.Env)
	t.Cleanup(func() { s.dumpMetrics(t) }) // before the processes are killed
	s.setupTenant(t, cfg.WebhookRate)
	t.Logf("stack up in %v (api %s, nats %s)", time.Since(start).Round(time.Millisecond), s.API.API, s.NATS.URL)
	return s
}

// NewAllInOne starts cmd/fluxhook alone (embedded NATS, SQLite in a
// temporary data directory, in-process rate limiter) and sets up the
// tenant.
func NewAllInOne(t testing.TB, schedule string) *Stack {
	t.Helper()
	return NewAllInOneEnv(t, schedule, nil)
}

// NewAllInOneEnv is NewAllInOne with more settings in its environment.
func NewAllInOneEnv(t testing.TB, schedule string, extra map[string]string) *Stack {
	t.Helper()
	start := time.Now()
	dir := t.TempDir()
	s := &Stack{Env: commonEnv(schedule)}
	maps.Copy(s.Env, extra)
	delete(s.Env, "FLUXHOOK_JWT_SECRET") // generated and kept in the data directory
	delete(s.Env, "FLUXHOOK_ENCRYPTION_KEY")
	s.Env["FLUXHOOK_DATA_DIR"] = dir
	s.Env["FLUXHOOK_DATABASE_URL"] = "sqlite://" + filepath.Join(dir, "fluxhook.db")
	s.Receiver = NewReceiver(t, webhookSecret)
	s.API = StartProc(t, "fluxhook", s.Env)
	t.Cleanup(func() { s.dumpMetrics(t) }) // before the process is killed
	s.setupTenant(t, 0)
	t.Logf("all-in-one up in %v (api %s)", time.Since(start).Round(time.Millisecond), s.API.API)
	return s
}

func (s *Stack) setupTenant(t testing.TB, rate int) {
	t.Helper()
	s.AdminToken = AdminLogin(t, s.API.API)
	s.WebhookID = CreateWebhook(t, s.API.API, s.AdminToken, WebhookSpec{URL: s.Receiver.URL, Secret: s.Receiver.Secret, RateLimitPerSecond: rate})
	s.Key = CreateClientKey(t, s.API.API, s.AdminToken, "write:events")
	s.warmUp(t)
}

// warmUp waits until the pipeline delivers to the new webhook. The
// dispatcher learns of a webhook through an asynchronous cache
// invalidation, and an event dispatched before that reaches no webhook
// (DESIGN.md promises delivery to the webhooks subscribed when the event
// was dispatched), so a scenario that starts right after creating its
// webhook could lose its first events to that race rather than to a
// fault. A warm-up event is published every second until one arrives. When
// POST /events is not there yet the warm-up is skipped (sign-up events
// do not need it) after a pause.
func (s *Stack) warmUp(t testing.TB) {
	t.Helper()
	start := time.Now()
	for {
		id := newIDs(1)[0]
		st, out := Publish(t, s.API.API, s.Key, "e2e.warmup", id, map[string]any{"e2e": id})
		if st != http.StatusAccepted {
			t.Logf("warm-up skipped: POST /api/v1/events answered %d %v", st, out)
			time.Sleep(time.Second)
			return
		}
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if len(s.Receiver.Missing([]string{id})) == 0 {
				s.Receiver.Reset()
				t.Logf("warm-up event delivered %v after the webhook was created", time.Since(start).Round(time.Millisecond))
				return
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no warm-up event (e2e.warmup, published every second through POST /events) reached the receiver within 30 s; it got %d requests", s.Receiver.Total())
		}
	}
}

// dumpMetrics logs, when the test failed, the fluxhook_* series of every
// running process (histogram buckets left out): consumer pending and
// ack-pending, attempts by outcome, retries and so on say where events
// are stuck.
func (s *Stack) dumpMetrics(t testing.TB) {
	if !t.Failed() {
		return
	}
	c := &http.Client{Timeout: 5 * time.Second}
	for _, p := range s.Procs() {
		if !p.Alive() {
			continue
		}
		res, err := c.Get(p.Admin + "/metrics")
		if err != nil {
			t.Logf("%s metrics: %v", p.Name, err)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var lines []string
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "fluxhook_") && !strings.Contains(line, "_bucket{") && !strings.HasPrefix(line, "fluxhook_http_") {
				lines = append(lines, line)
			}
		}
		t.Logf("%s metrics:\n  %s", p.Name, strings.Join(lines, "\n  "))
	}
}

// Procs returns the Fluxhook processes.
func (s *Stack) Procs() []*Proc {
	var out []*Proc
	for _, p := range []*Proc{s.API, s.Dispatcher, s.Worker} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// CheckAlive fails the test if a process exited on its own.
func (s *Stack) CheckAlive(t testing.TB) {
	t.Helper()
	for _, p := range s.Procs() {
		if !p.Alive() {
			t.Errorf("%s exited by itself (%v): no failure may need a person to restart a process", p.Name, p.ExitErr())
		}
	}
}

// StopAll stops the processes with SIGTERM, worker first; each must exit 0.
func (s *Stack) StopAll(t testing.TB) {
	t.Helper()
	for _, p := range []*Proc{s.Worker, s.Dispatcher, s.API} {
		if p != nil && p.Alive() {
			p.Stop()
		}
	}
}

// Publisher returns a publisher of event through the stack's api with its
// client key.
func (s *Stack) Publisher(event string) *Publisher {
	return &Publisher{API: s.API.API, Key: s.Key, Event: event}
}

// eventCounts formats DistinctByEvent for logs.
func eventCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return strings.TrimSpace(b.String())
}
