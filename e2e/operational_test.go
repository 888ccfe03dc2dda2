package e2e

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestE2EOperationalEvents: what Fluxhook says about webhooks and
// deliveries reaches a webhook subscribed to it, through the whole
// pipeline of the all-in-one: a webhook whose endpoint answers 410 is
// turned off (webhook.disabled, from the worker's health rule through
// the outbox), a delivery whose every attempt fails is given up
// (delivery.exhausted, from the worker), and a rotation is announced
// (webhook.secret_rotated, from the API's transaction).
func TestE2EOperationalEvents(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := NewAllInOne(t, "1s,1s")
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) }))
	t.Cleanup(gone.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(failing.Close)
	// The tenant's webhook (s.Receiver, on "*") hears everything; the two
	// below get one event each.
	goneID := CreateWebhook(t, s.API.API, s.AdminToken, WebhookSpec{URL: gone.URL, Secret: webhookSecret, Events: []string{"e2e.gone"}})
	failingID := CreateWebhook(t, s.API.API, s.AdminToken, WebhookSpec{URL: failing.URL, Secret: webhookSecret, Events: []string{"e2e.fails"}})
	time.Sleep(time.Second) // the dispatcher's subscription cache learns of them

	for _, ev := range []string{"e2e.gone", "e2e.fails"} {
		id := newIDs(1)[0]
		if st, out := Publish(t, s.API.API, s.Key, ev, id, map[string]any{"e2e": id}); st != http.StatusAccepted {
			t.Fatalf("publish %s: %d %v", ev, st, out)
		}
	}
	rotated := mustCall(t, 200, "POST", s.API.API+"/webhooks/"+goneID+"/rotate-secret", map[string]any{}, s.AdminToken)
	if rotated["secret"] == nil {
		t.Fatalf("rotate-secret answered %v", rotated)
	}

	find := func(event, webhookID string) *Request {
		for _, r := range s.Receiver.Find(func(r Request) bool { return r.Event == event && r.Data["webhook_id"] == webhookID }) {
			return &r
		}
		return nil
	}
	// 410 at once; the failing one after its first try and two retries a
	// second apart.
	waitFor(t, 60*time.Second, func() bool {
		return find("webhook.disabled", goneID) != nil && find("delivery.exhausted", failingID) != nil && find("webhook.secret_rotated", goneID) != nil
	}, "webhook.disabled, delivery.exhausted and webhook.secret_rotated at the subscribed receiver")

	if r := find("webhook.disabled", goneID); r.Data["reason"] == nil || r.Data["url"] != gone.URL {
		t.Errorf("webhook.disabled data %v: want the reason and the url", r.Data)
	}
	if r := find("delivery.exhausted", failingID); r.Data["event"] != "e2e.fails" || r.Data["attempts"] != float64(3) || r.Data["last_status"] != float64(500) {
		t.Errorf("delivery.exhausted data %v: want event e2e.fails, 3 attempts, last_status 500", r.Data)
	}
	if r := find("webhook.secret_rotated", goneID); r.Data["previous_secret_expires_at"] == nil {
		t.Errorf("webhook.secret_rotated data %v: want previous_secret_expires_at", r.Data)
	}
	for _, r := range s.Receiver.Requests() {
		if r.Problem != "" {
			t.Errorf("a request failed verification: %s", r.Problem)
		}
	}
	s.CheckAlive(t)
	s.StopAll(t)
}
