package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/httpapi"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/replay"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/prometheus/client_golang/prometheus"
)

// mailbox captures mails: SMTP delivery itself is tested in internal/mail.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

var tokenRE = regexp.MustCompile(`token=(fbt_[A-Za-z0-9_-]+)`)

// waitToken waits for a mail to addr with the subject and returns its token.
func (m *mailbox) waitToken(t *testing.T, to, subject string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		for i := len(m.msgs) - 1; i >= 0; i-- {
			if m.msgs[i].To == to && m.msgs[i].Subject == subject {
				text := m.msgs[i].Text
				m.mu.Unlock()
				match := tokenRE.FindStringSubmatch(text)
				if match == nil {
					t.Fatalf("mail %q has no token link:\n%s", subject, text)
				}
				return match[1]
			}
		}
		m.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no mail %q to %s", subject, to)
	return ""
}

type env struct {
	t    testing.TB
	srv  *httptest.Server
	api  http.Handler
	db   *store.DB
	mail *mailbox
	keys *clientkey.Service
	// clock drives the account service (invitation expiry); it runs on
	// real time plus a settable offset.
	clock *clock
}

type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// fakeDNS answers every lookup with a public documentation-free address,
// so webhook URLs with made-up hosts pass the SSRF check without DNS;
// hosts named private.test resolve to a private address.
func fakeDNS(_ context.Context, _, host string) ([]netip.Addr, error) {
	if strings.HasPrefix(host, "private.") {
		return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
}

// box2sender stands in for SMTP in invitation tests; it must not be
// called, since these servers run without SMTP.
type box2sender struct{ *secretbox.Box }

func (box2sender) Send(context.Context, mail.Message) error {
	panic("invitation mail sent without SMTP configured")
}

type envOpts struct {
	authRateLimit int
	maxBody       int64
	keyLimiter    ratelimit.Limiter // default: in-process
	// allowPrivate lets webhooks point at loopback receivers (deliveries_test.go).
	allowPrivate bool
	// events and publishTimeout serve POST /events (see events_test.go).
	events         httpapi.EventPublisher
	publishTimeout time.Duration
	// publicURL is FLUXHOOK_PUBLIC_URL (dashboard_test.go).
	publicURL string
	// eventsKept is what the replay service is told of EVENTS (default:
	// kept; replays_test.go).
	eventsKept replay.Window
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "api.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokens, err := auth.NewTokens(bytes.Repeat([]byte("k"), 32), "fluxhook-test", 15*time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	mbox := &mailbox{}
	mq := account.NewMailQueue(mbox, logger, 100)
	t.Cleanup(func() { mq.Close(context.Background()) })
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	bus := &cachebus.Local{}
	accounts := account.New(account.Deps{DB: db, Hasher: auth.NewHasher(auth.TestParams()), Tokens: tokens, Mail: mq,
		Sender: box2sender{box}, Box: box, Bus: bus, Logger: logger}, account.Config{PublicURL: "http://fluxhook.test", Now: clk.Now})
	keys := clientkey.New(db, bus, nil)
	policy := outbound.Policy{AllowInsecure: o.allowPrivate, AllowPrivate: o.allowPrivate}
	hooks := webhooks.New(db, box, policy, fakeDNS, bus, nil)
	jobs, _ := o.events.(delivery.JobPublisher)
	manual := delivery.NewManual(outbound.NewClient(policy, outbound.ClientOptions{Timeout: 5 * time.Second}), "Fluxhook/test", db, jobs)
	if _, err := accounts.EnsureAdmin(ctx, "admin@example.com", "admin-password-123"); err != nil {
		t.Fatal(err)
	}
	if o.authRateLimit == 0 {
		o.authRateLimit = 10000
	}
	if o.keyLimiter == nil {
		o.keyLimiter = ratelimit.NewLocal(time.Now)
	}
	if o.eventsKept == nil {
		o.eventsKept = func(context.Context) (time.Time, bool, error) { return time.Now().Add(-time.Hour), true, nil }
	}
	api := httpapi.New(httpapi.Deps{Accounts: accounts, Keys: keys, Webhooks: hooks, KeyLimiter: o.keyLimiter,
		Tokens: tokens, AuthLimiter: ratelimit.NewLocal(time.Now),
		Logger: logger, Registry: prometheus.NewRegistry(), Events: o.events,
		Deliveries: manual, Attempts: db, Replays: replay.NewService(db, o.eventsKept, 7*24*time.Hour, nil)},
		httpapi.Options{AuthRateLimit: o.authRateLimit, MaxBodyBytes: o.maxBody, CORSOrigins: []string{"*"}, PublishTimeout: o.publishTimeout, PublicURL: o.publicURL})
	// Every answer is checked against api/openapi.json (contract_test.go).
	srv := httptest.NewServer(checkContract(t, api))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, api: api, db: db, mail: mbox, keys: keys, clock: clk}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request; body may be a string (sent raw) or a value (JSON).
func (e *env) do(method, path, token string, body any) resp {
	e.t.Helper()
	return e.doH(method, path, body, http.Header{"Authorization": bearer(token)})
}

func bearer(token string) []string {
	if token == "" {
		return nil
	}
	return []string{"Bearer " + token}
}

// doH sends a request with the given headers.
func (e *env) doH(method, path string, body any, h http.Header) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/api/v1"+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
		}
	}
	if res.Header.Get("X-Request-Id") == "" {
		e.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	return r
}

