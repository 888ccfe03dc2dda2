package clientkey_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/store/storetest"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// clock is the tests' settable clock (testenv.Clock).
type clock = testenv.Clock

func newClock() *clock {
	return testenv.NewClock()
}

// fixture is one replica's client key service on a fresh database, with
// an admin and two app users.
type fixture struct {
	db       *store.DB
	raw      *sql.DB // the same database, read behind the store's back
	clock    *clock
	bus      *cachebus.Local
	keys     *clientkey.Service
	admin    *fluxhook.Actor
	ada, bob *fluxhook.Actor
	driver   string
	url      string
}

// openStore opens a migrated store on a fresh database of driver and a
// raw connection to it (storetest.Open).
func openStore(tb testing.TB, driver string, c *clock) (*store.DB, *sql.DB, string) {
	tb.Helper()
	return storetest.Open(tb, driver, c.Now)
}

func newFixture(tb testing.TB, driver string) *fixture {
	tb.Helper()
	c := newClock()
	db, raw, url := openStore(tb, driver, c)
	bus := &cachebus.Local{}
	f := &fixture{db: db, raw: raw, clock: c, bus: bus, keys: clientkey.New(db, bus, c.Now), driver: driver, url: url}
	f.admin = f.user(tb, "admin@example.com", fluxhook.RoleDashboardAdmin)
	f.ada = f.user(tb, "ada@example.com", fluxhook.RoleUser)
	f.bob = f.user(tb, "bob@example.com", fluxhook.RoleUser)
	return f
}

// user creates a user and returns them as an actor signed in with a JWT.
func (f *fixture) user(tb testing.TB, email string, role fluxhook.Role) *fluxhook.Actor {
	tb.Helper()
	return storetest.Actor(tb, f.db, email, role)
}

// conformance runs fn against every driver: the service's rules must hold
// on SQLite and PostgreSQL alike.
func conformance(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, driver))
		})
	}
}

func intp(n int) *int              { return &n }
func strp(s string) *string        { return &s }
func timep(t time.Time) *time.Time { return &t }

// create makes a key for a with the given scopes, failing the test on error.
func (f *fixture) create(tb testing.TB, a *fluxhook.Actor, name string, scopes ...string) (*fluxhook.ClientKey, string) {
	tb.Helper()
	k, key, err := f.keys.Create(context.Background(), a, clientkey.CreateInput{Name: name, Scopes: scopes, RateLimitPerMinute: intp(60)})
	if err != nil {
		tb.Fatalf("create key %q: %v", name, err)
	}
	return k, key
}

// mustAuth authenticates key and fails the test if it is refused.
func (f *fixture) mustAuth(tb testing.TB, key string) (*fluxhook.Actor, *fluxhook.ClientKey) {
	tb.Helper()
	a, k, err := f.keys.Authenticate(context.Background(), key)
	if err != nil {
		tb.Fatalf("Authenticate: %v", err)
	}
	return a, k
}

// refused asserts that key does not authenticate, with the one answer
// API.md gives for unknown, revoked and expired keys alike.
func (f *fixture) refused(tb testing.TB, key, why string) {
	tb.Helper()
	a, _, err := f.keys.Authenticate(context.Background(), key)
	if err == nil {
		tb.Fatalf("%s: key authenticated as %+v, want INVALID_CLIENT_KEY", why, a)
	}
	if fluxhook.ErrorKind(err) != fluxhook.KindUnauthorized || fluxhook.ErrorCode(err) != "INVALID_CLIENT_KEY" {
		tb.Fatalf("%s: err = %v (code %q), want unauthorized INVALID_CLIENT_KEY", why, err, fluxhook.ErrorCode(err))
	}
}

// storedLastUsed reads last_used_at as the database has it.
func (f *fixture) storedLastUsed(tb testing.TB, id string) *time.Time {
	tb.Helper()
	k, err := f.db.ClientKey(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return k.LastUsedAt
}

// rowsContain is testenv.RowsContain.
func rowsContain(tb testing.TB, raw *sql.DB, table, needle string) bool {
	tb.Helper()
	return testenv.RowsContain(tb, raw, table, needle)
}
