package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/signing"
)

// orderedRequest is one request an orderedReceiver got.
type orderedRequest struct {
	At        time.Time
	Key       string // data.key
	N         int    // data.n: the event's place in its key, from 1
	Tag       string // data.e2e
	WebhookID string
	Status    int
}

// orderedReceiver is the endpoint of an ordered webhook: it answers 500
// to every third request of each key (so no delivery fails twice in a
// row) and to every request of the stuck key, and notes two requests of
// one key in flight at once, which ordered delivery must never make.
type orderedReceiver struct {
	URL    string
	secret string
	stuck  string

	mu       sync.Mutex
	reqs     []orderedRequest
	perKey   map[string]int
	inflight map[string]int
	problems []string
}

func newOrderedReceiver(t testing.TB, secret, stuck string) *orderedReceiver {
	r := &orderedReceiver{secret: secret, stuck: stuck, perKey: map[string]int{}, inflight: map[string]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/ordered"
	return r
}

func (r *orderedReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var doc struct {
		Data struct {
			E2E string `json:"e2e"`
			Key string `json:"key"`
			N   int    `json:"n"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &doc)
	q := orderedRequest{At: time.Now(), Key: doc.Data.Key, N: doc.Data.N, Tag: doc.Data.E2E, WebhookID: req.Header.Get("webhook-id"), Status: http.StatusOK}
	r.mu.Lock()
	if err := signing.Verify(r.secret, req.Header, body, 0, time.Now()); err != nil {
		r.problems = append(r.problems, "signature: "+err.Error())
	}
	r.inflight[q.Key]++
	if r.inflight[q.Key] > 1 {
		r.problems = append(r.problems, fmt.Sprintf("key %q: two requests in flight at once (n=%d)", q.Key, q.N))
	}
	r.perKey[q.Key]++
	if q.Key == r.stuck || r.perKey[q.Key]%3 == 0 {
		q.Status = http.StatusInternalServerError
	}
	r.reqs = append(r.reqs, q)
	r.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // a window for an overlap to show
	r.mu.Lock()
	r.inflight[q.Key]--
	r.mu.Unlock()
	w.WriteHeader(q.Status)
}

func (r *orderedReceiver) requests() []orderedRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]orderedRequest(nil), r.reqs...)
}

// delivered counts the events of key with n in [from, to] answered 2xx.
func (r *orderedReceiver) delivered(key string, from, to int) int {
	seen := map[int]bool{}
	for _, q := range r.requests() {
		if q.Key == key && q.Status == http.StatusOK && q.N >= from && q.N <= to {
			seen[q.N] = true
		}
	}
	return len(seen)
}

// checkOrder checks that key's events 1..last reached the receiver in
// order: every request is for the head (the first event not yet
// answered 2xx) or, after dupsAfter, a repeat of the event just
// delivered with its webhook-id (a worker killed before it recorded the
// delivery); before dupsAfter, every event is answered 2xx exactly once.
func checkOrder(t *testing.T, reqs []orderedRequest, key string, last int, dupsAfter time.Time) {
	t.Helper()
	done, lastID := 0, ""
	for _, q := range reqs {
		if q.Key != key {
			continue
		}
		switch {
		case q.N == done+1:
			if q.Status == http.StatusOK {
				done, lastID = q.N, q.WebhookID
			}
		case q.N == done && q.At.After(dupsAfter) && q.WebhookID == lastID:
		default:
			t.Errorf("key %s: a request for event %d (webhook-id %s, at %s) after event %d was delivered: out of order or a duplicate",
				key, q.N, q.WebhookID, q.At.Format("15:04:05.000"), done)
			return
		}
	}
	if done != last {
		t.Errorf("key %s: events 1..%d delivered in order, want 1..%d", key, done, last)
	}
}

// TestE2EOrderedDelivery: a webhook with ordering fifo, through api,
// dispatcher and two workers as processes (API.md "Ordered delivery").
// Events of four ordering keys are published at once, interleaved; the
// endpoint fails every third request of each key. Each key's events
// arrive exactly once and in the order they were accepted, never two
// of one key at once, while a fifth key whose endpoint always fails
// holds only itself: its head is retried on the schedule, in place,
// then given up (dead letter), and only then does the key move on.
// The unordered webhook beside it (the stack's, on "*") gets every
// event meanwhile. Then a worker is SIGKILLed in the middle of a second
// round and started again: order per key still holds, and a repeat is
// only of the event last delivered, with its webhook-id.
func TestE2EOrderedDelivery(t *testing.T) {
	skipShort(t)
	t.Parallel()
	s := NewStack(t, StackConfig{RetrySchedule: "1s,1s,1s"})
	second := StartProc(t, "worker", s.Env)
	start := time.Now()

	const stuck = "stuck"
	rcv := newOrderedReceiver(t, webhookSecret, stuck)
	hook := mustCall(t, 201, "POST", s.API.API+"/webhooks", map[string]any{"url": rcv.URL, "secret": webhookSecret,
		"events": []string{"e2e.ordered.*"}, "ordering": "fifo"}, s.AdminToken)
	if hook["ordering"] != "fifo" {
		t.Fatalf("create answered %v, want ordering fifo", hook)
	}
	publish := func(ctx context.Context, event, key string, n int) (string, error) {
		id := newIDs(1)[0]
		st, _, b, err := doJSON(ctx, httpClient, "POST", s.API.API+"/events", map[string]any{"event": event, "id": id, "ordering_key": key,
			"data": map[string]any{"e2e": id, "key": key, "n": n}}, bearer(s.Key))
		if err == nil && st != http.StatusAccepted {
			err = fmt.Errorf("POST /events: %d %s", st, b)
		}
		return id, err
	}
	// The dispatcher learns of the webhook through its cache.
	waitFor(t, 30*time.Second, func() bool {
		if _, err := publish(context.Background(), "e2e.ordered.warm", "warm", 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		return rcv.delivered("warm", 1, 1) > 0
	}, "a warm-up event at the ordered receiver")

	keys := []string{"cust-a", "cust-b", "cust-c", "cust-d"}
	// round publishes events from..to of every key, each key on its own
	// goroutine (the next after the 202 of the last: that is the order
	// of acceptance), so the keys interleave in the stream and reach
	// the dispatcher's concurrent handlers in any order.
	round := func(from, to int) []string {
		var mu sync.Mutex
		var tags []string
		var wg sync.WaitGroup
		for _, k := range keys {
			wg.Go(func() {
				for n := from; n <= to; n++ {
					id, err := publish(context.Background(), "e2e.ordered.paid", k, n)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					tags = append(tags, id)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return tags
	}

	// Round 1, with the stuck key's two events among the first.
	const n1, n2 = 15, 15
	var tags1 []string
	var wg sync.WaitGroup
	wg.Go(func() { tags1 = round(1, n1) })
	for n := 1; n <= 2; n++ {
		id, err := publish(context.Background(), "e2e.ordered.paid", stuck, n)
		if err != nil {
			t.Fatal(err)
		}
		tags1 = append(tags1, id)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitForDetail(t, 40*time.Second, func() (bool, string) {
		var left []string
		for _, k := range keys {
			if d := rcv.delivered(k, 1, n1); d < n1 {
				left = append(left, fmt.Sprintf("%s %d/%d", k, d, n1))
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	}, "round 1 at the ordered receiver")
	// The unordered webhook got every event, the stuck key's too.
	waitFor(t, 20*time.Second, func() bool { return len(s.Receiver.Missing(tags1)) == 0 }, "round 1 at the unordered receiver")
	arrivals := s.Receiver.FirstArrivals(tags1)
	unorderedDone := arrivals[len(arrivals)-1]

	// The stuck key: event 1 tried 4 times (the first try and 3 retries),
	// given up, and only then event 2, also 4 times.
	waitForDetail(t, 30*time.Second, func() (bool, string) {
		n := 0
		for _, q := range rcv.requests() {
			if q.Key == stuck {
				n++
			}
		}
		return n >= 8, fmt.Sprintf("%d requests of the stuck key", n)
	}, "the stuck key's two events, each tried four times")
	var stuckReqs []orderedRequest
	for _, q := range rcv.requests() {
		if q.Key == stuck {
			stuckReqs = append(stuckReqs, q)
		}
	}
	if got := fmt.Sprint(func() (ns []int) {
		for _, q := range stuckReqs {
			ns = append(ns, q.N)
		}
		return ns
	}()); got != "[1 1 1 1 2 2 2 2]" {
		t.Errorf("the stuck key's requests were for events %s, want [1 1 1 1 2 2 2 2]: its head retried in place, then the next", got)
	}
	// The other keys and the unordered webhook did not wait for it.
	headGivenUp := stuckReqs[3].At
	if unorderedDone.After(headGivenUp) {
		t.Errorf("round 1 was all at the unordered webhook only at %s, after the stuck head was given up at %s: the stuck key held it",
			unorderedDone.Format("15:04:05.000"), headGivenUp.Format("15:04:05.000"))
	}
	for _, k := range keys {
		n := 0
		for _, q := range rcv.requests() {
			if q.Key == k && q.Status == http.StatusOK && q.At.After(stuckReqs[0].At) && q.At.Before(headGivenUp) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("key %s got nothing while the stuck key's head was failing: the stuck key held it", k)
		}
	}

	// Round 2: a worker is SIGKILLed a third of the way and restarted.
	wg.Go(func() { round(n1+1, n1+n2) })
	waitFor(t, 30*time.Second, func() bool {
		total := 0
		for _, k := range keys {
			total += rcv.delivered(k, n1+1, n1+n2)
		}
		return total >= len(keys)*n2/3
	}, "a third of round 2 delivered")
	killed := time.Now()
	s.Worker.Kill()
	s.Worker.Restart()
	t.Logf("worker SIGKILLed %v into the test and ready again %v later", killed.Sub(start).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	wg.Wait()
	waitForDetail(t, 60*time.Second, func() (bool, string) {
		var left []string
		for _, k := range keys {
			if d := rcv.delivered(k, n1+1, n1+n2); d < n2 {
				left = append(left, fmt.Sprintf("%s %d/%d", k, d, n2))
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	}, "round 2 at the ordered receiver")

	reqs := rcv.requests()
	for _, k := range keys {
		checkOrder(t, reqs, k, n1+n2, killed)
	}
	rcv.mu.Lock()
	for _, p := range rcv.problems {
		t.Error(p)
	}
	rcv.mu.Unlock()
	// The delivery log tells the same story: the stuck key's events failed.
	failed := 0
	for _, d := range Deliveries(t, s.API.API, s.AdminToken, hook["id"].(string), 1000) {
		if d.Status == "failed" {
			failed++
		}
	}
	if failed != 2 {
		t.Errorf("%d failed deliveries in the ordered webhook's log, want 2 (the stuck key's)", failed)
	}
	t.Logf("%d requests at the ordered receiver in %v", len(reqs), time.Since(start).Round(time.Millisecond))
	s.CheckAlive(t)
	if second.Alive() {
		second.Stop()
	}
	s.StopAll(t)
}
