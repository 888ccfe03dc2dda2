package clientkey_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/nats-io/nats.go"
)

var keyFormat = regexp.MustCompile(`^fbk_[A-Za-z0-9_-]{43}$`)

func TestKeyIsShownOnceAndOnlyItsHashIsStored(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		k, key := f.create(t, f.ada, "ci", "read:webhooks", "read:orders")

		if !keyFormat.MatchString(key) {
			t.Fatalf("key %q is not fbk_ followed by 43 base64url characters", key)
		}
		if b, err := base64.RawURLEncoding.DecodeString(key[4:]); err != nil || len(b) != 32 {
			t.Fatalf("key body decodes to %d bytes (%v), want 32 random bytes", len(b), err)
		}
		if k.KeyPrefix != key[:12] {
			t.Fatalf("key_prefix = %q, want the key's first 12 characters %q", k.KeyPrefix, key[:12])
		}
		sum := sha256.Sum256([]byte(key))
		stored, err := f.db.ClientKey(context.Background(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(stored.KeyHash) != string(sum[:]) {
			t.Fatal("the stored hash is not the SHA-256 of the key")
		}
		if rowsContain(t, f.raw, "client_keys", key[12:]) {
			t.Fatal("the database holds the secret part of the key in clear")
		}

		_, other := f.create(t, f.ada, "ci-2", "read:webhooks")
		if other == key || other[:12] == key[:12] {
			t.Fatalf("two keys share a prefix: %q and %q", key, other)
		}

		a, got := f.mustAuth(t, key)
		want := fluxhook.Actor{UserID: f.ada.UserID, Role: fluxhook.RoleUser, KeyID: k.ID, Scopes: []string{"read:webhooks", "read:orders"}}
		if a.UserID != want.UserID || a.Role != want.Role || a.KeyID != want.KeyID || a.SessionID != "" || !slices.Equal(a.Scopes, want.Scopes) {
			t.Fatalf("key acts as %+v, want its owner within its scopes %+v", a, want)
		}
		if got.ID != k.ID {
			t.Fatalf("Authenticate returned key %s, want %s", got.ID, k.ID)
		}
	})
}

func TestCreateValidatesEveryField(t *testing.T) {
	f := newFixture(t, "sqlite") // validation happens before the store
	long := func(n int) string { return strings.Repeat("é", n) }
	ok := clientkey.CreateInput{Name: "ci", Scopes: []string{"read:users"}, RateLimitPerMinute: intp(60)}
	cases := []struct {
		name  string
		edit  func(in *clientkey.CreateInput)
		field string // "" when the input is valid
	}{
		{"valid", func(in *clientkey.CreateInput) {}, ""},
		{"name empty", func(in *clientkey.CreateInput) { in.Name = "" }, "name"},
		{"name only spaces", func(in *clientkey.CreateInput) { in.Name = "   " }, "name"},
		{"name of 100 characters", func(in *clientkey.CreateInput) { in.Name = long(100) }, ""},
		{"name of 101 characters", func(in *clientkey.CreateInput) { in.Name = long(101) }, "name"},
		{"description of 1000 characters", func(in *clientkey.CreateInput) { in.Description = strp(long(1000)) }, ""},
		{"description of 1001 characters", func(in *clientkey.CreateInput) { in.Description = strp(long(1001)) }, "description"},
		{"no scopes", func(in *clientkey.CreateInput) { in.Scopes = nil }, "scopes"},
		{"51 scopes", func(in *clientkey.CreateInput) { in.Scopes = manyScopes(51) }, "scopes"},
		{"50 scopes", func(in *clientkey.CreateInput) { in.Scopes = manyScopes(50) }, ""},
		{"scope with capitals", func(in *clientkey.CreateInput) { in.Scopes = []string{"Read:users"} }, "scopes"},
		{"scope without resource", func(in *clientkey.CreateInput) { in.Scopes = []string{"read:"} }, "scopes"},
		{"scope with two colons", func(in *clientkey.CreateInput) { in.Scopes = []string{"read:users:all"} }, "scopes"},
		{"integrator's own scope", func(in *clientkey.CreateInput) { in.Scopes = []string{"read:products"} }, ""},
		{"rate limit missing", func(in *clientkey.CreateInput) { in.RateLimitPerMinute = nil }, "rate_limit_per_minute"},
		{"rate limit 0", func(in *clientkey.CreateInput) { in.RateLimitPerMinute = intp(0) }, "rate_limit_per_minute"},
		{"rate limit 1", func(in *clientkey.CreateInput) { in.RateLimitPerMinute = intp(1) }, ""},
		{"rate limit 100000", func(in *clientkey.CreateInput) { in.RateLimitPerMinute = intp(100000) }, ""},
		{"rate limit 100001", func(in *clientkey.CreateInput) { in.RateLimitPerMinute = intp(100001) }, "rate_limit_per_minute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			k, key, err := f.keys.Create(context.Background(), f.admin, in)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid input refused: %v", err)
				}
				if key == "" || k.ID == "" {
					t.Fatalf("Create returned key %q, id %q", key, k.ID)
				}
				return
			}
			var fe *fluxhook.Error
			if !errors.As(err, &fe) || fe.Kind != fluxhook.KindInvalid || fe.Details[tc.field] == "" {
				t.Fatalf("err = %v, want a validation error naming %s", err, tc.field)
			}
			if k != nil || key != "" {
				t.Fatalf("a refused key was returned: %+v %q", k, key)
			}
		})
	}
	keys, err := f.keys.List(context.Background(), f.admin)
	if err != nil {
		t.Fatal(err)
	}
	if valid := 7; len(keys) != valid {
		t.Fatalf("%d keys stored, want only the %d valid ones", len(keys), valid)
	}
}

