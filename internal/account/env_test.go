package account_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/store/storetest"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

const publicURL = "https://fluxhook.test"

// clock is the tests' settable clock (testenv.Clock).
type clock = testenv.Clock

func newClock() *clock {
	return testenv.NewClock()
}

// mailbox records mails: the one fake here, since SMTP itself is tested
// in internal/mail. fail, when set, makes Send fail.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) all() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.msgs...)
}

// fixture is an account service on a fresh database.
type fixture struct {
	db       *store.DB
	raw      *sql.DB // the same database, read behind the store's back
	clock    *clock
	tokens   *auth.Tokens
	queued   *mailbox // mails sent through the background queue
	direct   *mailbox // mails sent synchronously (invitations)
	userBus  *recorder
	accounts *account.Service
	seen     int // outbox rows already returned by events
}

type options struct {
	smtp       bool
	refreshTTL time.Duration
}

// openStore opens a migrated store on a fresh database of driver and a
// raw connection to it (storetest.Open).
func openStore(tb testing.TB, driver string, c *clock) (*store.DB, *sql.DB) {
	tb.Helper()
	db, raw, _ := storetest.Open(tb, driver, c.Now)
	return db, raw
}

func newFixture(tb testing.TB, driver string, o options) *fixture {
	tb.Helper()
	c := newClock()
	db, raw := openStore(tb, driver, c)
	tokens, err := auth.NewTokens(bytes.Repeat([]byte("k"), 32), "fluxhook-test", 15*time.Minute, c.Now)
	if err != nil {
		tb.Fatal(err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{db: db, raw: raw, clock: c, tokens: tokens, queued: &mailbox{}, direct: &mailbox{}, userBus: &recorder{}}
	mq := account.NewMailQueue(f.queued, logger, 100)
	tb.Cleanup(func() { mq.Close(context.Background()) })
	bus := &cachebus.Local{}
	bus.Subscribe(cachebus.User, f.userBus.record)
	f.accounts = account.New(account.Deps{DB: db, Hasher: auth.NewHasher(auth.TestParams()), Tokens: tokens, Mail: mq,
		Sender: f.direct, SMTP: o.smtp, Box: box, Bus: bus, Logger: logger},
		account.Config{PublicURL: publicURL + "/", RefreshTTL: o.refreshTTL, Now: c.Now})
	return f
}

// conformance runs fn against every driver: the rules must hold on
// SQLite and PostgreSQL alike.
func conformance(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, driver, options{}))
		})
	}
}

// recorder collects the ids announced on the bus.
type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) record(id string) {
	r.mu.Lock()
	r.ids = append(r.ids, id)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.ids
	r.ids = nil
	return ids
}

const password = "correct horse battery"

// signUp signs up an app user, failing the test on error.
func (f *fixture) signUp(tb testing.TB, email string) *account.AuthResult {
	tb.Helper()
	res, err := f.accounts.SignUp(context.Background(), account.SignUpInput{Email: email, Password: password, Name: "Ada"})
	if err != nil {
		tb.Fatalf("sign up %s: %v", email, err)
	}
	return res
}

// dashboardUser creates a dashboard user directly in the store.
func (f *fixture) dashboardUser(tb testing.TB, email string, role fluxhook.Role) *fluxhook.User {
	tb.Helper()
	hash, err := auth.NewHasher(auth.TestParams()).Hash(context.Background(), password)
	if err != nil {
		tb.Fatal(err)
	}
	u := &fluxhook.User{Email: email, Name: "Dash", Role: role, PasswordHash: hash, EmailVerified: true, Metadata: json.RawMessage(`{}`)}
	if err := f.db.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

func (f *fixture) signIn(tb testing.TB, email, audience string) *account.AuthResult {
	tb.Helper()
	res, err := f.accounts.SignIn(context.Background(), email, password, audience)
	if err != nil {
		tb.Fatalf("sign in %s: %v", email, err)
	}
	return res
}

// event is a domain event as the outbox holds it.
type event struct {
	name   string
	userID string
	data   map[string]any
}

// events returns the domain events written to the outbox since the last
// call, oldest first.
func (f *fixture) events(tb testing.TB) []event {
	tb.Helper()
	pending, err := f.db.PendingOutbox(context.Background(), 1000)
	if err != nil {
		tb.Fatal(err)
	}
	var out []event
	for _, p := range pending[f.seen:] {
		e := event{name: p.Event.Event, userID: p.UserID}
		if err := json.Unmarshal(p.Data, &e.data); err != nil {
			tb.Fatalf("event %s data %s: %v", e.name, p.Data, err)
		}
		out = append(out, e)
	}
	f.seen = len(pending)
	return out
}

// names lists the event names of es.
func names(es []event) string {
	var n []string
	for _, e := range es {
		n = append(n, e.name)
	}
	return strings.Join(n, ",")
}

var linkToken = regexp.MustCompile(`\?token=(fbt_[A-Za-z0-9_-]{43})\n`)

// mailedToken waits for the next queued mail to `to` with subject after
// the first skip of them, and returns the token in its link, checking
// that the link starts at path under the public URL.
func (f *fixture) mailedToken(tb testing.TB, to, subject, path string, skip int) string {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		for _, m := range f.queued.all() {
			if m.To != to || m.Subject != subject {
				continue
			}
			if n++; n <= skip {
				continue
			}
			if !strings.Contains(m.Text, publicURL+path+"?token=") {
				tb.Fatalf("mail %q has no %s%s link:\n%s", subject, publicURL, path, m.Text)
			}
			match := linkToken.FindStringSubmatch(m.Text)
			if match == nil {
				tb.Fatalf("mail %q has no token:\n%s", subject, m.Text)
			}
			return match[1]
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no mail %q to %s within 5s (mails: %+v)", subject, to, f.queued.all())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// code asserts err is an *fluxhook.Error of kind and code.
func code(tb testing.TB, err error, kind fluxhook.Kind, code string) *fluxhook.Error {
	tb.Helper()
	var fe *fluxhook.Error
	if !errors.As(err, &fe) || fe.Kind != kind || fe.Code != code {
		tb.Fatalf("err = %v, want %s %s", err, kind, code)
	}
	return fe
}

// invalid asserts err is a validation error naming field.
func invalid(tb testing.TB, err error, field string) {
	tb.Helper()
	fe := code(tb, err, fluxhook.KindInvalid, "VALIDATION_FAILED")
	if fe.Details[field] == "" {
		tb.Fatalf("validation error %v does not name %s", fe.Details, field)
	}
}

// rowsContain is testenv.RowsContain.
func rowsContain(tb testing.TB, raw *sql.DB, table, needle string) bool {
	tb.Helper()
	return testenv.RowsContain(tb, raw, table, needle)
}

func strp(s string) *string { return &s }
func intp(n int) *int       { return &n }
