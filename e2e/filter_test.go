package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2EWebhookFilter: a webhook's filter decides, in the all-in-one's
// dispatcher, which of its subscribed events it receives (API.md
// "Filters"): a bad filter is refused with a 422 that says where; an
// event the filter rejects, or on which it fails (a missing field), is
// not delivered to it, while a webhook without a filter gets every one,
// and the failure is counted.
func TestE2EWebhookFilter(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := NewAllInOne(t, "1s,1s")

	st, _, out := call(t, "POST", s.API.API+"/webhooks", map[string]any{"url": s.Receiver.URL, "events": []string{"e2e.order.*"},
		"filter": `data.amount > 100 &&`}, s.AdminToken)
	details, _ := out["details"].(map[string]any)
	if msg, _ := details["filter"].(string); st != http.StatusUnprocessableEntity || !strings.Contains(msg, "1:21: Syntax error") {
		t.Fatalf("a bad filter answered %d %v; want 422 with details.filter at 1:21", st, out)
	}

	filtered := NewReceiver(t, webhookSecret)
	hook := mustCall(t, 201, "POST", s.API.API+"/webhooks", map[string]any{"url": filtered.URL, "secret": webhookSecret,
		"events": []string{"e2e.order.*"}, "filter": `data.amount > 100 && data.currency == "EUR"`}, s.AdminToken)
	if hook["filter"] != `data.amount > 100 && data.currency == "EUR"` {
		t.Fatalf("create answered %v", hook)
	}
	time.Sleep(time.Second) // the dispatcher's subscription cache learns of it
	errorsBefore := metric(t, s.API.Admin, "fluxhook_dispatch_filter_errors_total")

	ids := newIDs(4)
	events := []map[string]any{
		{"e2e": ids[0], "amount": 150, "currency": "EUR"},   // delivered
		{"e2e": ids[1], "amount": 50, "currency": "EUR"},    // too small
		{"e2e": ids[2], "amount": 150.5, "currency": "USD"}, // another currency
		{"e2e": ids[3], "currency": "EUR"},                  // no amount: the filter fails, no match
	}
	for i, data := range events {
		if st, out := Publish(t, s.API.API, s.Key, "e2e.order.paid", ids[i], data); st != http.StatusAccepted {
			t.Fatalf("publish: %d %v", st, out)
		}
	}
	// The tenant's receiver (on "*", no filter) gets all four: the failing
	// filter did not hold them up.
	waitFor(t, 60*time.Second, func() bool {
		return len(s.Receiver.Find(func(r Request) bool { return r.Event == "e2e.order.paid" })) == 4
	}, "every event at the receiver without a filter")
	waitFor(t, 30*time.Second, func() bool { return filtered.Total() >= 1 }, "the matching event at the filtered receiver")
	time.Sleep(2 * time.Second) // room for a wrong delivery to arrive
	got := filtered.Requests()
	if len(got) != 1 || got[0].Tag != ids[0] {
		var tags []string
		for _, r := range got {
			tags = append(tags, r.Tag)
		}
		t.Fatalf("the filtered receiver got %v, want only %s", tags, ids[0])
	}
	if got[0].Problem != "" {
		t.Errorf("the filtered delivery failed verification: %s", got[0].Problem)
	}
	if n := metric(t, s.API.Admin, "fluxhook_dispatch_filter_errors_total") - errorsBefore; n != 1 {
		t.Errorf("fluxhook_dispatch_filter_errors_total rose by %v, want 1 (the event without amount)", n)
	}
	s.CheckAlive(t)
	s.StopAll(t)
}