func (r resp) must(t testing.TB, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.raw)
	}
	return r
}

func (r resp) str(key string) string {
	parts := strings.Split(key, ".")
	var v any = r.body
	for _, p := range parts {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (e *env) signUp(email string) resp {
	e.t.Helper()
	return e.do("POST", "/auth/signup", "", map[string]any{"email": email, "password": "correct-horse-battery", "name": "Ada"}).must(e.t, 201)
}

// outboxEvents lists the event names waiting in the outbox.
func (e *env) outboxEvents() []string {
	e.t.Helper()
	pending, err := e.db.PendingOutbox(context.Background(), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, p := range pending {
		names = append(names, p.Event.Event)
	}
	return names
}

func TestSignUpSignInRefreshSignOut(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.signUp("Ada@Example.com")
	if r.str("user.email") != "ada@example.com" || r.str("user.role") != "user" || r.str("access_token") == "" ||
		!strings.HasPrefix(r.str("refresh_token"), "fbr_") || r.body["expires_in"] != float64(900) {
		t.Fatalf("signup response: %s", r.raw)
	}
	if _, ok := r.body["user"].(map[string]any)["password_hash"]; ok {
		t.Fatal("signup response leaks the password hash")
	}

	in := e.do("POST", "/auth/signin", "", map[string]any{"email": "ada@example.com", "password": "correct-horse-battery"}).must(t, 200)
	access, refresh := in.str("access_token"), in.str("refresh_token")
	me := e.do("GET", "/auth/user", access, nil).must(t, 200)
	if me.str("email") != "ada@example.com" || me.str("last_login_at") == "" || me.body["email_verified"] != false {
		t.Fatalf("GET /auth/user: %s", me.raw)
	}

	r2 := e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": refresh}).must(t, 200)
	refresh2 := r2.str("refresh_token")
	if refresh2 == refresh || r2.str("access_token") == "" {
		t.Fatal("refresh did not rotate the refresh token")
	}
	e.do("GET", "/auth/user", r2.str("access_token"), nil).must(t, 200)

	// Reusing the old token ends the whole session, including refresh2.
	reuse := e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": refresh}).must(t, 401)
	if reuse.str("code") != "REFRESH_TOKEN_REUSED" {
		t.Fatalf("reuse: %s", reuse.raw)
	}
	if got := e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": refresh2}).must(t, 401).str("code"); got != "INVALID_REFRESH_TOKEN" {
		t.Fatalf("token of a revoked family: code %s", got)
	}

	// Sign-out ends the session of the token used.
	in2 := e.do("POST", "/auth/signin", "", map[string]any{"email": "ada@example.com", "password": "correct-horse-battery"}).must(t, 200)
	e.do("POST", "/auth/signout", in2.str("access_token"), nil).must(t, 204)
	e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": in2.str("refresh_token")}).must(t, 401)

	want := []string{"user.created", "auth.login", "auth.login", "auth.logout"}
	if got := e.outboxEvents(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("outbox events %v, want %v", got, want)
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t, envOpts{maxBody: 4096})
	e.signUp("grace@example.com")
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"wrong password", "POST", "/auth/signin", "", map[string]any{"email": "grace@example.com", "password": "wrong-password-123"}, 401, "INVALID_CREDENTIALS"},
		{"unknown email", "POST", "/auth/signin", "", map[string]any{"email": "nobody@example.com", "password": "wrong-password-123"}, 401, "INVALID_CREDENTIALS"},
		{"malformed JSON", "POST", "/auth/signup", "", `{"email": "x@example.com", "password": `, 400, "INVALID_JSON"},
		{"not JSON at all", "POST", "/auth/signin", "", `email=x`, 400, "INVALID_JSON"},
		{"empty body", "POST", "/auth/signin", "", ``, 400, "INVALID_JSON"},
		{"array body", "POST", "/auth/signin", "", `[1,2]`, 400, "INVALID_JSON"},
		{"wrong type", "POST", "/auth/signup", "", `{"email": 5, "password": "correct-horse-battery"}`, 422, "VALIDATION_FAILED"},
		{"short password", "POST", "/auth/signup", "", map[string]any{"email": "new@example.com", "password": "elevenchars"}, 422, "VALIDATION_FAILED"},
		{"bad email", "POST", "/auth/signup", "", map[string]any{"email": "not-an-email", "password": "correct-horse-battery"}, 422, "VALIDATION_FAILED"},
		{"taken email", "POST", "/auth/signup", "", map[string]any{"email": "GRACE@example.com", "password": "correct-horse-battery"}, 409, "EMAIL_TAKEN"},
		{"too large", "POST", "/auth/signup", "", `{"email":"` + strings.Repeat("a", 5000) + `"}`, 413, "PAYLOAD_TOO_LARGE"},
		{"no token", "GET", "/auth/user", "", nil, 401, "UNAUTHORIZED"},
		{"garbage token", "GET", "/auth/user", "your-api-key", nil, 401, "INVALID_TOKEN"},
		{"forged JWT", "GET", "/auth/user", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", nil, 401, "INVALID_TOKEN"},
		{"unknown route", "GET", "/nope", "", nil, 404, "ROUTE_NOT_FOUND"},
		{"wrong method", "GET", "/auth/signin", "", nil, 405, "METHOD_NOT_ALLOWED"},
		{"bad reset token", "POST", "/auth/password/reset/confirm", "", map[string]any{"token": "fbt_nope", "password": "correct-horse-battery"}, 422, "INVALID_TOKEN"},
		{"bad verify token", "POST", "/auth/verify-email", "", map[string]any{"token": "x"}, 422, "INVALID_TOKEN"},
		{"refresh garbage", "POST", "/auth/refresh", "", map[string]any{"refresh_token": "garbage"}, 401, "INVALID_REFRESH_TOKEN"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.token, c.body).must(t, c.status)
			if r.str("code") != c.code || r.str("error") == "" {
				t.Fatalf("body %s, want code %s and an error sentence", r.raw, c.code)
			}
		})
	}

	r := e.do("POST", "/auth/signup", "", map[string]any{"email": "new@example.com", "password": "elevenchars"}).must(t, 422)
	details, _ := r.body["details"].(map[string]any)
	if details["password"] != "must be at least 12 characters" || !strings.Contains(r.str("error"), "password must be at least 12 characters") {
		t.Fatalf("422 body: %s", r.raw)
	}
	// A public endpoint ignores a credential it cannot use (the SDK sends its key everywhere).
	e.do("POST", "/auth/signin", "your-api-key", map[string]any{"email": "grace@example.com", "password": "correct-horse-battery"}).must(t, 200)
}