func manyScopes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "read:r" + strings.Repeat("x", i)
	}
	return out
}

func TestCreateKeepsEachScopeOnce(t *testing.T) {
	f := newFixture(t, "sqlite")
	k, _ := f.create(t, f.ada, "dup", "read:users", "read:webhooks", "read:users")
	if !slices.Equal(k.Scopes, []string{"read:users", "read:webhooks"}) {
		t.Fatalf("scopes = %v, want each once in request order", k.Scopes)
	}
}

// TestKeyCannotHaveMorePowerThanItsCreator: API.md "A key cannot grant
// scopes beyond what its creator may do."
func TestKeyCannotHaveMorePowerThanItsCreator(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	narrowKey, _ := f.create(t, f.ada, "narrow", "read:webhooks", "write:clientkeys")
	narrow := &fluxhook.Actor{UserID: f.ada.UserID, Role: fluxhook.RoleUser, KeyID: narrowKey.ID, Scopes: narrowKey.Scopes}
	wideKey, _ := f.create(t, f.admin, "wide", "*")
	wide := &fluxhook.Actor{UserID: f.admin.UserID, Role: fluxhook.RoleDashboardAdmin, KeyID: wideKey.ID, Scopes: wideKey.Scopes}
	dashUser := f.user(t, "dash@example.com", fluxhook.RoleDashboardUser)

	cases := []struct {
		name   string
		actor  *fluxhook.Actor
		scopes []string
		denied string // the scope named in the refusal; "" when allowed
	}{
		{"admin grants everything", f.admin, []string{"*"}, ""},
		{"admin grants invitations", f.admin, []string{"write:invitations"}, ""},
		{"user cannot grant *", f.ada, []string{"*"}, "*"},
		{"user cannot grant read:invitations", f.ada, []string{"read:webhooks", "read:invitations"}, "read:invitations"},
		{"user cannot grant write:invitations", f.ada, []string{"write:invitations"}, "write:invitations"},
		{"dashboard user cannot grant *", dashUser, []string{"*"}, "*"},
		{"user grants their own powers", f.ada, []string{"read:users", "write:users", "write:webhooks", "write:events", "read:orders"}, ""},
		{"key grants a subset of itself", narrow, []string{"read:webhooks"}, ""},
		{"key cannot grant what it lacks", narrow, []string{"read:webhooks", "write:webhooks"}, "write:webhooks"},
		{"key cannot grant *", narrow, []string{"*"}, "*"},
		{"key with * grants anything", wide, []string{"write:invitations", "read:orders"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.keys.Create(ctx, tc.actor, clientkey.CreateInput{Name: "k", Scopes: tc.scopes, RateLimitPerMinute: intp(10)})
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *fluxhook.Error
			if !errors.As(err, &fe) || fe.Kind != fluxhook.KindForbidden || !strings.Contains(fe.Details["scopes"], tc.denied) {
				t.Fatalf("err = %v, want a 403 on scopes naming %q", err, tc.denied)
			}
		})
	}

	// Update is held to the same rule: a narrow key cannot widen itself.
	_, err := f.keys.Update(ctx, narrow, narrowKey.ID, clientkey.UpdateInput{Scopes: []string{"*"}})
	if fluxhook.ErrorKind(err) != fluxhook.KindForbidden {
		t.Fatalf("a key widening itself to *: err = %v, want forbidden", err)
	}
	mine, _ := f.create(t, f.ada, "mine", "read:webhooks")
	if _, err := f.keys.Update(ctx, f.ada, mine.ID, clientkey.UpdateInput{Scopes: []string{"write:invitations"}}); fluxhook.ErrorKind(err) != fluxhook.KindForbidden {
		t.Fatalf("a user granting invitations by update: err = %v, want forbidden", err)
	}
	got, err := f.keys.Get(ctx, f.ada, narrowKey.ID)
	if err != nil || !slices.Equal(got.Scopes, []string{"read:webhooks", "write:clientkeys"}) {
		t.Fatalf("after refused updates, scopes = %v (%v), want them unchanged", got.Scopes, err)
	}
}

