// Package storetest opens stores for other packages' tests: a migrated
// store on a fresh SQLite or PostgreSQL database, and a read-only raw
// connection to the same database, to check what is stored behind the
// store's back.
package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// Open opens a migrated store on a fresh database of driver ("sqlite" or
// "postgres", which testenv provides or skips), with now as its clock,
// and a raw connection to it; both close when the test ends.
func Open(tb testing.TB, driver string, now func() time.Time) (db *store.DB, raw *sql.DB, url string) {
	tb.Helper()
	ctx := context.Background()
	var rawDriver, rawDSN string
	switch driver {
	case "sqlite":
		path := filepath.Join(tb.TempDir(), "fluxhook.db")
		url, rawDriver, rawDSN = "sqlite://"+path, "sqlite", "file:"+path+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)"
	case "postgres":
		url = testenv.PostgresURL(tb)
		rawDriver, rawDSN = "pgx", url
	default:
		tb.Fatalf("storetest: unknown driver %q", driver)
	}
	db, err := store.Open(ctx, url, store.Options{Now: now})
	if err != nil {
		tb.Fatalf("open %s: %v", driver, err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", driver, err)
	}
	raw, err = sql.Open(rawDriver, rawDSN)
	if err != nil {
		tb.Fatalf("open raw %s: %v", driver, err)
	}
	tb.Cleanup(func() { raw.Close() })
	return db, raw, url
}

// Actor creates a user with email and role in db and returns it as the
// actor of a signed-in session.
func Actor(tb testing.TB, db *store.DB, email string, role fluxhook.Role) *fluxhook.Actor {
	tb.Helper()
	u := &fluxhook.User{Email: email, Name: "T", Role: role, PasswordHash: "$argon2id$x", Metadata: json.RawMessage(`{}`)}
	if err := db.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return &fluxhook.Actor{UserID: u.ID, Role: role, SessionID: "s"}
}