func TestPerIPLimitOnSignIn(t *testing.T) {
	e := newEnv(t, envOpts{authRateLimit: 3})
	for i := range 3 {
		e.do("POST", "/auth/signin", "", map[string]any{"email": "x@example.com", "password": "wrong-password-123"}).must(t, 401)
		_ = i
	}
	r := e.do("POST", "/auth/signin", "", map[string]any{"email": "x@example.com", "password": "wrong-password-123"}).must(t, 429)
	if r.str("code") != "RATE_LIMIT_EXCEEDED" || r.header.Get("Retry-After") == "" || r.body["retry_after"] == nil ||
		r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429: headers %v body %s", r.header, r.raw)
	}
}

func TestPasswordResetAndEmailVerification(t *testing.T) {
	e := newEnv(t, envOpts{})
	su := e.signUp("lin@example.com")

	verify := e.mail.waitToken(t, "lin@example.com", "Verify your email address")
	e.do("POST", "/auth/verify-email", "", map[string]any{"token": verify}).must(t, 200)
	if me := e.do("GET", "/auth/user", su.str("access_token"), nil).must(t, 200); me.body["email_verified"] != true {
		t.Fatalf("email not verified: %s", me.raw)
	}
	e.do("POST", "/auth/verify-email", "", map[string]any{"token": verify}).must(t, 422)

	// Same answer for known and unknown addresses.
	known := e.do("POST", "/auth/password/reset", "", map[string]any{"email": "lin@example.com"}).must(t, 200)
	unknown := e.do("POST", "/auth/password/reset", "", map[string]any{"email": "nobody@example.com"}).must(t, 200)
	if known.raw != unknown.raw {
		t.Fatalf("reset answers differ: %s vs %s", known.raw, unknown.raw)
	}
	reset := e.mail.waitToken(t, "lin@example.com", "Reset your password")
	e.do("POST", "/auth/password/reset/confirm", "", map[string]any{"token": reset, "password": "short"}).must(t, 422)
	e.do("POST", "/auth/password/reset/confirm", "", map[string]any{"token": reset, "password": "a-brand-new-password"}).must(t, 200)
	e.do("POST", "/auth/password/reset/confirm", "", map[string]any{"token": reset, "password": "another-new-password"}).must(t, 422)

	e.do("POST", "/auth/signin", "", map[string]any{"email": "lin@example.com", "password": "correct-horse-battery"}).must(t, 401)
	e.do("POST", "/auth/signin", "", map[string]any{"email": "lin@example.com", "password": "a-brand-new-password"}).must(t, 200)
	// The reset ended the sessions that existed before it.
	e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": su.str("refresh_token")}).must(t, 401)

	got := strings.Join(e.outboxEvents(), ",")
	if got != "user.created,email.verified,password.reset,auth.login" {
		t.Fatalf("outbox events %s", got)
	}
}

