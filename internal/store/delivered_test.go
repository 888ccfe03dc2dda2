package store_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// TestDelivered: of the deliveries asked about, exactly those with an
// attempt recorded as delivered are named, whatever their other
// attempts; malformed and unknown ids are simply not delivered.
func TestDelivered(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook := store.NewID()
		done, retrying, failed, later, unknown := store.NewID(), store.NewID(), store.NewID(), store.NewID(), store.NewID()
		at := c.Now()
		attempt := func(delivery string, n int, status string) *fluxhook.Attempt {
			a := newAttempt(webhook, delivery, n, at.Add(time.Duration(n)*time.Second))
			a.Status = status
			if status == fluxhook.DeliveryDelivered {
				a.DeliveredAt = &a.CreatedAt
			}
			return a
		}
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{
			attempt(done, 1, fluxhook.DeliveryDelivered),
			attempt(retrying, 1, fluxhook.DeliveryRetrying),
			attempt(failed, 1, fluxhook.DeliveryFailed),
			attempt(later, 1, fluxhook.DeliveryRetrying), attempt(later, 2, fluxhook.DeliveryDelivered),
		}); err != nil {
			t.Fatal(err)
		}
		got, err := db.Delivered(ctx, []string{done, retrying, failed, later, unknown, "not-a-uuid", done})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]bool{done: true, later: true}; !maps.Equal(got, want) {
			t.Fatalf("Delivered = %v, want %v", got, want)
		}
		if got, err := db.Delivered(ctx, []string{"not-a-uuid"}); err != nil || len(got) != 0 {
			t.Fatalf("only malformed ids: %v, %v", got, err)
		}
	})
}
