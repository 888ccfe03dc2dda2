package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
)

func orderedJob(webhookID, key string, seq uint64, index int) wire.Job {
	eventID := fmt.Sprintf("ev-%d-%d", seq, index)
	return wire.Job{DeliveryID: wire.DeliveryID(eventID, time.Unix(1_700_000_000, 0), webhookID), EventID: eventID, Event: "order.paid",
		WebhookID: webhookID, Attempt: 1, Payload: []byte(`{"id":"` + eventID + `"}`), UserID: "u1",
		EventAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), Order: &wire.Order{Key: key, Seq: seq, Index: index}}
}

func mustWebhookFIFO(t testing.TB, db *store.DB, userID string) *fluxhook.Webhook {
	t.Helper()
	w := newWebhook(userID, "https://o.example/hook")
	w.Ordering = fluxhook.OrderingFIFO
	if err := db.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// heads drains a key as the ordered lane does, returning the event ids
// of its jobs in the order they came out.
func heads(t *testing.T, db *store.DB, k store.OrderedKey) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for {
		j, version, err := db.OrderedHead(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			if err := db.IdleOrdered(ctx, k, version); err != nil {
				t.Fatal(err)
			}
			return out
		}
		out = append(out, j.EventID)
		if err := db.RemoveOrdered(ctx, k, j.DeliveryID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOrderedQueue: jobs enqueued out of order come out in the order of
// acceptance (stream sequence, then index in the message); a key is
// claimed only once everything up to its head is dispatched (the floor),
// only by one worker at a time, only when due and its webhook is active;
// an enqueue repeated (a redelivered event) stores nothing twice; a
// retry keeps the head and its attempt count.
func TestOrderedQueue(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := mustUser(t, db, "ordered@example.com")
		w := mustWebhookFIFO(t, db, u.ID)
		lease := func() time.Time { return c.Now().Add(30 * time.Second) }

		if due, err := db.OrderedDue(ctx); err != nil || due {
			t.Fatalf("due before any job: %v %v, want false", due, err)
		}
		// Arrivals out of order: seq 12 before 10, and 11's two events.
		batch1 := []wire.Job{orderedJob(w.ID, "cust-a", 12, 0), orderedJob(w.ID, "cust-b", 12, 1)}
		batch2 := []wire.Job{orderedJob(w.ID, "cust-a", 10, 0), orderedJob(w.ID, "cust-a", 11, 1), orderedJob(w.ID, "cust-a", 11, 0)}
		if err := db.EnqueueOrdered(ctx, batch1); err != nil {
			t.Fatal(err)
		}
		if due, err := db.OrderedDue(ctx); err != nil || !due {
			t.Fatalf("due after an enqueue: %v %v, want true", due, err)
		}
		// Nothing up to 9 dispatched: the heads (10 and 12) must wait.
		if ks, err := db.ClaimOrderedKeys(ctx, "w1", 9, 10, lease()); err != nil || len(ks) != 0 {
			t.Fatalf("claim below every head: %v %v, want none", ks, err)
		}
		if err := db.EnqueueOrdered(ctx, batch2); err != nil {
			t.Fatal(err)
		}
		if err := db.EnqueueOrdered(ctx, batch2); err != nil { // redelivered: no second copy
			t.Fatal(err)
		}
		if n, err := db.OrderedBacklog(ctx); err != nil || n != 5 {
			t.Fatalf("backlog %d %v, want 5", n, err)
		}
		// Floor 11: cust-a's head (10) may go, cust-b's (12) not yet.
		ks, err := db.ClaimOrderedKeys(ctx, "w1", 11, 10, lease())
		if err != nil || len(ks) != 1 || ks[0].Key != "cust-a" || ks[0].WebhookID != w.ID {
			t.Fatalf("claim at floor 11: %v %v, want cust-a", ks, err)
		}
		a := ks[0]
		// Leased: nobody else gets it, at any floor.
		bs, err := db.ClaimOrderedKeys(ctx, "w2", 100, 10, lease())
		if err != nil || len(bs) != 1 || bs[0].Key != "cust-b" {
			t.Fatalf("second claimer: %v %v, want cust-b only", bs, err)
		}
		// Let go as it is, it is claimable again (by anyone) and the old
		// token no longer holds it.
		if err := db.ReleaseOrdered(ctx, bs[0]); err != nil {
			t.Fatal(err)
		}
		if err := db.RenewOrderedLease(ctx, bs[0], lease()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew after release: %v, want ErrLeaseLost", err)
		}
		if ks, err := db.ClaimOrderedKeys(ctx, "w5", 100, 10, lease()); err != nil || len(ks) != 1 || ks[0].Key != "cust-b" {
			t.Fatalf("claim after release: %v %v, want cust-b", ks, err)
		}

		// A failed head: retried later with its attempt count; the key
		// waits until then and keeps its head.
		head, _, err := db.OrderedHead(ctx, a)
		if err != nil || head == nil || head.EventID != "ev-10-0" || head.Attempt != 1 || head.Order.Seq != 10 || string(head.Payload) != `{"id":"ev-10-0"}` ||
			head.UserID != "u1" || !head.EventAt.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) {
			t.Fatalf("head %+v %v, want ev-10-0 as enqueued", head, err)
		}
		head.Attempt, head.FirstAttemptAt = 2, c.Now()
		if err := db.PostponeOrdered(ctx, a, *head, c.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		if ks, err := db.ClaimOrderedKeys(ctx, "w3", 100, 10, lease()); err != nil || len(ks) != 0 {
			t.Fatalf("claim before the retry is due: %v %v, want none", ks, err)
		}
		// The old holder's lease is gone with the postponement.
		if err := db.RenewOrderedLease(ctx, a, lease()); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("renew after release: %v, want ErrLeaseLost", err)
		}
		c.Advance(6 * time.Second)
		// A disabled webhook holds its keys.
		if _, err := db.DisableWebhook(ctx, w.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if ks, err := db.ClaimOrderedKeys(ctx, "w3", 100, 10, c.Now().Add(30*time.Second)); err != nil || len(ks) != 0 {
			t.Fatalf("claim of a disabled webhook's key: %v %v, want none", ks, err)
		}
		w.IsActive = true
		if err := db.UpdateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		ks, err = db.ClaimOrderedKeys(ctx, "w3", 100, 10, c.Now().Add(30*time.Second))
		if err != nil || len(ks) != 1 || ks[0].Key != "cust-a" {
			t.Fatalf("claim when the retry is due: %v %v, want cust-a", ks, err)
		}
		a = ks[0]
		if head, _, err := db.OrderedHead(ctx, a); err != nil || head.EventID != "ev-10-0" || head.Attempt != 2 || head.FirstAttemptAt.IsZero() {
			t.Fatalf("head after the retry %+v %v, want ev-10-0 at attempt 2", head, err)
		}
		if got, want := fmt.Sprint(heads(t, db, a)), "[ev-10-0 ev-11-0 ev-11-1 ev-12-0]"; got != want {
			t.Fatalf("cust-a delivered %s, want %s", got, want)
		}
		// Emptied and idle: not claimable until a job comes.
		if due, err := db.OrderedDue(ctx); err != nil || !due {
			t.Fatalf("due with cust-b leased: %v %v, want true", due, err)
		}
		if ks, err := db.ClaimOrderedKeys(ctx, "w4", 100, 10, lease()); err != nil || len(ks) != 0 {
			t.Fatalf("claim of an idle key: %v %v, want none", ks, err)
		}
		if err := db.EnqueueOrdered(ctx, []wire.Job{orderedJob(w.ID, "cust-a", 20, 0)}); err != nil {
			t.Fatal(err)
		}
		if ks, err := db.ClaimOrderedKeys(ctx, "w4", 100, 10, lease()); err != nil || len(ks) != 1 || ks[0].Key != "cust-a" {
			t.Fatalf("claim after a new job: %v %v, want cust-a", ks, err)
		}

		// Deleting the webhook deletes its queues.
		if err := db.DeleteWebhook(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := db.OrderedBacklog(ctx); err != nil || n != 0 {
			t.Fatalf("backlog after the webhook was deleted: %d %v, want 0", n, err)
		}
		if err := db.EnqueueOrdered(ctx, []wire.Job{orderedJob(w.ID, "cust-a", 21, 0)}); err != nil {
			t.Fatalf("enqueue for a deleted webhook: %v, want it dropped quietly", err)
		}
	})
}

// TestOrderedIdleRace: a key found empty is not put to rest over a job
// enqueued after the lane looked (the version moved on): it stays due.
func TestOrderedIdleRace(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := mustUser(t, db, "idle@example.com")
		w := mustWebhookFIFO(t, db, u.ID)
		if err := db.EnqueueOrdered(ctx, []wire.Job{orderedJob(w.ID, "", 1, 0)}); err != nil {
			t.Fatal(err)
		}
		ks, err := db.ClaimOrderedKeys(ctx, "w1", 1, 1, c.Now().Add(time.Minute))
		if err != nil || len(ks) != 1 {
			t.Fatalf("claim: %v %v", ks, err)
		}
		k := ks[0]
		j, _, err := db.OrderedHead(ctx, k)
		if err != nil || j == nil {
			t.Fatalf("head %v %v", j, err)
		}
		if err := db.RemoveOrdered(ctx, k, j.DeliveryID); err != nil {
			t.Fatal(err)
		}
		_, version, err := db.OrderedHead(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		// A job arrives between the lane's look and its idling the key.
		if err := db.EnqueueOrdered(ctx, []wire.Job{orderedJob(w.ID, "", 2, 0)}); err != nil {
			t.Fatal(err)
		}
		if err := db.IdleOrdered(ctx, k, version); err != nil {
			t.Fatal(err)
		}
		if ks, err := db.ClaimOrderedKeys(ctx, "w2", 2, 1, c.Now().Add(time.Minute)); err != nil || len(ks) != 1 {
			t.Fatalf("claim after the racing enqueue: %v %v, want the key due", ks, err)
		}
	})
}

// TestOrderedClaimsAreExclusive: workers claiming at the same moment
// never get the same key.
func TestOrderedClaimsAreExclusive(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		u := mustUser(t, db, "claims@example.com")
		w := mustWebhookFIFO(t, db, u.ID)
		const keys = 40
		var jobs []wire.Job
		for i := range keys {
			jobs = append(jobs, orderedJob(w.ID, fmt.Sprintf("k%d", i), uint64(i+1), 0))
		}
		if err := db.EnqueueOrdered(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for wk := range 8 {
			wg.Go(func() {
				owner := fmt.Sprintf("w%d", wk)
				for range 10 {
					ks, err := db.ClaimOrderedKeys(ctx, owner, keys, 3, c.Now().Add(time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, k := range ks {
						if prev, ok := seen[k.Key]; ok {
							t.Errorf("key %s claimed by %s and %s", k.Key, prev, owner)
						}
						seen[k.Key] = owner
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != keys {
			t.Errorf("%d keys claimed, want all %d", len(seen), keys)
		}
	})
}
