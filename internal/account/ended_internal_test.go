package account

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/store"
)

// TestEndedSessionsAnswerFromMemory: once loaded, checking a session
// needs no database (it is closed here, and answers still come), an
// announcement counts at once, and an entry lapses when its tokens have.
func TestEndedSessionsAnswerFromMemory(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "ended.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	stored, announced, never := store.NewID(), store.NewID(), store.NewID()
	if err := db.EndSessions(ctx, []string{stored}, now, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	e := newEndedSessions(db, clock, 15*time.Minute, time.Hour, nil)
	check := func(id string, want bool) {
		t.Helper()
		got, err := e.ended(ctx, id)
		if err != nil || got != want {
			t.Fatalf("ended(%s) = %v, %v; want %v", id, got, err, want)
		}
	}
	check(stored, true) // the first check loads
	db.Close()
	check(stored, true)
	check(never, false)
	e.add(announced)
	check(announced, true)
	now = now.Add(11 * time.Minute) // the stored session's tokens have expired
	check(stored, false)
	check(announced, true)
}
