package store_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

func newInvitation(email, token string, expires time.Time) *fluxhook.Invitation {
	return &fluxhook.Invitation{Email: email, Role: fluxhook.RoleDashboardUser, TokenHash: keyHash(token),
		TokenEnc: []byte("sealed:" + token), ExpiresAt: expires}
}

func mustInvite(t *testing.T, db *store.DB, inv *fluxhook.Invitation) *fluxhook.Invitation {
	t.Helper()
	if err := db.CreateInvitation(context.Background(), inv); err != nil {
		t.Fatal(err)
	}
	return inv
}

func checkInvitation(t *testing.T, got, want *fluxhook.Invitation) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.Role != want.Role || !bytes.Equal(got.TokenHash, want.TokenHash) ||
		!bytes.Equal(got.TokenEnc, want.TokenEnc) || got.InvitedBy != want.InvitedBy || !sameTime(got.AcceptedAt, want.AcceptedAt) ||
		!got.ExpiresAt.Equal(want.ExpiresAt) || !got.CreatedAt.Equal(want.CreatedAt) || !sameTime(got.RevokedAt, want.RevokedAt) {
		t.Fatalf("invitation\n got %+v\nwant %+v", got, want)
	}
}

func invIDs(invs []*fluxhook.Invitation) []string {
	out := []string{}
	for _, inv := range invs {
		out = append(out, inv.ID)
	}
	return out
}

func TestInvitations(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		admin := mustUser(t, db, "admin@example.com")

		inv := newInvitation("New.Person@Example.COM", "tok-1", c.Now().Add(7*24*time.Hour))
		inv.InvitedBy = admin.ID
		inv.Role = fluxhook.RoleDashboardAdmin
		mustInvite(t, db, inv)
		if inv.ID == "" || !inv.CreatedAt.Equal(micro(c.Now())) || inv.Email != "new.person@example.com" {
			t.Fatalf("CreateInvitation did not fill in id, time or lower-case the email: %+v", inv)
		}
		got, err := db.InvitationByHash(ctx, keyHash("tok-1"))
		if err != nil {
			t.Fatal(err)
		}
		checkInvitation(t, got, inv)

		// No inviter (configuration), and optional times set at creation.
		c.Advance(time.Second)
		bare := newInvitation("cfg@example.com", "tok-2", c.Now().Add(time.Hour))
		bare.AcceptedAt = timep(c.Now().Add(time.Minute))
		bare.RevokedAt = timep(c.Now().Add(2 * time.Minute))
		mustInvite(t, db, bare)
		got, err = db.InvitationByHash(ctx, keyHash("tok-2"))
		if err != nil {
			t.Fatal(err)
		}
		checkInvitation(t, got, bare)

		if err := db.CreateInvitation(ctx, newInvitation("x@example.com", "tok-1", c.Now().Add(time.Hour))); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("duplicate token hash: err = %v, want conflict", err)
		}
		if _, err := db.InvitationByHash(ctx, keyHash("nope")); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown hash: err = %v, want not found", err)
		}

		// Accept: once, then conflict.
		at := c.Now()
		if err := db.AcceptInvitation(ctx, inv.ID, at); err != nil {
			t.Fatal(err)
		}
		err = db.AcceptInvitation(ctx, inv.ID, at.Add(time.Minute))
		if fluxhook.ErrorKind(err) != fluxhook.KindConflict || fluxhook.ErrorCode(err) != "INVITATION_ACCEPTED" {
			t.Fatalf("second accept: err = %v, want conflict INVITATION_ACCEPTED", err)
		}
		got, err = db.InvitationByHash(ctx, keyHash("tok-1"))
		if err != nil || got.AcceptedAt == nil || !got.AcceptedAt.Equal(micro(at)) {
			t.Fatalf("after accept: %+v (%v)", got, err)
		}

		// Revoke: a revoked invitation cannot be accepted or revoked again.
		c.Advance(time.Second)
		rv := mustInvite(t, db, newInvitation("rv@example.com", "tok-3", c.Now().Add(time.Hour)))
		if err := db.RevokeInvitation(ctx, rv.ID, c.Now()); err != nil {
			t.Fatal(err)
		}
		got, err = db.InvitationByHash(ctx, keyHash("tok-3"))
		if err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(micro(c.Now())) {
			t.Fatalf("after revoke: %+v (%v)", got, err)
		}
		if err := db.RevokeInvitation(ctx, rv.ID, c.Now()); !fluxhook.IsNotFound(err) {
			t.Fatalf("second revoke: err = %v, want not found", err)
		}
		if err := db.AcceptInvitation(ctx, rv.ID, c.Now()); !fluxhook.IsNotFound(err) {
			t.Fatalf("accepting a revoked invitation: err = %v, want not found", err)
		}

		for _, id := range []string{store.NewID(), "not-a-uuid", ""} {
			if err := db.AcceptInvitation(ctx, id, c.Now()); !fluxhook.IsNotFound(err) {
				t.Errorf("AcceptInvitation(%q): err = %v, want not found", id, err)
			}
			if err := db.RevokeInvitation(ctx, id, c.Now()); !fluxhook.IsNotFound(err) {
				t.Errorf("RevokeInvitation(%q): err = %v, want not found", id, err)
			}
		}

		// The inviter's account may go; the invitation stays, without inviter.
		if err := db.DeleteUser(ctx, admin.ID); err != nil {
			t.Fatal(err)
		}
		got, err = db.InvitationByHash(ctx, keyHash("tok-1"))
		if err != nil || got.InvitedBy != "" {
			t.Fatalf("after deleting the inviter: %+v (%v)", got, err)
		}
	})
}

