package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// clock is the tests' settable clock (testenv.Clock).
type clock = testenv.Clock

func newClock() *clock {
	c := testenv.NewClock()
	c.Set(time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC))
	return c
}

// MustOpen opens a migrated store on a fresh database of the given driver.
func MustOpen(tb testing.TB, driver string, c *clock) *store.DB {
	tb.Helper()
	var url string
	switch driver {
	case "sqlite":
		url = "sqlite://" + filepath.Join(tb.TempDir(), "fluxhook.db")
	case "postgres":
		url = testenv.PostgresURL(tb)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{Now: c.Now})
	if err != nil {
		tb.Fatalf("open %s: %v", driver, err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", driver, err)
	}
	return db
}

// conformance runs fn against every driver: the same assertions must hold
// for SQLite and PostgreSQL.
func conformance(t *testing.T, fn func(t *testing.T, db *store.DB, c *clock)) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			fn(t, MustOpen(t, driver, c), c)
		})
	}
}

func newUser(email string) *fluxhook.User {
	return &fluxhook.User{Email: email, Name: "Ada", Role: fluxhook.RoleUser, PasswordHash: "$argon2id$x", Metadata: json.RawMessage(`{"plan":"pro"}`)}
}

func TestMigrateIsIdempotent(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		applied, err := db.Migrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("second Migrate applied %v, want nothing", applied)
		}
	})
}

func TestUsers(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := newUser("Ada@Example.com")
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.ID == "" || u.CreatedAt.IsZero() {
			t.Fatalf("CreateUser did not fill in id and times: %+v", u)
		}
		got, err := db.UserByEmail(ctx, "ADA@example.COM")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != u.ID || got.Email != "ada@example.com" || got.Role != fluxhook.RoleUser || got.Name != "Ada" {
			t.Fatalf("UserByEmail = %+v", got)
		}
		if !got.CreatedAt.Equal(c.Now().Truncate(time.Microsecond)) {
			t.Fatalf("created_at = %v, want %v", got.CreatedAt, c.Now())
		}
		var meta map[string]string
		if err := json.Unmarshal(got.Metadata, &meta); err != nil || meta["plan"] != "pro" {
			t.Fatalf("metadata = %s (%v)", got.Metadata, err)
		}
		if got.LastLoginAt != nil || got.EmailVerified {
			t.Fatalf("fresh user has last login or verified email: %+v", got)
		}

		dup := newUser("ada@example.com")
		if err := db.CreateUser(ctx, dup); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("duplicate email: err = %v, want conflict", err)
		}

		c.Advance(time.Minute)
		got.Name = "Ada L."
		got.EmailVerified = true
		login := c.Now()
		got.LastLoginAt = &login
		if err := db.UpdateUser(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := db.User(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if again.Name != "Ada L." || !again.EmailVerified || again.LastLoginAt == nil || !again.UpdatedAt.After(again.CreatedAt) {
			t.Fatalf("after update: %+v", again)
		}

		if _, err := db.User(ctx, "not-a-uuid"); !fluxhook.IsNotFound(err) {
			t.Fatalf("malformed id: err = %v, want not found", err)
		}
		if _, err := db.User(ctx, store.NewID()); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown id: err = %v, want not found", err)
		}

		other := newUser("grace@example.com")
		if err := db.CreateUser(ctx, other); err != nil {
			t.Fatal(err)
		}
		other.Email = "ADA@example.com"
		if err := db.UpdateUser(ctx, other); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("update to a taken email: err = %v, want conflict", err)
		}

		users, total, err := db.ListUsers(ctx, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if total != 2 || len(users) != 1 || users[0].Email != "grace@example.com" {
			t.Fatalf("ListUsers(1,1) = %d users, total %d", len(users), total)
		}

		if err := db.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteUser(ctx, u.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("second delete: err = %v, want not found", err)
		}
	})
}

func TestRefreshTokens(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := newUser("rt@example.com")
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		family := store.NewID()
		tok := &fluxhook.RefreshToken{UserID: u.ID, FamilyID: family, TokenHash: []byte("hash-1"), ExpiresAt: c.Now().Add(time.Hour)}
		if err := db.CreateRefreshToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := db.RefreshTokenByHash(ctx, []byte("hash-1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != tok.ID || got.FamilyID != family || got.UsedAt != nil || !bytes.Equal(got.TokenHash, []byte("hash-1")) {
			t.Fatalf("RefreshTokenByHash = %+v", got)
		}

		// Concurrent use: exactly one wins.
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := db.UseRefreshToken(ctx, tok.ID, c.Now())
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent uses succeeded, want 1", wins.Load())
		}

		tok2 := &fluxhook.RefreshToken{UserID: u.ID, FamilyID: family, TokenHash: []byte("hash-2"), ExpiresAt: c.Now().Add(time.Hour)}
		if err := db.CreateRefreshToken(ctx, tok2); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeRefreshFamily(ctx, family, c.Now()); err != nil {
			t.Fatal(err)
		}
		got2, err := db.RefreshTokenByHash(ctx, []byte("hash-2"))
		if err != nil {
			t.Fatal(err)
		}
		if got2.RevokedAt == nil {
			t.Fatal("family revocation did not revoke the newest token")
		}
		if ok, err := db.UseRefreshToken(ctx, tok2.ID, c.Now()); err != nil || ok {
			t.Fatalf("using a revoked token: ok=%v err=%v", ok, err)
		}
		if _, err := db.RefreshTokenByHash(ctx, []byte("nope")); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown hash: %v", err)
		}

		// Deleting the user removes their tokens.
		if err := db.DeleteUser(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RefreshTokenByHash(ctx, []byte("hash-2")); !fluxhook.IsNotFound(err) {
			t.Fatalf("token survived its user: %v", err)
		}
	})
}

