package clientkey_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// keyActor is the actor a client key stands for, as Authenticate makes it.
func (f *fixture) keyActor(tb testing.TB, key string) *fluxhook.Actor {
	tb.Helper()
	a, _ := f.mustAuth(tb, key)
	return a
}

// wantForbidden fails unless err is a 403 whose details name field.
func wantForbidden(tb testing.TB, err error, field string) {
	tb.Helper()
	var fe *fluxhook.Error
	if !errors.As(err, &fe) || fe.Kind != fluxhook.KindForbidden || fe.Details[field] == "" {
		tb.Fatalf("err = %v, want 403 with details.%s", err, field)
	}
}

// TestKeyCannotCreateOrRaiseAKeyAboveItsOwnRateLimit: a key with
// write:clientkeys mints keys no faster than itself (60 per minute here),
// and cannot raise its own limit or another key's above it.
func TestKeyCannotCreateOrRaiseAKeyAboveItsOwnRateLimit(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	_, key := f.create(t, f.ada, "manager", "write:clientkeys", "read:webhooks") // 60 per minute
	manager := f.keyActor(t, key)

	_, _, err := f.keys.Create(ctx, manager, clientkey.CreateInput{Name: "fast", Scopes: []string{"read:webhooks"}, RateLimitPerMinute: intp(61)})
	wantForbidden(t, err, "rate_limit_per_minute")
	if !strings.Contains(err.Error(), "60") {
		t.Errorf("message %q does not say the acting key's limit", err)
	}
	same, _, err := f.keys.Create(ctx, manager, clientkey.CreateInput{Name: "same", Scopes: []string{"read:webhooks"}, RateLimitPerMinute: intp(60)})
	if err != nil {
		t.Fatalf("a key at the acting key's own limit: %v", err)
	}
	_, err = f.keys.Update(ctx, manager, same.ID, clientkey.UpdateInput{RateLimitPerMinute: intp(1000)})
	wantForbidden(t, err, "rate_limit_per_minute")
	_, err = f.keys.Update(ctx, manager, manager.KeyID, clientkey.UpdateInput{RateLimitPerMinute: intp(100000)})
	wantForbidden(t, err, "rate_limit_per_minute")
	if got, _ := f.keys.Get(ctx, f.ada, manager.KeyID); got.RateLimitPerMinute != 60 {
		t.Fatalf("the key raised its own limit to %d", got.RateLimitPerMinute)
	}
	// Lowering is fine, and the user (not a key) may set any valid limit.
	if _, err := f.keys.Update(ctx, manager, same.ID, clientkey.UpdateInput{RateLimitPerMinute: intp(10)}); err != nil {
		t.Fatalf("lowering a key's limit: %v", err)
	}
	if _, err := f.keys.Update(ctx, f.ada, same.ID, clientkey.UpdateInput{RateLimitPerMinute: intp(100000)}); err != nil {
		t.Fatalf("the owner raising a limit: %v", err)
	}
}

// TestNarrowKeyCannotEditAWiderKey: a key's whole resulting state is held
// to the acting key, so a narrow key cannot extend a wider sibling's life
// or rename it; it may still revoke it (that takes power away).
func TestNarrowKeyCannotEditAWiderKey(t *testing.T) {
	f := newFixture(t, "sqlite")
	ctx := context.Background()
	wide, _ := f.create(t, f.ada, "wide", "write:clientkeys", "write:webhooks")
	_, key := f.create(t, f.ada, "narrow", "write:clientkeys")
	narrow := f.keyActor(t, key)

	_, err := f.keys.Update(ctx, narrow, wide.ID, clientkey.UpdateInput{Name: strp("mine now")})
	wantForbidden(t, err, "scopes")
	if got, _ := f.keys.Get(ctx, f.ada, wide.ID); got.Name != "wide" {
		t.Fatalf("the wider key was renamed to %q", got.Name)
	}
	if err := f.keys.Revoke(ctx, narrow, wide.ID); err != nil {
		t.Fatalf("revoking a wider key: %v", err)
	}
}
