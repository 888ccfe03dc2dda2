package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// replayState polls GET /webhooks/{id}/replays/{replay_id} until cond
// holds for it, and returns it.
func replayState(t *testing.T, s *Stack, hookID, replayID string, timeout time.Duration, cond func(map[string]any) bool, msg string) map[string]any {
	t.Helper()
	var last map[string]any
	waitForDetail(t, timeout, func() (bool, string) {
		last = mustCall(t, 200, "GET", s.API.API+"/webhooks/"+hookID+"/replays/"+replayID, nil, s.AdminToken)
		return cond(last), fmt.Sprint(last)
	}, msg)
	return last
}

func stateIs(want string) func(map[string]any) bool {
	return func(r map[string]any) bool { return r["state"] == want }
}

// tags returns the distinct data.e2e tags of the requests, sorted.
func tags(reqs []Request) []string {
	seen := map[string]bool{}
	for _, r := range reqs {
		seen[r.Tag] = true
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// TestE2EReplay: through the public API of the all-in-one, a webhook
// disabled for a while (events published meanwhile), and subscribed to
// more names and given a filter when it is enabled again, is replayed
// over the window: it receives every event of the window that its
// current subscription matches — the ones it had (again, with the same
// webhook-id), the ones it missed while disabled, the ones published
// before it subscribed to their name — and nothing else, exactly as many
// as the replay's progress says; the new attempts are in its delivery
// log. A replay is cancelled half-way and stops; a retry of the failed
// deliveries sends each one again.
func TestE2EReplay(t *testing.T) {
	skipShort(t)
	t.Parallel()
	// 20 deliveries a second: the cancel below has time to land.
	s := NewAllInOneEnv(t, "1s,1s", map[string]string{"FLUXHOOK_REPLAY_RATE": "20"})
	api, tok := s.API.API, s.AdminToken
	publish := func(event string, n int, data map[string]any) []string {
		t.Helper()
		ids := newIDs(n)
		for _, id := range ids {
			d := map[string]any{"e2e": id}
			for k, v := range data {
				d[k] = v
			}
			if st, out := Publish(t, api, s.Key, event, id, d); st != http.StatusAccepted {
				t.Fatalf("publish %s: %d %v", event, st, out)
			}
		}
		return ids
	}

	// --- A webhook away for a while, replayed.
	rcv := NewReceiver(t, webhookSecret)
	hookID := CreateWebhook(t, api, tok, WebhookSpec{URL: rcv.URL, Secret: webhookSecret, Events: []string{"e2e.a.*"}})
	time.Sleep(time.Second) // the dispatcher's subscription cache learns of it
	since := time.Now().UTC()
	beforeSubscribed := publish("e2e.b.created", 3, nil)
	live := publish("e2e.a.created", 3, nil)
	waitFor(t, 30*time.Second, func() bool { return len(rcv.Missing(live)) == 0 }, "the live events at the receiver")

	mustCall(t, 200, "PATCH", api+"/webhooks/"+hookID, map[string]any{"is_active": false}, tok)
	// A disabled webhook cannot be replayed: its deliveries would be given up.
	if st, _, out := call(t, "POST", api+"/webhooks/"+hookID+"/replay", map[string]any{"since": since.Format(time.RFC3339Nano)}, tok); st != http.StatusConflict || out["code"] != "WEBHOOK_DISABLED" {
		t.Fatalf("replay of a disabled webhook: %d %v", st, out)
	}
	time.Sleep(time.Second)
	whileDisabled := publish("e2e.a.updated", 4, map[string]any{"amount": 10})
	filteredOut := publish("e2e.a.updated", 1, map[string]any{"amount": 5000})
	neverSubscribed := publish("e2e.c.created", 2, nil)
	time.Sleep(2 * time.Second) // room for a wrong delivery to arrive
	if got := tags(rcv.Requests()); !slices.Equal(got, sortedCopy(live)) {
		t.Fatalf("while disabled the receiver got %v, want only the live %v", got, live)
	}

	// Enabled again, subscribed to e2e.b.* too, with a filter that the
	// events without an amount pass and the big one does not.
	mustCall(t, 200, "PATCH", api+"/webhooks/"+hookID, map[string]any{"is_active": true, "events": []string{"e2e.a.*", "e2e.b.*"},
		"filter": `!has(data.amount) || data.amount < 1000`}, tok)
	until := time.Now().UTC()
	time.Sleep(500 * time.Millisecond)
	after := publish("e2e.a.created", 1, nil) // after the window: live, not replayed

	for _, tt := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{}, "VALIDATION_FAILED"},
		{map[string]any{"since": "yesterday"}, "VALIDATION_FAILED"},
		{map[string]any{"since": time.Now().Add(-30 * 24 * time.Hour).Format(time.RFC3339)}, "VALIDATION_FAILED"},
		{map[string]any{"since": since.Format(time.RFC3339Nano), "status": "lost"}, "VALIDATION_FAILED"},
	} {
		if st, _, out := call(t, "POST", api+"/webhooks/"+hookID+"/replay", tt.body, tok); st != http.StatusUnprocessableEntity || out["code"] != tt.code {
			t.Errorf("replay %v: %d %v, want 422 %s", tt.body, st, out, tt.code)
		}
	}

	r := mustCall(t, 202, "POST", api+"/webhooks/"+hookID+"/replay",
		map[string]any{"since": since.Format(time.RFC3339Nano), "until": until.Format(time.RFC3339Nano)}, tok)
	note, _ := r["note"].(string)
	if r["includes_missed"] != true || !strings.Contains(note, "missed while disabled") || !strings.Contains(note, "before it subscribed") ||
		r["kind"] != "replay" || r["available_since"] == nil {
		t.Fatalf("replay answered %v: want it to say that missed events are included", r)
	}
	replayID, _ := r["id"].(string)
	if st, _, out := call(t, "POST", api+"/webhooks/"+hookID+"/retry-failed", nil, tok); st != http.StatusConflict || out["code"] != "REPLAY_IN_PROGRESS" {
		t.Errorf("a second replay while one runs: %d %v", st, out)
	}
	done := replayState(t, s, hookID, replayID, 30*time.Second, stateIs("done"), "the replay done")

	want := sortedCopy(slices.Concat(beforeSubscribed, live, whileDisabled))
	if done["events_matched"] != float64(len(want)) || done["deliveries_queued"] != float64(len(want)) {
		t.Fatalf("replay progress %v: want %d matched and queued", done, len(want))
	}
	waitFor(t, 30*time.Second, func() bool { return len(rcv.Missing(want)) == 0 }, "every replayed event at the receiver")
	time.Sleep(2 * time.Second) // room for a wrong delivery to arrive
	got := rcv.Find(func(q Request) bool { return !slices.Contains(after, q.Tag) })
	if tags := tags(got); !slices.Equal(tags, want) {
		t.Fatalf("the receiver got %v\nwant %v\n(not the filtered-out %v, never subscribed %v)", tags, want, filteredOut, neverSubscribed)
	}
	// Each event once more than it had: the live ones twice, with the
	// same webhook-id; the others once.
	for _, tag := range want {
		reqs := rcv.Find(func(q Request) bool { return q.Tag == tag })
		wantN := 1
		if slices.Contains(live, tag) {
			wantN = 2
		}
		if len(reqs) != wantN || reqs[0].WebhookID != reqs[len(reqs)-1].WebhookID || reqs[0].Problem != "" {
			t.Errorf("event %s: %d requests %+v, want %d with one webhook-id, verified", tag, len(reqs), reqs, wantN)
		}
	}
	// The new attempts are in the delivery log: a live event's delivery
	// shows its second attempt as its newest.
	waitFor(t, 10*time.Second, func() bool {
		n := 0
		for _, d := range Deliveries(t, api, tok, hookID, 100) {
			if d.Status == "delivered" && d.Attempt == 2 {
				n++
			}
		}
		return n == len(live)
	}, "the live events' second attempts in the delivery log")
	list := mustCall(t, 200, "GET", api+"/webhooks/"+hookID+"/replays", nil, tok)
	if rs, _ := list["replays"].([]any); len(rs) != 1 {
		t.Errorf("GET replays: %v", list)
	}

	// --- A replay cancelled half-way stops queueing.
	bulk := NewReceiver(t, webhookSecret)
	bulkID := CreateWebhook(t, api, tok, WebhookSpec{URL: bulk.URL, Secret: webhookSecret, Events: []string{"e2e.bulk"}})
	time.Sleep(time.Second)
	bulkSince := time.Now().UTC()
	bulkIDs := publish("e2e.bulk", 80, nil)
	waitFor(t, 30*time.Second, func() bool { return len(bulk.Missing(bulkIDs)) == 0 }, "the bulk events live")
	r = mustCall(t, 202, "POST", api+"/webhooks/"+bulkID+"/replay", map[string]any{"since": bulkSince.Format(time.RFC3339Nano)}, tok)
	bulkReplay, _ := r["id"].(string)
	replayState(t, s, bulkID, bulkReplay, 20*time.Second, func(r map[string]any) bool { n, _ := r["deliveries_queued"].(float64); return n >= 20 },
		"the bulk replay under way")
	c := mustCall(t, 200, "POST", api+"/webhooks/"+bulkID+"/replays/"+bulkReplay+"/cancel", nil, tok)
	if c["state"] != "cancelled" || c["finished_at"] == nil {
		t.Fatalf("cancel answered %v", c)
	}
	time.Sleep(3 * time.Second) // at 20 a second, the rest would be queued by now
	final := mustCall(t, 200, "GET", api+"/webhooks/"+bulkID+"/replays/"+bulkReplay, nil, tok)
	queued, _ := final["deliveries_queued"].(float64)
	again := len(bulk.Find(func(q Request) bool { return q.Attempt > 1 }))
	if final["state"] != "cancelled" || queued >= 80 || again > int(queued) || again >= 80 {
		t.Fatalf("after the cancel: %v, %d sent again; want it cancelled with fewer than 80 queued and sent", final, again)
	}
	if st, _, out := call(t, "POST", api+"/webhooks/"+bulkID+"/replays/"+bulkReplay+"/cancel", nil, tok); st != http.StatusConflict {
		t.Errorf("cancel twice: %d %v", st, out)
	}
	t.Logf("cancelled after %v of 80 deliveries were queued (%d sent again)", queued, again)

	// --- Every failed delivery retried.
	flaky := NewReceiver(t, webhookSecret)
	flaky.FailFirst(3) // the first try and both retries of each delivery
	flakyID := CreateWebhook(t, api, tok, WebhookSpec{URL: flaky.URL, Secret: webhookSecret, Events: []string{"e2e.flaky"}})
	time.Sleep(time.Second)
	flakyIDs := publish("e2e.flaky", 3, nil)
	waitFor(t, 30*time.Second, func() bool {
		n := 0
		for _, d := range Deliveries(t, api, tok, flakyID, 100) {
			if d.Status == "failed" {
				n++
			}
		}
		return n == len(flakyIDs)
	}, "the flaky deliveries failed for good")
	r = mustCall(t, 202, "POST", api+"/webhooks/"+flakyID+"/retry-failed", nil, tok)
	retryID, _ := r["id"].(string)
	if r["kind"] != "retry_failed" {
		t.Fatalf("retry-failed answered %v", r)
	}
	done = replayState(t, s, flakyID, retryID, 30*time.Second, stateIs("done"), "the retry of the failed done")
	if done["deliveries_queued"] != float64(len(flakyIDs)) {
		t.Fatalf("retry progress %v: want %d queued", done, len(flakyIDs))
	}
	waitFor(t, 30*time.Second, func() bool { return len(flaky.Missing(flakyIDs)) == 0 }, "the failed deliveries delivered by the retry")
	waitFor(t, 10*time.Second, func() bool {
		n := 0
		for _, d := range Deliveries(t, api, tok, flakyID, 100) {
			if d.Status == "delivered" && d.Attempt == 4 {
				n++
			}
		}
		return n == len(flakyIDs)
	}, "the retried deliveries' fourth attempts recorded as delivered")

	for _, q := range slices.Concat(rcv.Requests(), bulk.Requests(), flaky.Requests()) {
		if q.Problem != "" {
			t.Errorf("a request failed verification: %s", q.Problem)
		}
	}
	s.CheckAlive(t)
	s.StopAll(t)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}