func TestListInvitations(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		start := c.Now()
		mk := func(token string, expires time.Time) *fluxhook.Invitation {
			c.Advance(time.Second) // distinct creation times, for the order
			return mustInvite(t, db, newInvitation(token+"@example.com", token, expires))
		}
		// After the clock moves to start+1h: pending ones are still valid,
		// expired ones are past (or exactly at) their expiry.
		pending := mk("pending", start.Add(2*time.Hour))
		accepted := mk("accepted", start.Add(2*time.Hour))
		acceptedExpired := mk("accepted-expired", start.Add(30*time.Minute))
		expired := mk("expired", start.Add(30*time.Minute))
		expiredNow := mk("expired-now", start.Add(time.Hour))
		revoked := mk("revoked", start.Add(2*time.Hour))
		revokedExpired := mk("revoked-expired", start.Add(30*time.Minute))
		revokedAccepted := mk("revoked-accepted", start.Add(2*time.Hour))
		for _, inv := range []*fluxhook.Invitation{accepted, acceptedExpired, revokedAccepted} {
			if err := db.AcceptInvitation(ctx, inv.ID, c.Now()); err != nil {
				t.Fatal(err)
			}
		}
		for _, inv := range []*fluxhook.Invitation{revoked, revokedExpired, revokedAccepted} {
			if err := db.RevokeInvitation(ctx, inv.ID, c.Now()); err != nil {
				t.Fatal(err)
			}
		}
		c.Set(start.Add(time.Hour))

		ids := func(invs ...*fluxhook.Invitation) []string {
			out := invIDs(invs)
			slices.Reverse(out) // newest first
			return out
		}
		for _, tc := range []struct {
			accepted, expired bool
			want              []string
		}{
			{false, false, ids(pending)},
			{true, false, ids(pending, accepted, acceptedExpired)},
			{false, true, ids(pending, expired, expiredNow)},
			{true, true, ids(pending, accepted, acceptedExpired, expired, expiredNow)},
		} {
			got, err := db.ListInvitations(ctx, tc.accepted, tc.expired)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(invIDs(got), tc.want) {
				t.Errorf("ListInvitations(accepted=%v, expired=%v) = %v, want %v", tc.accepted, tc.expired, invIDs(got), tc.want)
			}
		}
		got, err := db.ListInvitations(ctx, false, false)
		if err != nil || len(got) != 1 {
			t.Fatalf("pending = %v (%v)", got, err)
		}
		checkInvitation(t, got[0], pending)
	})
}

func TestListInvitationsEmpty(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		got, err := db.ListInvitations(context.Background(), true, true)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("ListInvitations = %v, %v; want an empty, non-nil slice", got, err)
		}
	})
}

func TestDeletePendingInvitations(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		start := c.Now()
		pending := mustInvite(t, db, newInvitation("Sam@Example.com", "p1", start.Add(2*time.Hour)))
		expired := mustInvite(t, db, newInvitation("sam@example.com", "p2", start.Add(time.Minute)))
		accepted := mustInvite(t, db, newInvitation("sam@example.com", "a", start.Add(2*time.Hour)))
		revoked := mustInvite(t, db, newInvitation("sam@example.com", "r", start.Add(2*time.Hour)))
		other := mustInvite(t, db, newInvitation("someone@example.com", "o", start.Add(2*time.Hour)))
		if err := db.AcceptInvitation(ctx, accepted.ID, c.Now()); err != nil {
			t.Fatal(err)
		}
		if err := db.RevokeInvitation(ctx, revoked.ID, c.Now()); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)

		n, err := db.DeletePendingInvitations(ctx, "SAM@example.COM")
		if err != nil || n != 2 {
			t.Fatalf("DeletePendingInvitations = %d (%v), want 2 (the pending and the expired one)", n, err)
		}
		for _, inv := range []*fluxhook.Invitation{pending, expired} {
			if _, err := db.InvitationByHash(ctx, inv.TokenHash); !fluxhook.IsNotFound(err) {
				t.Errorf("invitation %s survived: %v", inv.Email, err)
			}
		}
		for _, inv := range []*fluxhook.Invitation{accepted, revoked, other} {
			if _, err := db.InvitationByHash(ctx, inv.TokenHash); err != nil {
				t.Errorf("invitation %x was deleted: %v", inv.TokenHash[:4], err)
			}
		}
		if n, err := db.DeletePendingInvitations(ctx, "sam@example.com"); err != nil || n != 0 {
			t.Fatalf("second delete = %d (%v), want 0", n, err)
		}
	})
}

func TestAcceptInvitationConcurrent(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		inv := mustInvite(t, db, newInvitation("race@example.com", "race", c.Now().Add(time.Hour)))
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Inside a transaction, as the accept handler creates the user in the same one.
				err := db.Tx(ctx, func(q *store.Queries) error { return q.AcceptInvitation(ctx, inv.ID, c.Now()) })
				switch {
				case err == nil:
					wins.Add(1)
				case fluxhook.ErrorCode(err) == "INVITATION_ACCEPTED":
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("%d accepts succeeded and %d conflicted, want 1 and 7", wins.Load(), conflicts.Load())
		}
	})
}