func TestUnknownMalformedRevokedExpiredAndDeletedKeysAreRefusedAlike(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		unknown, _, _ := auth.NewClientKey()
		f.refused(t, unknown, "a well-formed key never issued")
		for _, bad := range []string{"", "fbk_", "fbk_short", strings.Replace(unknown, "fbk_", "fbr_", 1), unknown + "x", "Bearer " + unknown} {
			f.refused(t, bad, "malformed key "+bad)
		}

		revoked, revokedKey := f.create(t, f.ada, "revoked", "read:users")
		f.mustAuth(t, revokedKey) // cached now: the refusal below must not wait for the cache
		if err := f.keys.Revoke(ctx, f.ada, revoked.ID); err != nil {
			t.Fatal(err)
		}
		f.refused(t, revokedKey, "revoked key")
		row, err := f.keys.Get(ctx, f.ada, revoked.ID)
		if err != nil {
			t.Fatalf("a revoked key's row must stay: %v", err)
		}
		if row.RevokedAt == nil || !row.RevokedAt.Equal(f.clock.Now()) {
			t.Fatalf("revoked_at = %v, want %v", row.RevokedAt, f.clock.Now())
		}
		if err := f.keys.Revoke(ctx, f.ada, revoked.ID); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("revoking twice: err = %v, want conflict (409)", err)
		}

		expiring, expiringKey, err := f.keys.Create(ctx, f.ada, clientkey.CreateInput{Name: "expiring", Scopes: []string{"read:users"},
			RateLimitPerMinute: intp(60), ExpiresAt: timep(f.clock.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour - time.Second)
		f.mustAuth(t, expiringKey)
		f.clock.Advance(time.Second)
		f.refused(t, expiringKey, "key at its expires_at")
		if expiring.ExpiresAt == nil {
			t.Fatal("expires_at not kept")
		}

		// A date in the past is accepted (the seeds' own example has one)
		// and makes a key that never works.
		_, pastKey, err := f.keys.Create(ctx, f.ada, clientkey.CreateInput{Name: "past", Scopes: []string{"read:users"},
			RateLimitPerMinute: intp(60), ExpiresAt: timep(f.clock.Now().Add(-24 * time.Hour))})
		if err != nil {
			t.Fatalf("a past expires_at was refused: %v", err)
		}
		f.refused(t, pastKey, "key created already expired")

		deleted, deletedKey := f.create(t, f.ada, "deleted", "read:users")
		f.mustAuth(t, deletedKey)
		if err := f.keys.Delete(ctx, f.ada, deleted.ID); err != nil {
			t.Fatal(err)
		}
		f.refused(t, deletedKey, "deleted key")
		if _, err := f.keys.Get(ctx, f.ada, deleted.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("deleted key: Get err = %v, want not found", err)
		}
	})
}

