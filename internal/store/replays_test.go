package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

func mustHook(t *testing.T, db *store.DB, email string) *fluxhook.Webhook {
	t.Helper()
	u := mustUser(t, db, email)
	w := newWebhook(u.ID, "https://example.com/"+email)
	if err := db.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestReplayLifecycle: a replay is created pending (one active per
// webhook), claimed by one runner, advanced and finished only by the
// runner holding its lease, taken over once the lease lapses, and
// cancelled only while active.
func TestReplayLifecycle(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		hook := mustHook(t, db, "ada@example.com")
		since, until, failed := c.Now().Add(-time.Hour), c.Now(), fluxhook.DeliveryFailed
		r := &fluxhook.Replay{WebhookID: hook.ID, Kind: fluxhook.ReplayEvents, Since: &since, Until: &until, Status: &failed}
		if err := db.CreateReplay(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.State != fluxhook.ReplayPending {
			t.Fatalf("state %q", r.State)
		}
		got, err := db.Replay(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Since == nil || !got.Since.Equal(since.Truncate(time.Microsecond)) || got.Status == nil || *got.Status != failed || got.Kind != fluxhook.ReplayEvents {
			t.Fatalf("read back %+v", got)
		}
		// A second active replay of the same webhook: conflict.
		err = db.CreateReplay(ctx, &fluxhook.Replay{WebhookID: hook.ID, Kind: fluxhook.ReplayFailed})
		if fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("second active replay: %v, want a conflict", err)
		}

		// Claimed by one of two runners racing.
		var wg sync.WaitGroup
		claims := make([]*fluxhook.Replay, 2)
		for i, owner := range []string{"runner-a", "runner-b"} {
			wg.Go(func() {
				var err error
				if claims[i], err = db.ClaimReplay(ctx, owner, time.Minute); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if (claims[0] == nil) == (claims[1] == nil) {
			t.Fatalf("claims: %v, %v; want exactly one", claims[0], claims[1])
		}
		owner, other := "runner-a", "runner-b"
		if claims[0] == nil {
			owner, other = other, owner
		}
		p := store.ReplayProgress{Cursor: "42", Scanned: 10, Matched: 4, Sent: 3}
		if ok, err := db.AdvanceReplay(ctx, r.ID, other, p, time.Minute); err != nil || ok {
			t.Fatalf("the runner without the lease advanced: %v, %v", ok, err)
		}
		if ok, err := db.AdvanceReplay(ctx, r.ID, owner, p, time.Minute); err != nil || !ok {
			t.Fatalf("advance: %v, %v", ok, err)
		}
		if again, err := db.ClaimReplay(ctx, other, time.Minute); err != nil || again != nil {
			t.Fatalf("claimed while leased: %v, %v", again, err)
		}
		// The lease lapses: the other runner takes it over, from the cursor.
		c.Advance(2 * time.Minute)
		took, err := db.ClaimReplay(ctx, other, time.Minute)
		if err != nil || took == nil || took.Cursor != "42" || took.Queued != 3 || took.State != fluxhook.ReplayRunning || took.StartedAt == nil {
			t.Fatalf("take-over: %+v, %v", took, err)
		}
		if ok, _ := db.AdvanceReplay(ctx, r.ID, owner, p, time.Minute); ok {
			t.Fatal("the runner whose lease lapsed went on")
		}
		p.Cursor, p.Sent = "50", 5
		if ok, err := db.FinishReplay(ctx, r.ID, other, fluxhook.ReplayDone, nil, p); err != nil || !ok {
			t.Fatalf("finish: %v, %v", ok, err)
		}
		done, _ := db.Replay(ctx, r.ID)
		if done.State != fluxhook.ReplayDone || done.FinishedAt == nil || done.Queued != 5 {
			t.Fatalf("finished: %+v", done)
		}
		if _, err := db.CancelReplay(ctx, r.ID); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("cancel a finished replay: %v", err)
		}

		// Finished, so another may start; cancelled before it is claimed.
		second := &fluxhook.Replay{WebhookID: hook.ID, Kind: fluxhook.ReplayFailed}
		if err := db.CreateReplay(ctx, second); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Second)
		cancelled, err := db.CancelReplay(ctx, second.ID)
		if err != nil || cancelled.State != fluxhook.ReplayCancelled {
			t.Fatalf("cancel: %+v, %v", cancelled, err)
		}
		if claimed, err := db.ClaimReplay(ctx, owner, time.Minute); err != nil || claimed != nil {
			t.Fatalf("a cancelled replay was claimed: %+v, %v", claimed, err)
		}
		list, err := db.ListReplays(ctx, hook.ID, 10)
		if err != nil || len(list) != 2 || list[0].ID != second.ID || list[1].ID != r.ID {
			t.Fatalf("list: %v, %v", list, err)
		}
		if _, err := db.Replay(ctx, store.NewID()); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown replay: %v", err)
		}
		// A running replay cancelled: its runner may not go on.
		third := &fluxhook.Replay{WebhookID: hook.ID, Kind: fluxhook.ReplayFailed}
		if err := db.CreateReplay(ctx, third); err != nil {
			t.Fatal(err)
		}
		if cl, err := db.ClaimReplay(ctx, owner, time.Minute); err != nil || cl == nil || cl.ID != third.ID {
			t.Fatalf("claim the third: %+v, %v", cl, err)
		}
		if _, err := db.CancelReplay(ctx, third.ID); err != nil {
			t.Fatal(err)
		}
		if ok, _ := db.AdvanceReplay(ctx, third.ID, owner, p, time.Minute); ok {
			t.Fatal("a cancelled replay's runner went on")
		}
		// It records what it queued before it saw the cancel; another cannot.
		p.Sent = 7
		if err := db.StoppedReplay(ctx, third.ID, other, store.ReplayProgress{Sent: 99}); err != nil {
			t.Fatal(err)
		}
		if err := db.StoppedReplay(ctx, third.ID, owner, p); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Replay(ctx, third.ID); got.Queued != 7 || got.State != fluxhook.ReplayCancelled {
			t.Fatalf("a cancelled replay's last progress: %+v", got)
		}
		// Deleting the webhook deletes its replays.
		if err := db.DeleteWebhook(ctx, hook.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Replay(ctx, r.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("replay of a deleted webhook: %v", err)
		}
	})
}

// TestDeliveryStates: each delivery's latest attempt decides its state;
// deliveries without attempts are left out.
func TestDeliveryStates(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook, a, b, none := store.NewID(), store.NewID(), store.NewID(), store.NewID()
		at := c.Now()
		failed := newAttempt(webhook, a, 3, at)
		failed.Status = fluxhook.DeliveryFailed
		delivered := newAttempt(webhook, b, 2, at)
		delivered.Status = fluxhook.DeliveryDelivered
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{newAttempt(webhook, a, 1, at), failed, newAttempt(webhook, a, 2, at.Add(time.Second)),
			newAttempt(webhook, b, 1, at), delivered}); err != nil {
			t.Fatal(err)
		}
		got, err := db.DeliveryStates(ctx, []string{a, b, none, "junk"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[a] != (store.DeliveryState{Attempt: 3, Status: fluxhook.DeliveryFailed}) ||
			got[b] != (store.DeliveryState{Attempt: 2, Status: fluxhook.DeliveryDelivered}) {
			t.Fatalf("states %+v", got)
		}
	})
}
