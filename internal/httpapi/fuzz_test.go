package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// memEvents stands in for JetStream in the fuzz targets: what is fuzzed
// is the request's decoding and validation, not the stream.
type memEvents struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memEvents) PublishKeyed(_ context.Context, e fluxhook.Event) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	dup := m.seen[e.ID]
	m.seen[e.ID] = true
	return dup, nil
}

func (m *memEvents) PackEvent(ctx context.Context, e fluxhook.Event) error {
	_, err := m.PublishKeyed(ctx, e)
	return err
}

func (m *memEvents) PublishEvents(ctx context.Context, es []fluxhook.Event) (int, error) {
	for i, e := range es {
		if _, err := m.PublishKeyed(ctx, e); err != nil {
			return i, err
		}
	}
	return len(es), nil
}

// noDeliveries answers the webhook test and retry routes without sending
// anything anywhere.
type noDeliveries struct{}

func (noDeliveries) Test(context.Context, *fluxhook.Webhook, []string) (*fluxhook.TestResult, error) {
	return &fluxhook.TestResult{Success: true}, nil
}

func (noDeliveries) Retry(context.Context, *fluxhook.Webhook, string) (*fluxhook.Attempt, error) {
	return nil, fluxhook.NotFound("delivery")
}

// fuzzTarget is one api on one store, with the credentials and ids the
// write routes need.
type fuzzTarget struct {
	*env
	admin, user          string // access tokens
	userID, key, webhook string // ids
	invitation           string // an invitation token
}

func newFuzzTarget(tb testing.TB, driver string) *fuzzTarget {
	tb.Helper()
	url := "sqlite://" + filepath.Join(tb.TempDir(), "fuzz.db")
	if driver == "postgres" {
		url = testenv.PostgresURL(tb)
	}
	db, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	e := replicaWith(tb, db, &cachebus.Local{}, time.Hour, &memEvents{}, noDeliveries{})
	ft := &fuzzTarget{env: e}
	ft.admin = e.do("POST", "/admin/login", "", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}).must(tb, 200).str("access_token")
	signed := e.signUp("fuzz@example.com")
	ft.user, ft.userID = signed.str("access_token"), signed.str("user.id")
	ft.key = e.do("POST", "/client-keys", ft.user, map[string]any{"name": "k", "scopes": []string{"read:webhooks"}, "rate_limit_per_minute": 60}).must(tb, 201).str("client_key.id")
	ft.webhook = e.do("POST", "/webhooks", ft.user, map[string]any{"url": "https://myapp.com/hook", "events": []string{"*"}}).must(tb, 201).str("id")
	inv := e.do("POST", "/admin/invitations", ft.admin, map[string]any{"email": "invitee@example.com", "role": "dashboard_user"}).must(tb, 201)
	ft.invitation = inv.str("invitation.token")
	return ft
}

// writeRoute is a route that takes a body, with a body it accepts.
type writeRoute struct {
	method, path string // path: {key}, {webhook}, {user}, {invitation} are replaced
	as           string // "admin", "user" or "" for none
	body         string
}

// writeRoutes lists every route that decodes a body, except those that
// would end the fuzzing session itself (sign-out, deleting the user).
var writeRoutes = []writeRoute{
	{"POST", "/auth/signup", "", `{"email":"new@example.com","password":"correct-horse-battery","name":"Ada","metadata":{"plan":"pro"}}`},
	{"POST", "/auth/signin", "", `{"email":"fuzz@example.com","password":"correct-horse-battery"}`},
	{"POST", "/auth/refresh", "", `{"refresh_token":"fbr_x"}`},
	{"PATCH", "/auth/user", "user", `{"name":"Ada L","metadata":{"team":"core","tags":["a","b"],"n":1.5}}`},
	{"PUT", "/auth/user", "user", `{"name":"Ada","email":"fuzz@example.com"}`},
	{"POST", "/auth/password/reset", "", `{"email":"fuzz@example.com"}`},
	{"POST", "/auth/password/reset/confirm", "", `{"token":"fbt_x","password":"correct-horse-battery"}`},
	{"POST", "/auth/verify-email", "", `{"token":"fbt_x"}`},
	{"POST", "/admin/login", "", `{"email":"admin@example.com","password":"wrong-password-123"}`},
	{"POST", "/admin/refresh", "", `{"refresh_token":"fbr_x"}`},
	{"PATCH", "/admin/users/{user}", "admin", `{"name":"Ada","metadata":{"note":"x"},"email_verified":true}`},
	{"POST", "/client-keys", "user", `{"name":"svc","description":"d","scopes":["read:users"],"rate_limit_per_minute":10,"expires_at":"2099-01-01T00:00:00Z"}`},
	{"PATCH", "/client-keys/{key}", "user", `{"name":"svc2","description":"d2"}`},
	{"PUT", "/client-keys/{key}", "user", `{"scopes":["read:webhooks"],"rate_limit_per_minute":20}`},
	{"POST", "/webhooks", "user", `{"url":"https://myapp.com/webhook","events":["user.created"],"description":"d","headers":{"X-Team":"a"},"secret":"my-webhook-secret-key"}`},
	{"PATCH", "/webhooks/{webhook}", "user", `{"description":"d2","headers":{"X-Env":"prod"},"rate_limit_per_second":5}`},
	{"PUT", "/webhooks/{webhook}", "user", `{"events":["order.paid","user.*"],"is_active":true}`},
	{"POST", "/webhooks/{webhook}/rotate-secret", "user", `{"secret":"another-webhook-secret"}`},
	{"POST", "/webhooks/{webhook}/test", "user", `{}`},
	{"POST", "/events", "user", `{"event":"order.paid","data":{"order":"o1","note":"x"},"id":"k-1"}`},
	{"POST", "/admin/invitations", "admin", `{"email":"someone@example.com","role":"dashboard_user","expiry_duration":3600}`},
	{"POST", "/invitations/{invitation}/accept", "", `{"password":"correct-horse-battery","name":"Newcomer"}`},
}

