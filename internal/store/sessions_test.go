package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

func endedIDs(ss []store.EndedSession) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	slices.Sort(ids)
	return ids
}

// TestEndedSessions: ended sessions are listed while their tokens could
// still be presented, from a given time on, once each, and pruned with
// the expired tokens.
func TestEndedSessions(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		a, b, later := store.NewID(), store.NewID(), store.NewID()
		t0 := c.Now().UTC().Truncate(time.Microsecond) // what both databases keep
		if err := db.EndSessions(ctx, []string{a, b, "not-a-session"}, t0, t0.Add(15*time.Minute)); err != nil {
			t.Fatal(err)
		}
		// Ending a again keeps its first record.
		if err := db.EndSessions(ctx, []string{a}, t0.Add(time.Minute), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.EndSessions(ctx, []string{later}, t0.Add(5*time.Minute), t0.Add(20*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.EndSessions(ctx, nil, t0, t0); err != nil {
			t.Fatalf("ending no session: %v", err)
		}
		all, err := db.EndedSessions(ctx, time.Time{}, t0)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{a, b, later}
		slices.Sort(want)
		if got := endedIDs(all); !slices.Equal(got, want) {
			t.Fatalf("EndedSessions = %v, want %v", got, want)
		}
		for _, s := range all {
			if s.ID == a && (!s.EndedAt.Equal(t0) || !s.Until.Equal(t0.Add(15*time.Minute))) {
				t.Fatalf("a's record was overwritten: %+v", s)
			}
		}
		if got, _ := db.EndedSessions(ctx, t0.Add(time.Minute), t0); !slices.Equal(endedIDs(got), []string{later}) {
			t.Fatalf("EndedSessions since t0+1m = %v, want only the later one", endedIDs(got))
		}
		// After 15 minutes a and b's tokens are all expired.
		if got, _ := db.EndedSessions(ctx, time.Time{}, t0.Add(15*time.Minute)); !slices.Equal(endedIDs(got), []string{later}) {
			t.Fatalf("EndedSessions at t0+15m = %v, want only the later one", endedIDs(got))
		}
		n, err := db.DeleteExpiredTokens(ctx, t0.Add(16*time.Minute), 100)
		if err != nil || n != 2 {
			t.Fatalf("DeleteExpiredTokens = %d, %v; want the 2 expired records", n, err)
		}
	})
}

// TestRevokeUserRefreshTokensNamesTheSessionsItEnds: a password change
// ends every other session, and says which, so that their access tokens
// can be ended too.
func TestRevokeUserRefreshTokensNamesTheSessionsItEnds(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := newUser("sessions@example.com")
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		f1, f2, keep, gone := store.NewID(), store.NewID(), store.NewID(), store.NewID()
		for i, f := range []string{f1, f1, f2, keep, gone} {
			rt := &fluxhook.RefreshToken{UserID: u.ID, FamilyID: f, TokenHash: []byte{byte(i)}, ExpiresAt: c.Now().Add(time.Hour)}
			if err := db.CreateRefreshToken(ctx, rt); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RevokeRefreshFamily(ctx, gone, c.Now()); err != nil {
			t.Fatal(err)
		}
		ended, err := db.RevokeUserRefreshTokens(ctx, u.ID, keep, c.Now())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ended)
		want := []string{f1, f2}
		slices.Sort(want)
		if !slices.Equal(ended, want) {
			t.Fatalf("RevokeUserRefreshTokens ended %v, want %v (each once; not the kept one, nor one already ended)", ended, want)
		}
	})
}
