package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/httpapi"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/prometheus/client_golang/prometheus"
)

// wantSessionEnded fails unless r is the 401 of an ended session.
func wantSessionEnded(t *testing.T, r resp) {
	t.Helper()
	r.must(t, 401)
	if r.str("code") != "SESSION_ENDED" {
		t.Fatalf("401 with code %q, want SESSION_ENDED: %s", r.str("code"), r.raw)
	}
}

// TestSignOutEndsTheSessionsAccessTokensAtOnce: after sign-out the
// session's access token is refused at once, for app users and admins;
// the user's other sessions go on.
func TestSignOutEndsTheSessionsAccessTokensAtOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("out@example.com")
	other := e.do("POST", "/auth/signin", "", map[string]any{"email": "out@example.com", "password": "correct-horse-battery"}).must(t, 200).str("access_token")
	e.do("GET", "/auth/user", tok, nil).must(t, 200)
	e.do("POST", "/auth/signout", tok, nil).must(t, 204)
	wantSessionEnded(t, e.do("GET", "/auth/user", tok, nil))
	wantSessionEnded(t, e.do("POST", "/webhooks", tok, map[string]any{"url": "https://myapp.com/hook", "events": []string{"*"}}))
	e.do("GET", "/auth/user", other, nil).must(t, 200)

	admin := e.admin()
	e.do("GET", "/admin/me", admin, nil).must(t, 200)
	e.do("POST", "/admin/logout", admin, nil).must(t, 204)
	wantSessionEnded(t, e.do("GET", "/admin/me", admin, nil))
	wantSessionEnded(t, e.do("GET", "/admin/users", admin, nil))
}

// TestRefreshTokenReuseEndsTheSessionsAccessTokens: presenting a used
// refresh token ends the session, and with it every access token issued
// in it, the newest included.
func TestRefreshTokenReuseEndsTheSessionsAccessTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	first := e.signUp("reuse@example.com")
	second := e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": first.str("refresh_token")}).must(t, 200)
	e.do("GET", "/auth/user", second.str("access_token"), nil).must(t, 200)
	r := e.do("POST", "/auth/refresh", "", map[string]any{"refresh_token": first.str("refresh_token")}).must(t, 401)
	if r.str("code") != "REFRESH_TOKEN_REUSED" {
		t.Fatalf("reuse: %s", r.raw)
	}
	wantSessionEnded(t, e.do("GET", "/auth/user", first.str("access_token"), nil))
	wantSessionEnded(t, e.do("GET", "/auth/user", second.str("access_token"), nil))

	// The same for a dashboard session.
	login := e.do("POST", "/admin/login", "", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}).must(t, 200)
	e.do("POST", "/admin/refresh", "", map[string]any{"refresh_token": login.str("refresh_token")}).must(t, 200)
	e.do("POST", "/admin/refresh", "", map[string]any{"refresh_token": login.str("refresh_token")}).must(t, 401)
	wantSessionEnded(t, e.do("GET", "/admin/me", login.str("access_token"), nil))
}

// TestPasswordChangeEndsTheOtherSessionsAccessTokens: a new password ends
// the user's other sessions at once; the one that changed it goes on.
func TestPasswordChangeEndsTheOtherSessionsAccessTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("pw@example.com")
	other := e.do("POST", "/auth/signin", "", map[string]any{"email": "pw@example.com", "password": "correct-horse-battery"}).must(t, 200).str("access_token")
	e.do("PATCH", "/auth/user", tok, map[string]any{"password": "a-brand-new-password"}).must(t, 200)
	wantSessionEnded(t, e.do("GET", "/auth/user", other, nil))
	e.do("GET", "/auth/user", tok, nil).must(t, 200)
}

// replica is one api replica over db: its own services and caches, the
// given bus, and the test's token secret.
func replica(t testing.TB, db *store.DB, bus cachebus.Bus, resync time.Duration) *env {
	t.Helper()
	return replicaWith(t, db, bus, resync, nil, nil)
}

// replicaWith is replica with the collaborators POST /events and the
// webhook test and retry routes need (nil: those routes are not served).
func replicaWith(t testing.TB, db *store.DB, bus cachebus.Bus, resync time.Duration, events httpapi.EventPublisher, deliveries httpapi.Deliveries) *env {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokens, err := auth.NewTokens(bytes.Repeat([]byte("k"), 32), "fluxhook-test", 15*time.Minute, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	mq := account.NewMailQueue(&mailbox{}, logger, 100)
	t.Cleanup(func() { mq.Close(context.Background()) })
	accounts := account.New(account.Deps{DB: db, Hasher: auth.NewHasher(auth.TestParams()), Tokens: tokens, Mail: mq,
		Sender: box2sender{box}, Box: box, Bus: bus, Logger: logger}, account.Config{PublicURL: "http://fluxhook.test", SessionResync: resync})
	api := httpapi.New(httpapi.Deps{Accounts: accounts, Keys: clientkey.New(db, bus, nil),
		Webhooks: webhooks.New(db, box, outbound.Policy{}, fakeDNS, bus, nil), Tokens: tokens,
		KeyLimiter: ratelimit.NewLocal(time.Now), AuthLimiter: ratelimit.NewLocal(time.Now),
		Logger: logger, Registry: prometheus.NewRegistry(), Attempts: db, Events: events, Deliveries: deliveries},
		httpapi.Options{AuthRateLimit: 1000000})
	if _, err := accounts.EnsureAdmin(context.Background(), "admin@example.com", "admin-password-123"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, api: api, db: db}
}

// TestEveryReplicaRefusesAnEndedSession: a session ended on one replica
// is refused on another at once when the announcement arrives, and
// within the re-read interval when it is lost (each replica has its own
// bus here, so nothing is announced across).
func TestEveryReplicaRefusesAnEndedSession(t *testing.T) {
	db, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "replicas.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	shared := &cachebus.Local{}
	a, b := replica(t, db, shared, time.Hour), replica(t, db, shared, time.Hour)
	lonely := replica(t, db, &cachebus.Local{}, 200*time.Millisecond)

	tok := a.signUp("replicas@example.com").str("access_token")
	for _, r := range []*env{a, b, lonely} {
		r.do("GET", "/auth/user", tok, nil).must(t, 200) // each has loaded its copy
	}
	a.do("POST", "/auth/signout", tok, nil).must(t, 204)
	wantSessionEnded(t, b.do("GET", "/auth/user", tok, nil))
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := lonely.do("GET", "/auth/user", tok, nil)
		if r.status == 401 {
			wantSessionEnded(t, r)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica that missed the announcement still accepts the token after 5 s: %d", r.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A replica started after the sign-out knows it from the database.
	wantSessionEnded(t, replica(t, db, &cachebus.Local{}, time.Hour).do("GET", "/auth/user", tok, nil))
}
