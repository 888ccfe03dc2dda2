package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// publishKeyed sends POST /events with an Idempotency-Key and returns the
// answer's id and duplicate flag.
func publishKeyed(t *testing.T, api, key, idemKey string) (string, bool) {
	t.Helper()
	h := bearer(key)
	h["Idempotency-Key"] = idemKey
	st, _, body, err := doJSON(context.Background(), &http.Client{Timeout: 30 * time.Second}, "POST", api+"/events",
		map[string]any{"event": "e2e.idem", "data": map[string]any{"e2e": idemKey}}, h)
	if err != nil || st != http.StatusAccepted {
		t.Fatalf("POST /events: %d %s %v", st, body, err)
	}
	var r struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.ID, r.Duplicate
}

// checkKeyedOnce publishes with idemKey, waits for its delivery, lets
// between (a restart, another replica) happen, publishes again on api2,
// and checks the repeat is a duplicate and is not delivered again.
func checkKeyedOnce(t *testing.T, s *Stack, idemKey string, between func() (api2 string)) {
	t.Helper()
	id, dup := publishKeyed(t, s.API.API, s.Key, idemKey)
	if dup {
		t.Fatalf("first publish of %s: duplicate", idemKey)
	}
	arrivals := func() []Request { return s.Receiver.Find(func(q Request) bool { return q.EventID == id }) }
	waitFor(t, 30*time.Second, func() bool { return len(arrivals()) >= 1 }, "the event delivered")
	// Room for the attempt's record and ack to land: a kill before them
	// sends the delivery again (the same webhook-id), which at-least-once
	// allows and is not what this test is about.
	time.Sleep(time.Second)
	api2 := between()
	again, dup := publishKeyed(t, api2, s.Key, idemKey)
	if !dup || again != id {
		t.Fatalf("repeat of %s: id %s duplicate %v; want %s and true", idemKey, again, dup, id)
	}
	time.Sleep(3 * time.Second) // room for a second delivery to show
	// An event accepted again would be a new delivery: a new webhook-id.
	deliveries := map[string]bool{}
	for _, q := range arrivals() {
		deliveries[q.WebhookID] = true
	}
	if len(deliveries) != 1 {
		t.Fatalf("event %s arrived as %d deliveries (webhook-ids %v), want one", id, len(deliveries), deliveries)
	}
}

// TestE2EIdempotencySurvivesKillAndRestart: an event accepted with an
// Idempotency-Key, delivered, then the all-in-one SIGKILLed and started
// again on the same data: the same key answers duplicate and nothing is
// delivered again (the EVENTS duplicate window alone forgot it).
func TestE2EIdempotencySurvivesKillAndRestart(t *testing.T) {
	skipShort(t)
	t.Parallel() // see parallelNote
	s := NewAllInOne(t, "")
	checkKeyedOnce(t, s, "order-42-paid", func() string {
		s.API.Kill()
		s.API.Restart()
		return s.API.API
	})
	s.CheckAlive(t)
	s.StopAll(t)
}

// TestE2EIdempotencyAcrossAPIReplicas: the production layout with two
// api processes: a key accepted by one is a duplicate at the other.
func TestE2EIdempotencyAcrossAPIReplicas(t *testing.T) {
	skipShort(t)
	t.Parallel() // see parallelNote
	s := NewStack(t, StackConfig{})
	second := StartProc(t, "api", s.Env)
	checkKeyedOnce(t, s, "invoice-7", func() string { return second.API })
	second.Stop()
	s.CheckAlive(t)
	s.StopAll(t)
}