// TestAnotherUsersKeyDoesNotExist: API.md "Another user's key: 404 (not
// 403: existence is not revealed)"; a non-admin lists only their own keys.
func TestAnotherUsersKeyDoesNotExist(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		adas, adaKey := f.create(t, f.ada, "ada-1", "read:users")
		f.clock.Advance(time.Second)
		adas2, _ := f.create(t, f.ada, "ada-2", "read:users")
		f.clock.Advance(time.Second)
		bobs, _ := f.create(t, f.bob, "bob-1", "read:users")

		if _, err := f.keys.Get(ctx, f.bob, adas.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("Get of another's key: err = %v, want not found", err)
		}
		if _, err := f.keys.Update(ctx, f.bob, adas.ID, clientkey.UpdateInput{Name: strp("mine now")}); !fluxhook.IsNotFound(err) {
			t.Fatalf("Update of another's key: err = %v, want not found", err)
		}
		if err := f.keys.Revoke(ctx, f.bob, adas.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("Revoke of another's key: err = %v, want not found", err)
		}
		if err := f.keys.Delete(ctx, f.bob, adas.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("Delete of another's key: err = %v, want not found", err)
		}
		if a, _ := f.mustAuth(t, adaKey); a.UserID != f.ada.UserID {
			t.Fatal("the key changed owner")
		}
		if got, err := f.keys.Get(ctx, f.ada, adas.ID); err != nil || got.Name != "ada-1" || got.RevokedAt != nil {
			t.Fatalf("after another user's attempts: %+v (%v), want the key untouched", got, err)
		}

		ids := func(a *fluxhook.Actor) []string {
			keys, err := f.keys.List(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, k := range keys {
				out = append(out, k.ID)
			}
			return out
		}
		if got, want := ids(f.ada), []string{adas2.ID, adas.ID}; !slices.Equal(got, want) {
			t.Fatalf("ada lists %v, want her own keys newest first %v", got, want)
		}
		if got, want := ids(f.admin), []string{bobs.ID, adas2.ID, adas.ID}; !slices.Equal(got, want) {
			t.Fatalf("admin lists %v, want every key newest first %v", got, want)
		}
		if _, err := f.keys.Get(ctx, f.admin, bobs.ID); err != nil {
			t.Fatalf("admin Get of bob's key: %v", err)
		}
	})
}

func TestUpdateChangesOnlyTheGivenFieldsAndTakesEffectAtOnce(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		k, key, err := f.keys.Create(ctx, f.ada, clientkey.CreateInput{Name: "ci", Description: strp("deploys"),
			Scopes: []string{"read:webhooks"}, RateLimitPerMinute: intp(60)})
		if err != nil {
			t.Fatal(err)
		}
		f.mustAuth(t, key) // cached with the old scopes

		got, err := f.keys.Update(ctx, f.ada, k.ID, clientkey.UpdateInput{Scopes: []string{"write:webhooks"}, RateLimitPerMinute: intp(5)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "ci" || got.Description == nil || *got.Description != "deploys" || got.RateLimitPerMinute != 5 || !slices.Equal(got.Scopes, []string{"write:webhooks"}) {
			t.Fatalf("after update: %+v", got)
		}
		a, ak := f.mustAuth(t, key)
		if !slices.Equal(a.Scopes, []string{"write:webhooks"}) || ak.RateLimitPerMinute != 5 {
			t.Fatalf("right after the update the key acts with scopes %v and limit %d, want the new ones", a.Scopes, ak.RateLimitPerMinute)
		}
		stored, err := f.db.ClientKey(ctx, k.ID)
		if err != nil || stored.RateLimitPerMinute != 5 || stored.Name != "ci" {
			t.Fatalf("stored after update: %+v (%v)", stored, err)
		}

		if _, err := f.keys.Update(ctx, f.ada, k.ID, clientkey.UpdateInput{Name: strp(""), RateLimitPerMinute: intp(0)}); fluxhook.ErrorKind(err) != fluxhook.KindInvalid {
			t.Fatalf("invalid update: err = %v, want invalid", err)
		}
		if stored, _ := f.db.ClientKey(ctx, k.ID); stored.Name != "ci" || stored.RateLimitPerMinute != 5 {
			t.Fatalf("an invalid update changed the key: %+v", stored)
		}
	})
}

// TestCacheAnswersUntilInvalidatedOrItsMinuteIsUp: authentication reads
// the database once per key per minute; a change made through the
// service (or announced on the bus) applies at once, and the TTL bounds
// how long a change nobody announced goes unseen.
func TestCacheAnswersUntilInvalidatedOrItsMinuteIsUp(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		k, key := f.create(t, f.ada, "cached", "read:users")
		f.mustAuth(t, key)

		// Revoked behind the service's back, and not announced.
		if err := f.db.RevokeClientKey(ctx, k.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(59 * time.Second)
		f.mustAuth(t, key) // served from the cache: no database read
		f.clock.Advance(time.Second)
		f.refused(t, key, "a minute after an unannounced revocation")

		k2, key2 := f.create(t, f.ada, "announced", "read:users")
		f.mustAuth(t, key2)
		if err := f.db.RevokeClientKey(ctx, k2.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.bus.Publish(cachebus.ClientKey, k2.ID)
		f.refused(t, key2, "an announced revocation")
	})
}