func TestUpdateAndDeleteSelf(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok := e.signUp("mo@example.com").str("access_token")
	r := e.do("PATCH", "/auth/user", tok, map[string]any{"name": "Mo", "metadata": map[string]any{"plan": "pro"}}).must(t, 200)
	if r.str("name") != "Mo" || r.body["metadata"].(map[string]any)["plan"] != "pro" {
		t.Fatalf("patch: %s", r.raw)
	}
	e.do("PATCH", "/auth/user", tok, map[string]any{"role": "dashboard_admin"}).must(t, 422)
	e.do("PATCH", "/auth/user", tok, map[string]any{"metadata": []int{1}}).must(t, 422)
	e.do("DELETE", "/auth/user", tok, nil).must(t, 204)
	e.do("GET", "/auth/user", tok, nil).must(t, 401)
	e.do("POST", "/auth/signin", "", map[string]any{"email": "mo@example.com", "password": "correct-horse-battery"}).must(t, 401)
	if got := strings.Join(e.outboxEvents(), ","); got != "user.created,user.updated,user.deleted" {
		t.Fatalf("outbox events %s", got)
	}
}

func TestAdmin(t *testing.T) {
	e := newEnv(t, envOpts{})
	user := e.signUp("app@example.com")
	e.do("POST", "/admin/login", "", map[string]any{"email": "app@example.com", "password": "correct-horse-battery"}).must(t, 403)
	e.do("GET", "/admin/users", user.str("access_token"), nil).must(t, 403)

	login := e.do("POST", "/admin/login", "", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}).must(t, 200)
	if login.str("user.role") != "dashboard_admin" {
		t.Fatalf("admin login: %s", login.raw)
	}
	if _, ok := login.body["user"].(map[string]any)["metadata"]; ok {
		t.Fatal("AdminUser carries metadata")
	}
	admin := login.str("access_token")
	if me := e.do("GET", "/admin/me", admin, nil).must(t, 200); me.str("email") != "admin@example.com" {
		t.Fatalf("me: %s", me.raw)
	}
	list := e.do("GET", "/admin/users?limit=10", admin, nil).must(t, 200)
	if list.body["total"] != float64(2) || len(list.body["users"].([]any)) != 2 {
		t.Fatalf("list: %s", list.raw)
	}
	e.do("GET", "/admin/users?limit=0", admin, nil).must(t, 422)
	uid := user.str("user.id")
	e.do("GET", "/admin/users/"+uid, admin, nil).must(t, 200)
	e.do("GET", "/admin/users/not-a-uuid", admin, nil).must(t, 404)
	if r := e.do("PATCH", "/admin/users/"+uid, admin, map[string]any{"role": "dashboard_user"}).must(t, 200); r.str("role") != "dashboard_user" {
		t.Fatalf("role change: %s", r.raw)
	}
	// The new dashboard user can read users but not change them.
	du := e.do("POST", "/admin/login", "", map[string]any{"email": "app@example.com", "password": "correct-horse-battery"}).must(t, 200).str("access_token")
	e.do("GET", "/admin/users", du, nil).must(t, 200)
	e.do("DELETE", "/admin/users/"+uid, du, nil).must(t, 403)

	adminID := login.str("user.id")
	if r := e.do("PATCH", "/admin/users/"+adminID, admin, map[string]any{"role": "user"}).must(t, 409); r.str("code") != "LAST_ADMIN" {
		t.Fatalf("demoting the last admin: %s", r.raw)
	}
	e.do("DELETE", "/admin/users/"+uid, admin, nil).must(t, 200)
	e.do("DELETE", "/admin/users/"+uid, admin, nil).must(t, 404)

	refreshed := e.do("POST", "/admin/refresh", "", map[string]any{"refresh_token": login.str("refresh_token")}).must(t, 200)
	e.do("POST", "/admin/logout", refreshed.str("access_token"), nil).must(t, 204)
	e.do("POST", "/admin/refresh", "", map[string]any{"refresh_token": refreshed.str("refresh_token")}).must(t, 401)
}

func TestRequestIDEchoedAndCORS(t *testing.T) {
	e := newEnv(t, envOpts{})
	req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/api/v1/auth/signin", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("X-Request-Id", "abc-123")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || res.Header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Header)
	}
	req.Header.Set("X-Request-Id", "bad id\twith junk")
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if id := res.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, "junk") {
		t.Fatalf("unsafe request id echoed: %q", id)
	}
}
