package delivery_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/jackc/pgx/v5"
)

// newPostgresHookFixture is newHookFixture on PostgreSQL, where another
// session can make the cache's reads hang (SQLite's WAL lets a reader
// through whatever a writer holds). lock takes an exclusive lock on a
// table until release is called or the test ends.
func newPostgresHookFixture(t *testing.T) (f *hookFixture, lock func(table string) (release func())) {
	t.Helper()
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	db, admin := openTestDB(t, url)
	bus := &cachebus.Local{}
	svc := webhooks.New(db, testBox(), outbound.Policy{AllowInsecure: true, AllowPrivate: true}, nil, bus, nil)
	f = &hookFixture{t: t, db: db, svc: svc, bus: bus, actor: &fluxhook.Actor{UserID: admin.ID, Role: admin.Role},
		cache: delivery.NewHookCache(svc, bus, nil)}
	lock = func(table string) func() {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{table}.Sanitize()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		release := sync.OnceFunc(func() {
			_ = tx.Rollback(ctx)
			_ = conn.Close(ctx)
		})
		t.Cleanup(release)
		return release
	}
	return f, lock
}

// TestHookCacheLoadTimeout: a database that hangs (another session holds
// a lock on the webhooks table, so a read waits for it) holds Get for
// LoadTimeout and no longer. Then the caller gets an error that is not
// "not found" (which would drop the delivery), or, for an entry that only
// went stale for its failure bookkeeping, the cached copy, as while the
// database is down. The worker calls Get with a context that never ends:
// this timeout is all that keeps a hanging database from holding a
// delivery for ever.
func TestHookCacheLoadTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the load timeout")
	}
	f, lock := newPostgresHookFixture(t)
	health, changed, unread, racing := f.create("health"), f.create("changed"), f.create("unread"), f.create("racing")
	for _, w := range []*fluxhook.Webhook{health, changed, racing} {
		if _, _, err := f.get(w); err != nil {
			t.Fatalf("Get(%s): %v", w.URL, err)
		}
	}
	f.bus.Publish(cachebus.WebhookHealth, health.ID)
	f.bus.Publish(cachebus.Webhook, changed.ID)
	f.bus.Publish(cachebus.WebhookHealth, racing.ID)

	cases := []struct {
		name   string
		hook   *fluxhook.Webhook
		cached bool // served from memory rather than failing
	}{
		{"entry stale for its failure bookkeeping: the cached copy", health, true},
		{"entry announced as changed: an error", changed, false},
		{"never read: an error", unread, false},
		// Servable when the read began; a change announced while it hangs
		// (the webhook may have been disabled) makes it unservable.
		{"changed while the read hangs: an error", racing, false},
	}
	type result struct {
		hook    *fluxhook.Webhook
		secrets []string
		err     error
		elapsed time.Duration
	}
	results := make([]result, len(cases))
	limit := delivery.LoadTimeout + 2*time.Second
	release := lock("webhooks")
	// Should Get not give up by itself, the lock goes a moment after the
	// limit, so the test fails on the times below instead of hanging.
	backstop := time.AfterFunc(limit+time.Second, release)
	// All at once, so the test waits out one timeout, not one per case.
	var wg sync.WaitGroup
	for i, tt := range cases {
		wg.Go(func() {
			start := time.Now()
			r := &results[i]
			r.hook, r.secrets, r.err = f.get(tt.hook)
			r.elapsed = time.Since(start)
		})
	}
	time.Sleep(delivery.LoadTimeout / 5)
	f.bus.Publish(cachebus.Webhook, racing.ID)
	wg.Wait()
	backstop.Stop()
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got, secrets, err, elapsed := results[i].hook, results[i].secrets, results[i].err, results[i].elapsed
			if elapsed < delivery.LoadTimeout*9/10 {
				t.Fatalf("Get returned after %v (%v), before the load timeout of %v: the read did not hang, and the test shows nothing",
					elapsed, err, delivery.LoadTimeout)
			}
			if elapsed > limit {
				t.Fatalf("Get held for %v while the database hung, want at most %v", elapsed, limit)
			}
			if tt.cached {
				if err != nil || got == nil || got.ID != tt.hook.ID || len(secrets) != 1 {
					t.Fatalf("Get = %d secrets, %v; want the cached copy of %s", len(secrets), err, tt.hook.URL)
				}
				return
			}
			if err == nil {
				t.Fatalf("Get served %s, want an error", got.URL)
			}
			if fluxhook.IsNotFound(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Get: %v; want the load's deadline exceeded, not %q", err, fluxhook.ErrorKind(err))
			}
		})
	}

	// The copy served while the database hangs is served again at once,
	// not after another load timeout: otherwise every delivery to the
	// webhook would wait that long for as long as the database hangs.
	start := time.Now()
	if got, _, err := f.get(health); err != nil || got.ID != health.ID {
		t.Fatalf("Get again while the database hangs = %v, %v; want the cached copy", got, err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("Get again while the database hangs took %v; the served copy was not kept", elapsed)
	}

	// Once the database answers again, so does Get.
	release()
	start = time.Now()
	if got, _, err := f.get(unread); err != nil || got.ID != unread.ID {
		t.Fatalf("Get after the lock was released = %v, %v", got, err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("Get after the lock was released took %v", elapsed)
	}
}