func TestOwnersRoleChangeReachesTheirCachedKeys(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		_, key := f.create(t, f.ada, "k", "read:users")
		_, other := f.create(t, f.bob, "k", "read:users")
		if a, _ := f.mustAuth(t, key); a.Role != fluxhook.RoleUser {
			t.Fatalf("role = %s, want user", a.Role)
		}
		f.mustAuth(t, other)

		u, err := f.db.User(ctx, f.ada.UserID)
		if err != nil {
			t.Fatal(err)
		}
		u.Role = fluxhook.RoleDashboardUser
		if err := f.db.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		f.bus.Publish(cachebus.User, f.ada.UserID)
		if a, _ := f.mustAuth(t, key); a.Role != fluxhook.RoleDashboardUser {
			t.Fatalf("after the owner's role change was announced, the key acts as %s, want dashboard_user", a.Role)
		}

		// Deleting the owner deletes their keys; announced, it applies at once.
		if err := f.db.DeleteUser(ctx, f.ada.UserID); err != nil {
			t.Fatal(err)
		}
		f.bus.Publish(cachebus.User, f.ada.UserID)
		f.refused(t, key, "key of a deleted user")
		f.mustAuth(t, other) // another user's cached key is not affected
	})
}

// TestRevocationReachesEveryReplica: two API replicas on one database,
// each with its own cache and its own NATS connection; a key revoked on
// one stops working on the other without waiting for the cache's minute.
func TestRevocationReachesEveryReplica(t *testing.T) {
	ns := testenv.NATS(t)
	bus := func() cachebus.Bus {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		b, err := cachebus.NewNATS(nc)
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		return b
	}
	f := newFixture(t, "sqlite")
	a := clientkey.New(f.db, bus(), f.clock.Now)
	b := clientkey.New(f.db, bus(), f.clock.Now)
	ctx := context.Background()
	k, key, err := a.Create(ctx, f.ada, clientkey.CreateInput{Name: "shared", Scopes: []string{"read:users"}, RateLimitPerMinute: intp(60)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, f.ada, k.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := b.Authenticate(ctx, key)
		if err != nil {
			if fluxhook.ErrorCode(err) != "INVALID_CLIENT_KEY" {
				t.Fatalf("err = %v, want INVALID_CLIENT_KEY", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the revoked key 5 s later (the clock is stopped, so only the bus can have told it)")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLastUsedAtIsWrittenInBatches: API.md "last_used_at is kept within a
// minute of the truth without a database write per request". Uses are
// held in memory and shown at once by this replica, and written by Flush
// (Run calls it every DefaultFlushEvery of real time, and when it stops).
func TestLastUsedAtIsWrittenInBatches(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		k1, key1 := f.create(t, f.ada, "one", "read:users")
		k2, key2 := f.create(t, f.ada, "two", "read:users")
		first := f.clock.Now()
		f.mustAuth(t, key1)
		f.mustAuth(t, key2)
		if got := f.storedLastUsed(t, k1.ID); got != nil {
			t.Fatalf("a request wrote last_used_at (%v) before any flush", got)
		}
		shown, err := f.keys.Get(ctx, f.ada, k1.ID)
		if err != nil {
			t.Fatal(err)
		}
		if shown.LastUsedAt == nil || !shown.LastUsedAt.Equal(first) {
			t.Fatalf("Get shows last_used_at %v, want the unwritten use at %v", shown.LastUsedAt, first)
		}

		if err := f.keys.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{k1.ID, k2.ID} {
			if got := f.storedLastUsed(t, id); got == nil || !got.Equal(first) {
				t.Fatalf("after Flush, stored last_used_at = %v, want %v", got, first)
			}
		}

		f.clock.Advance(10 * time.Second)
		f.mustAuth(t, key1)
		f.clock.Advance(10 * time.Second)
		latest := f.clock.Now()
		f.mustAuth(t, key1)
		if got := f.storedLastUsed(t, k1.ID); !got.Equal(first) {
			t.Fatalf("uses between flushes were written: stored %v", got)
		}
		listed, err := f.keys.List(ctx, f.ada)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range listed {
			if k.ID == k1.ID && (k.LastUsedAt == nil || !k.LastUsedAt.Equal(latest)) {
				t.Fatalf("List shows last_used_at %v, want the latest use %v", k.LastUsedAt, latest)
			}
		}

		// Run writes what is pending when it stops.
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- f.keys.Run(rctx) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
		if got := f.storedLastUsed(t, k1.ID); got == nil || !got.Equal(latest) {
			t.Fatalf("after Run stopped, stored last_used_at = %v, want %v", got, latest)
		}
		if got := f.storedLastUsed(t, k2.ID); !got.Equal(first) {
			t.Fatalf("an unused key's last_used_at moved to %v", got)
		}
	})
}
