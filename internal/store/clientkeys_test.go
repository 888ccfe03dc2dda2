package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

func strp(s string) *string         { return &s }
func timep(t time.Time) *time.Time  { return &t }
func micro(t time.Time) time.Time   { return t.UTC().Truncate(time.Microsecond) }
func keyHash(name string) []byte    { h := sha256.Sum256([]byte(name)); return h[:] }
func sameTime(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
func sameStr(a, b *string) bool     { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
func mustUser(t testing.TB, db *store.DB, email string) *fluxhook.User {
	t.Helper()
	u := newUser(email)
	if err := db.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func newKey(userID, name string) *fluxhook.ClientKey {
	return &fluxhook.ClientKey{UserID: userID, Name: name, KeyPrefix: "fbk_" + name, KeyHash: keyHash(name),
		Scopes: []string{"read:webhooks", "write:events"}, RateLimitPerMinute: 60}
}

func checkKey(t *testing.T, got, want *fluxhook.ClientKey) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Name != want.Name || !sameStr(got.Description, want.Description) ||
		got.KeyPrefix != want.KeyPrefix || !bytes.Equal(got.KeyHash, want.KeyHash) || !slices.Equal(got.Scopes, want.Scopes) ||
		got.RateLimitPerMinute != want.RateLimitPerMinute || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		!sameTime(got.ExpiresAt, want.ExpiresAt) || !sameTime(got.RevokedAt, want.RevokedAt) || !sameTime(got.LastUsedAt, want.LastUsedAt) {
		t.Fatalf("client key\n got %+v\nwant %+v", got, want)
	}
}

func TestClientKeys(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		ada := mustUser(t, db, "ada@example.com")
		bob := mustUser(t, db, "bob@example.com")

		// Every optional field nil.
		bare := newKey(ada.ID, "bare")
		bare.Scopes = nil
		if err := db.CreateClientKey(ctx, bare); err != nil {
			t.Fatal(err)
		}
		if bare.ID == "" || !bare.CreatedAt.Equal(micro(c.Now())) || !bare.UpdatedAt.Equal(bare.CreatedAt) {
			t.Fatalf("CreateClientKey did not fill in id and times: %+v", bare)
		}
		got, err := db.ClientKey(ctx, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkKey(t, got, bare)
		if got.Scopes == nil || got.Description != nil || got.ExpiresAt != nil || got.RevokedAt != nil || got.LastUsedAt != nil {
			t.Fatalf("bare key read back with values: %+v", got)
		}

		// Every optional field set, with nanoseconds the databases drop.
		c.Advance(time.Second)
		full := newKey(ada.ID, "full")
		full.Description = strp("CI deploys")
		full.ExpiresAt = timep(c.Now().Add(24 * time.Hour))
		full.RevokedAt = timep(c.Now().Add(time.Minute))
		full.LastUsedAt = timep(c.Now().Add(-time.Minute).In(time.FixedZone("CET", 3600)))
		if err := db.CreateClientKey(ctx, full); err != nil {
			t.Fatal(err)
		}
		got, err = db.ClientKeyByHash(ctx, keyHash("full"))
		if err != nil {
			t.Fatal(err)
		}
		checkKey(t, got, full)
		if got.ExpiresAt.Location() != time.UTC || !got.ExpiresAt.Equal(micro(*full.ExpiresAt)) {
			t.Fatalf("expires_at = %v", got.ExpiresAt)
		}

		c.Advance(time.Second)
		bobs := newKey(bob.ID, "bobs")
		if err := db.CreateClientKey(ctx, bobs); err != nil {
			t.Fatal(err)
		}
		// Same creation time as bobs: the id breaks the tie.
		tie := newKey(bob.ID, "tie")
		if err := db.CreateClientKey(ctx, tie); err != nil {
			t.Fatal(err)
		}

		ids := func(keys []*fluxhook.ClientKey) []string {
			var out []string
			for _, k := range keys {
				out = append(out, k.ID)
			}
			return out
		}
		all, err := db.ListClientKeys(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{tie.ID, bobs.ID, full.ID, bare.ID}; !slices.Equal(ids(all), want) {
			t.Fatalf("ListClientKeys(all) = %v, want %v", ids(all), want)
		}
		mine, err := db.ListClientKeys(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{full.ID, bare.ID}; !slices.Equal(ids(mine), want) {
			t.Fatalf("ListClientKeys(ada) = %v, want %v", ids(mine), want)
		}
		for _, uid := range []string{store.NewID(), "not-a-uuid"} {
			none, err := db.ListClientKeys(ctx, uid)
			if err != nil || none == nil || len(none) != 0 {
				t.Fatalf("ListClientKeys(%q) = %v, %v; want an empty, non-nil slice", uid, none, err)
			}
		}

		dup := newKey(bob.ID, "full")
		if err := db.CreateClientKey(ctx, dup); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("duplicate key hash: err = %v, want conflict", err)
		}

		// Update: set and clear optional fields; UpdatedAt moves, revocation and use do not.
		c.Advance(time.Minute)
		full.Name = "renamed"
		full.Description = nil
		full.Scopes = []string{"*"}
		full.RateLimitPerMinute = 1000
		full.ExpiresAt = nil
		full.RevokedAt = nil // not written by UpdateClientKey
		if err := db.UpdateClientKey(ctx, full); err != nil {
			t.Fatal(err)
		}
		if !full.UpdatedAt.Equal(micro(c.Now())) {
			t.Fatalf("UpdatedAt = %v, want %v", full.UpdatedAt, c.Now())
		}
		got, err = db.ClientKey(ctx, full.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == nil {
			t.Fatal("UpdateClientKey cleared revoked_at")
		}
		full.RevokedAt = got.RevokedAt
		checkKey(t, got, full)
		bare.Description = strp("now described")
		bare.ExpiresAt = timep(c.Now().Add(time.Hour))
		if err := db.UpdateClientKey(ctx, bare); err != nil {
			t.Fatal(err)
		}
		got, err = db.ClientKey(ctx, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkKey(t, got, bare)

		// Revoke: once, then conflict.
		at := c.Now()
		if err := db.RevokeClientKey(ctx, bare.ID, at); err != nil {
			t.Fatal(err)
		}
		got, err = db.ClientKey(ctx, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt == nil || !got.RevokedAt.Equal(micro(at)) || !got.UpdatedAt.Equal(micro(at)) {
			t.Fatalf("after revoke: revoked_at %v updated_at %v, want %v", got.RevokedAt, got.UpdatedAt, at)
		}
		err = db.RevokeClientKey(ctx, bare.ID, c.Now().Add(time.Hour))
		if fluxhook.ErrorKind(err) != fluxhook.KindConflict || fluxhook.ErrorCode(err) != "ALREADY_REVOKED" {
			t.Fatalf("second revoke: err = %v, want conflict ALREADY_REVOKED", err)
		}
		if again, _ := db.ClientKey(ctx, bare.ID); !again.RevokedAt.Equal(micro(at)) {
			t.Fatalf("second revoke moved revoked_at to %v", again.RevokedAt)
		}

		// Unknown and malformed ids.
		for _, id := range []string{store.NewID(), "not-a-uuid", ""} {
			if _, err := db.ClientKey(ctx, id); !fluxhook.IsNotFound(err) {
				t.Errorf("ClientKey(%q): err = %v, want not found", id, err)
			}
			if err := db.UpdateClientKey(ctx, &fluxhook.ClientKey{ID: id, Name: "x", Scopes: []string{}}); !fluxhook.IsNotFound(err) {
				t.Errorf("UpdateClientKey(%q): err = %v, want not found", id, err)
			}
			if err := db.RevokeClientKey(ctx, id, c.Now()); !fluxhook.IsNotFound(err) {
				t.Errorf("RevokeClientKey(%q): err = %v, want not found", id, err)
			}
			if err := db.DeleteClientKey(ctx, id); !fluxhook.IsNotFound(err) {
				t.Errorf("DeleteClientKey(%q): err = %v, want not found", id, err)
			}
		}
		if _, err := db.ClientKeyByHash(ctx, keyHash("nope")); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown hash: err = %v, want not found", err)
		}

		// Delete, then everything about it is not found.
		if err := db.DeleteClientKey(ctx, tie.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteClientKey(ctx, tie.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("second delete: err = %v, want not found", err)
		}
		if err := db.UpdateClientKey(ctx, tie); !fluxhook.IsNotFound(err) {
			t.Fatalf("update of a deleted key: err = %v, want not found", err)
		}

		// Works inside a transaction too.
		err = db.Tx(ctx, func(q *store.Queries) error {
			k := newKey(bob.ID, "in-tx")
			if err := q.CreateClientKey(ctx, k); err != nil {
				return err
			}
			return q.RevokeClientKey(ctx, k.ID, c.Now())
		})
		if err != nil {
			t.Fatal(err)
		}

		// Deleting a user deletes their keys.
		if err := db.DeleteUser(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ClientKey(ctx, bobs.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("key survived its user: %v", err)
		}
		if left, err := db.ListClientKeys(ctx, ""); err != nil || !slices.Equal(ids(left), []string{full.ID, bare.ID}) {
			t.Fatalf("after deleting bob: %v (%v)", ids(left), err)
		}
	})
}

func TestRevokeClientKeyConcurrent(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := mustUser(t, db, "race@example.com")
		k := newKey(u.ID, "race")
		if err := db.CreateClientKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch err := db.RevokeClientKey(ctx, k.ID, c.Now()); {
				case err == nil:
					wins.Add(1)
				case fluxhook.ErrorCode(err) == "ALREADY_REVOKED":
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("%d revokes succeeded and %d conflicted, want 1 and 7", wins.Load(), conflicts.Load())
		}
	})
}

// createKeys makes n keys for one user in one transaction.
func createKeys(tb testing.TB, db *store.DB, userID string, n int) []*fluxhook.ClientKey {
	tb.Helper()
	keys := make([]*fluxhook.ClientKey, n)
	err := db.Tx(context.Background(), func(q *store.Queries) error {
		for i := range keys {
			keys[i] = newKey(userID, fmt.Sprintf("k%04d", i))
			if err := q.CreateClientKey(context.Background(), keys[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

func TestTouchClientKeys(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := mustUser(t, db, "touch@example.com")
		const n = 1200 // three statements: 500 + 500 + 200
		keys := createKeys(t, db, u.ID, n)
		base := c.Now()

		// First flush: every key gets its own time.
		first := map[string]time.Time{}
		for i, k := range keys {
			first[k.ID] = base.Add(time.Duration(i) * time.Second)
		}
		// Keys deleted meanwhile, and ids that never were, are ignored.
		first[store.NewID()] = base
		first["not-a-uuid"] = base
		if err := db.DeleteClientKey(ctx, keys[7].ID); err != nil {
			t.Fatal(err)
		}
		if err := db.TouchClientKeys(ctx, first); err != nil {
			t.Fatal(err)
		}
		check := func(want func(i int) time.Time) {
			t.Helper()
			all, err := db.ListClientKeys(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != n-1 {
				t.Fatalf("%d keys, want %d", len(all), n-1)
			}
			byID := map[string]*fluxhook.ClientKey{}
			for _, k := range all {
				byID[k.ID] = k
			}
			for i, k := range keys {
				if i == 7 {
					continue
				}
				got := byID[k.ID]
				if got.LastUsedAt == nil || !got.LastUsedAt.Equal(micro(want(i))) {
					t.Fatalf("key %d: last_used_at = %v, want %v", i, got.LastUsedAt, micro(want(i)))
				}
				if !got.UpdatedAt.Equal(k.UpdatedAt) {
					t.Fatalf("key %d: touching moved updated_at", i)
				}
			}
		}
		check(func(i int) time.Time { return first[keys[i].ID] })

		// Second flush: even keys a minute later, odd keys an hour earlier
		// (a late flush from another replica) — only the later ones move.
		second := map[string]time.Time{}
		for i, k := range keys {
			if i%2 == 0 {
				second[k.ID] = first[k.ID].Add(time.Minute)
			} else {
				second[k.ID] = first[k.ID].Add(-time.Hour)
			}
		}
		if err := db.TouchClientKeys(ctx, second); err != nil {
			t.Fatal(err)
		}
		check(func(i int) time.Time {
			if i%2 == 0 {
				return second[keys[i].ID]
			}
			return first[keys[i].ID]
		})

		if err := db.TouchClientKeys(ctx, nil); err != nil {
			t.Fatalf("empty flush: %v", err)
		}
	})
}

// BenchmarkTouchClientKeys compares the batched flush with one UPDATE per
// key inside one transaction.
func BenchmarkTouchClientKeys(b *testing.B) {
	for _, driver := range []string{"sqlite", "postgres"} {
		b.Run(driver, func(b *testing.B) {
			c := newClock()
			db := MustOpen(b, driver, c)
			u := newUser("bench@example.com")
			if err := db.CreateUser(context.Background(), u); err != nil {
				b.Fatal(err)
			}
			keys := createKeys(b, db, u.ID, 1000)
			flush := func(i int) map[string]time.Time {
				m := make(map[string]time.Time, len(keys))
				for j, k := range keys {
					m[k.ID] = c.Now().Add(time.Duration(i)*time.Hour + time.Duration(j)*time.Millisecond)
				}
				return m
			}
			b.Run("batched-1000", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := db.TouchClientKeys(context.Background(), flush(i)); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("per-key-tx-1000", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					m := flush(i + 1_000_000)
					err := db.Tx(context.Background(), func(q *store.Queries) error {
						for id, at := range m {
							if err := q.TouchClientKeys(context.Background(), map[string]time.Time{id: at}); err != nil {
								return err
							}
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
