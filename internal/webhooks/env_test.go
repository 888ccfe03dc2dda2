package webhooks_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/store/storetest"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// clock is the tests' settable clock (testenv.Clock).
type clock = testenv.Clock

func newClock() *clock {
	return testenv.NewClock()
}

// openStore opens a migrated store on a fresh database of driver and a
// raw connection to it (storetest.Open).
func openStore(tb testing.TB, driver string, c *clock) (*store.DB, *sql.DB, string) {
	tb.Helper()
	return storetest.Open(tb, driver, c.Now)
}

// fakeDNS answers for made-up hosts without a DNS server: names under
// private.test resolve to a private address, names under nxdomain.test do
// not resolve, and every other name to a public address.
func fakeDNS(_ context.Context, _, host string) ([]netip.Addr, error) {
	switch {
	case strings.HasSuffix(host, ".private.test"):
		return []netip.Addr{netip.MustParseAddr("10.1.2.3")}, nil
	case strings.HasSuffix(host, ".metadata.test"):
		return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
	case strings.HasSuffix(host, ".nxdomain.test"):
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
}

// announcements records the ids published on the bus for one kind.
type announcements struct {
	mu  sync.Mutex
	ids []string
}

func (a *announcements) record(id string) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
}

// take returns what was announced since the last call.
func (a *announcements) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.ids
	a.ids = nil
	return ids
}

// fixture is a webhook service on a fresh database, with an admin and two
// app users.
type fixture struct {
	db        *store.DB
	raw       *sql.DB // the same database, read behind the store's back
	clock     *clock
	box       *secretbox.Box
	bus       *cachebus.Local
	announced *announcements // cachebus.Webhook
	hooks     *webhooks.Service
	admin     *fluxhook.Actor
	ada, bob  *fluxhook.Actor
}

func newBox(tb testing.TB, fill byte) *secretbox.Box {
	tb.Helper()
	box, err := secretbox.New([]byte(strings.Repeat(string(rune(fill)), secretbox.KeySize)))
	if err != nil {
		tb.Fatal(err)
	}
	return box
}

func newFixture(tb testing.TB, driver string, policy outbound.Policy) *fixture {
	tb.Helper()
	c := newClock()
	db, raw, _ := openStore(tb, driver, c)
	f := &fixture{db: db, raw: raw, clock: c, box: newBox(tb, 'k'), bus: &cachebus.Local{}, announced: &announcements{}}
	f.bus.Subscribe(cachebus.Webhook, f.announced.record)
	f.hooks = webhooks.New(db, f.box, policy, fakeDNS, f.bus, c.Now)
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

// conformance runs fn against every driver with the production policy.
func conformance(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, driver, outbound.Policy{}))
		})
	}
}

func intp(n int) *int                                 { return &n }
func strp(s string) *string                           { return &s }
func boolp(b bool) *bool                              { return &b }
func headersp(h map[string]string) *map[string]string { return &h }

// create makes a webhook for a, failing the test on error.
func (f *fixture) create(tb testing.TB, a *fluxhook.Actor, url string, events ...string) (*fluxhook.Webhook, string) {
	tb.Helper()
	w, secret, err := f.hooks.Create(context.Background(), a, webhooks.Input{URL: &url, Events: events})
	if err != nil {
		tb.Fatalf("create webhook %s: %v", url, err)
	}
	return w, secret
}

// secrets returns the secrets a delivery of the stored webhook id would be
// signed with now.
func (f *fixture) secrets(tb testing.TB, id string) []string {
	tb.Helper()
	w, err := f.db.Webhook(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := f.hooks.Secrets(w)
	if err != nil {
		tb.Fatalf("Secrets: %v", err)
	}
	return s
}

// invalid asserts err is a validation error naming field.
func invalid(tb testing.TB, err error, field string) {
	tb.Helper()
	var fe *fluxhook.Error
	if !errors.As(err, &fe) || fe.Kind != fluxhook.KindInvalid || fe.Details[field] == "" {
		tb.Fatalf("err = %v, want a validation error naming %s", err, field)
	}
}

// rowsContain is testenv.RowsContain.
func rowsContain(tb testing.TB, raw *sql.DB, table, needle string) bool {
	tb.Helper()
	return testenv.RowsContain(tb, raw, table, needle)
}
