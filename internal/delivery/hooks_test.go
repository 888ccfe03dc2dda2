package delivery_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// TestHookCacheServesStaleWhileDatabaseIsDown: a webhook marked stale by
// a change elsewhere is read again, but while the database cannot answer
// the copy in hand is served, so deliveries go on through a database
// restart; a webhook never read still fails, and a deleted one is gone.
func TestHookCacheServesStaleWhileDatabaseIsDown(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	admin := &fluxhook.User{Email: "admin@example.com", Role: fluxhook.RoleDashboardAdmin, PasswordHash: "x"}
	if err := db.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	box, _ := secretbox.New(bytes.Repeat([]byte{1}, 32))
	bus := &cachebus.Local{}
	svc := webhooks.New(db, box, outbound.Policy{AllowInsecure: true, AllowPrivate: true}, nil, bus, nil)
	actor := &fluxhook.Actor{UserID: admin.ID, Role: admin.Role}
	create := func(url string) *fluxhook.Webhook {
		t.Helper()
		w, _, err := svc.Create(ctx, actor, webhooks.Input{URL: &url, Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	kept, deleted, unread := create("http://127.0.0.1:1/kept"), create("http://127.0.0.1:1/deleted"), create("http://127.0.0.1:1/unread")
	cache := delivery.NewHookCache(db, svc, bus)
	for _, w := range []*fluxhook.Webhook{kept, deleted} {
		if _, secrets, err := cache.Get(ctx, w.ID); err != nil || len(secrets) != 1 {
			t.Fatalf("Get(%s) = %d secrets, %v", w.URL, len(secrets), err)
		}
	}
	if err := svc.Delete(ctx, actor, deleted.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cache.Get(ctx, deleted.ID); !fluxhook.IsNotFound(err) {
		t.Fatalf("Get(deleted webhook) = %v, want not found", err)
	}

	bus.Publish(cachebus.Webhook, kept.ID) // stale now
	bus.Publish(cachebus.User, admin.ID)   // and every entry with it
	db.Close()                             // the database goes away
	got, secrets, err := cache.Get(ctx, kept.ID)
	if err != nil || got.ID != kept.ID || len(secrets) != 1 {
		t.Fatalf("Get(stale webhook) with the database down = %v, %d secrets, %v; want the cached copy", got, len(secrets), err)
	}
	if _, _, err := cache.Get(ctx, unread.ID); err == nil {
		t.Fatal("Get(a webhook never read) with the database down succeeded")
	}
	if _, _, err := cache.Get(ctx, deleted.ID); err == nil {
		t.Fatal("Get(deleted webhook) with the database down served it from the cache")
	}
}