func TestOneTimeTokens(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := newUser("ott@example.com")
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		mk := func(hash string, ttl time.Duration) {
			t.Helper()
			if err := db.CreateOneTimeToken(ctx, &fluxhook.OneTimeToken{UserID: u.ID, Purpose: fluxhook.PurposePasswordReset, TokenHash: []byte(hash), ExpiresAt: c.Now().Add(ttl)}); err != nil {
				t.Fatal(err)
			}
		}
		mk("old", time.Hour)
		mk("new", time.Hour)
		if _, err := db.ConsumeOneTimeToken(ctx, fluxhook.PurposePasswordReset, []byte("old")); !fluxhook.IsNotFound(err) {
			t.Fatalf("superseded token: err = %v, want not found", err)
		}
		if _, err := db.ConsumeOneTimeToken(ctx, fluxhook.PurposeEmailVerification, []byte("new")); !fluxhook.IsNotFound(err) {
			t.Fatalf("wrong purpose: err = %v, want not found", err)
		}
		got, err := db.ConsumeOneTimeToken(ctx, fluxhook.PurposePasswordReset, []byte("new"))
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != u.ID || got.UsedAt == nil {
			t.Fatalf("consumed = %+v", got)
		}
		if _, err := db.ConsumeOneTimeToken(ctx, fluxhook.PurposePasswordReset, []byte("new")); !fluxhook.IsNotFound(err) {
			t.Fatalf("second use: err = %v, want not found", err)
		}

		mk("short", time.Minute)
		c.Advance(2 * time.Minute)
		if _, err := db.ConsumeOneTimeToken(ctx, fluxhook.PurposePasswordReset, []byte("short")); !fluxhook.IsNotFound(err) {
			t.Fatalf("expired token: err = %v, want not found", err)
		}
		n, err := db.DeleteExpiredTokens(ctx, c.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("DeleteExpiredTokens removed %d, want 1 (the expired one)", n)
		}
	})
}

func TestOutbox(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := newUser("ob@example.com")
		// The user and its event commit together...
		err := db.Tx(ctx, func(q *store.Queries) error {
			if err := q.CreateUser(ctx, u); err != nil {
				return err
			}
			return q.InsertOutbox(ctx, fluxhook.Event{Event: fluxhook.EventUserCreated, UserID: u.ID, Data: json.RawMessage(`{"user_id":"` + u.ID + `"}`)})
		})
		if err != nil {
			t.Fatal(err)
		}
		// ...or roll back together.
		err = db.Tx(ctx, func(q *store.Queries) error {
			if err := q.InsertOutbox(ctx, fluxhook.Event{Event: "order.created", Data: json.RawMessage(`{}`)}); err != nil {
				return err
			}
			return q.CreateUser(ctx, newUser("ob@example.com")) // conflict: rolls back the event
		})
		if fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("tx err = %v, want conflict", err)
		}
		for i := range 3 {
			if err := db.InsertOutbox(ctx, fluxhook.Event{Event: "custom.thing", Data: json.RawMessage(`{"i":` + string(rune('0'+i)) + `}`)}); err != nil {
				t.Fatal(err)
			}
		}
		n, _, err := db.OutboxBacklog(ctx)
		if err != nil || n != 4 {
			t.Fatalf("backlog = %d (%v), want 4", n, err)
		}
		pending, err := db.PendingOutbox(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 4 || pending[0].Event.Event != fluxhook.EventUserCreated || pending[0].UserID != u.ID {
			t.Fatalf("pending = %+v", pending)
		}
		for i := 1; i < 4; i++ {
			if pending[i].Event.Event != "custom.thing" || string(pending[i].Data) != `{"i":`+string(rune('0'+i-1))+`}` {
				t.Fatalf("pending[%d] = %+v (order or payload wrong)", i, pending[i].Event)
			}
		}
		if err := db.MarkOutboxPublished(ctx, []string{pending[0].ID, pending[1].ID}, c.Now()); err != nil {
			t.Fatal(err)
		}
		pending, err = db.PendingOutbox(ctx, 10)
		if err != nil || len(pending) != 2 {
			t.Fatalf("after publishing two: %d pending (%v), want 2", len(pending), err)
		}
		c.Advance(time.Hour)
		pruned, err := db.PruneOutbox(ctx, c.Now(), 100)
		if err != nil || pruned != 2 {
			t.Fatalf("pruned %d (%v), want 2", pruned, err)
		}
	})
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	_, err := store.Open(context.Background(), "mysql://u:secret@host/db", store.Options{})
	if err == nil {
		t.Fatal("want an error for mysql://")
	}
	if bytes.Contains([]byte(err.Error()), []byte("secret")) {
		t.Fatalf("error leaks the password: %v", err)
	}
}