// nasty are values put in place of a body's strings and whole bodies: the
// NUL, invalid UTF-8, unpaired surrogates, out-of-range numbers, wrong
// types.
var nasty = []string{`"a\u0000b"`, `"\u0000"`, "\"\xff\xfe\"", `"\ud800"`, `"\udfff\ud800"`, `1e-20000`, `1e400`, `{"a\u0000":1}`,
	`["\u0000"]`, `{"x":{"y":["\u0000"]}}`, `null`, `[]`, `-1`, `"` + strings.Repeat("x", 5000) + `"`}

// seedWriteRoutes adds each route's good body, and that body with each
// string value replaced by each nasty value, to the corpus.
func seedWriteRoutes(f *testing.F) {
	for i, r := range writeRoutes {
		f.Add(uint8(i), []byte(r.body))
		var m map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			f.Fatalf("route %s %s: bad seed body: %v", r.method, r.path, err)
		}
		for field, v := range m {
			for _, bad := range nasty {
				if _, isString := v.(string); !isString && bad != `{"a\u0000":1}` && bad != `{"x":{"y":["\u0000"]}}` {
					continue
				}
				raw, _ := json.Marshal(m)
				was, _ := json.Marshal(map[string]any{field: v})
				inner := strings.TrimSuffix(strings.TrimPrefix(string(was), "{"), "}")
				f.Add(uint8(i), []byte(strings.Replace(string(raw), inner, `"`+field+`":`+bad, 1)))
			}
		}
	}
	for _, whole := range []string{"", "null", "[]", `"x"`, "{", `{"a":1}{}`, "\x00", "{\"name\":\"\x00\"}"} {
		f.Add(uint8(0), []byte(whole))
		f.Add(uint8(11), []byte(whole))
	}
}

// FuzzWriteRoutes sends arbitrary bodies to every write route of an api
// on SQLite and of one on PostgreSQL: no input may be answered with a
// 5xx, and both stores must answer alike. The seeded corpus runs in
// every go test; run longer with
//
//	go test ./internal/httpapi -run '^$' -fuzz FuzzWriteRoutes -fuzztime 5m
func FuzzWriteRoutes(f *testing.F) {
	seedWriteRoutes(f)
	targets := []*fuzzTarget{newFuzzTarget(f, "sqlite"), newFuzzTarget(f, "postgres")}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := writeRoutes[int(route)%len(writeRoutes)]
		var statuses []int
		for _, ft := range targets {
			path := strings.NewReplacer("{key}", ft.key, "{webhook}", ft.webhook, "{user}", ft.userID, "{invitation}", ft.invitation).Replace(r.path)
			h := http.Header{}
			switch r.as {
			case "admin":
				h.Set("Authorization", "Bearer "+ft.admin)
			case "user":
				h.Set("Authorization", "Bearer "+ft.user)
			}
			e := *ft.env
			e.t = t
			res := e.doH(r.method, path, string(body), h)
			if res.status >= 500 {
				t.Fatalf("%s %s %q answered %d: %s", r.method, r.path, body, res.status, res.raw)
			}
			statuses = append(statuses, res.status)
		}
		if statuses[0] != statuses[1] {
			t.Fatalf("%s %s %q: SQLite answered %d, PostgreSQL %d", r.method, r.path, body, statuses[0], statuses[1])
		}
	})
}
