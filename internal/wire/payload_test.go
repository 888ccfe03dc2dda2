package wire

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestDeliveryIDIsDeterministicAndTimeOrdered: the same event and webhook
// give the same id; ids sort by the event's time (so the delivery log's
// index grows at its end); they are valid RFC 9562 UUIDv8s.
func TestDeliveryIDIsDeterministicAndTimeOrdered(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	a := DeliveryID("ev-1", at, "w1")
	if a != DeliveryID("ev-1", at, "w1") {
		t.Fatal("DeliveryID is not deterministic")
	}
	if a == DeliveryID("ev-1", at, "w2") || a == DeliveryID("ev-2", at, "w1") {
		t.Fatal("different events or webhooks share a delivery id")
	}
	id, err := uuid.Parse(a)
	if err != nil || id.Version() != 8 || id.Variant() != uuid.RFC4122 {
		t.Fatalf("%s: version %d variant %v (%v), want a UUIDv8 of the RFC variant", a, id.Version(), id.Variant(), err)
	}
	prev := ""
	for i := range 1000 {
		// Later events sort later, whatever their ids and webhooks.
		next := DeliveryID(fmt.Sprint("ev-", 1000-i), at.Add(time.Duration(i)*time.Millisecond), fmt.Sprint("w", i%7))
		if next <= prev {
			t.Fatalf("delivery %d: %s sorts before the earlier %s", i, next, prev)
		}
		prev = next
	}
	if got := DeliveryID("ev-1", at, "w1")[:13]; got != "01a20b7e-f780" {
		t.Fatalf("time prefix %s, want 01a20b7e-f780 (%d ms)", got, at.UnixMilli())
	}
}
