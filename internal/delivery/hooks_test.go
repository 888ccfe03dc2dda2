package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

type hookFixture struct {
	t     *testing.T
	db    *store.DB
	svc   *webhooks.Service
	bus   *cachebus.Local
	actor *fluxhook.Actor
	cache *delivery.HookCache
}

func newHookFixture(t *testing.T) *hookFixture {
	t.Helper()
	db, admin := newTestDB(t)
	bus := &cachebus.Local{}
	svc := webhooks.New(db, testBox(), outbound.Policy{AllowInsecure: true, AllowPrivate: true}, nil, bus, nil)
	return &hookFixture{t: t, db: db, svc: svc, bus: bus, actor: &fluxhook.Actor{UserID: admin.ID, Role: admin.Role},
		cache: delivery.NewHookCache(svc, bus, nil)}
}

func (f *hookFixture) create(path string) *fluxhook.Webhook {
	f.t.Helper()
	url := "http://127.0.0.1:1/" + path
	w, _, err := f.svc.Create(context.Background(), f.actor, webhooks.Input{URL: &url, Events: []string{"*"}})
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func (f *hookFixture) get(w *fluxhook.Webhook) (*fluxhook.Webhook, []string, error) {
	return f.cache.Get(context.Background(), w.ID)
}

// TestHookCacheServesStaleWhileDatabaseIsDown: while the database cannot
// answer, a webhook whose entry only went stale for its failure
// bookkeeping is served from memory, so deliveries go on through a
// database restart; one announced as changed (it may be disabled or
// deleted), one never read, and one deleted are not.
func TestHookCacheServesStaleWhileDatabaseIsDown(t *testing.T) {
	f := newHookFixture(t)
	ctx := context.Background()
	health, changed, deleted, unread := f.create("health"), f.create("changed"), f.create("deleted"), f.create("unread")
	for _, w := range []*fluxhook.Webhook{health, changed, deleted} {
		if _, secrets, err := f.get(w); err != nil || len(secrets) != 1 {
			t.Fatalf("Get(%s) = %d secrets, %v", w.URL, len(secrets), err)
		}
	}
	if err := f.svc.Delete(ctx, f.actor, deleted.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.get(deleted); !fluxhook.IsNotFound(err) {
		t.Fatalf("Get(deleted webhook) = %v, want not found", err)
	}

	f.bus.Publish(cachebus.WebhookHealth, health.ID)
	f.bus.Publish(cachebus.Webhook, changed.ID)
	f.db.Close() // the database goes away
	got, secrets, err := f.get(health)
	if err != nil || got.ID != health.ID || len(secrets) != 1 {
		t.Fatalf("Get(webhook stale for its health) with the database down = %v, %d secrets, %v; want the cached copy", got, len(secrets), err)
	}
	if _, _, err := f.get(changed); err == nil {
		t.Fatal("Get(webhook announced as changed) with the database down served the old copy")
	}
	if _, _, err := f.get(unread); err == nil {
		t.Fatal("Get(a webhook never read) with the database down succeeded")
	}
	if _, _, err := f.get(deleted); err == nil {
		t.Fatal("Get(deleted webhook) with the database down served it from the cache")
	}
}

// TestHookCacheUserChangeRereadsEveryWebhook: a change to a user makes
// every cached webhook stale; the next Get reads the database again.
func TestHookCacheUserChangeRereadsEveryWebhook(t *testing.T) {
	f := newHookFixture(t)
	ctx := context.Background()
	w := f.create("w")
	if got, _, err := f.get(w); err != nil || got.FailingSince != nil {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	since := time.Now().UTC().Truncate(time.Second)
	if _, err := f.db.SetWebhookFailing(ctx, w.ID, &since); err != nil { // behind the cache's back
		t.Fatal(err)
	}
	if got, _, _ := f.get(w); got.FailingSince != nil {
		t.Fatal("the cache read the database without being told of a change (the test shows nothing)")
	}
	f.bus.Publish(cachebus.User, f.actor.UserID)
	if got, _, err := f.get(w); err != nil || got.FailingSince == nil || !got.FailingSince.Equal(since) {
		t.Fatalf("after a user change: failing since %v (%v), want %v read again", got.FailingSince, err, since)
	}
}
