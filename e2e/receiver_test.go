package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/fluxhook/fluxhook/internal/signing"
)

// Request is one request the receiver got.
type Request struct {
	At        time.Time
	WebhookID string // webhook-id: the delivery id, the same on every attempt
	Attempt   int    // 1 for the first request with this webhook-id, and so on
	Event     string // "event" of the body
	EventID   string // "id" of the body
	Tag       string // data.e2e (the id the test published the event with), else the body's id
	Data      map[string]any
	Keys      []string // the body's top-level keys, sorted
	Status    int      // what the receiver answered
	Problem   string   // why verification failed ("" when it passed)
}

// Receiver is the webhook endpoint of the tests. For every request it does
// what the seeds' Express handler does — express.json() parses the body,
// JSON.stringify re-serialises it, and X-Fluxbase-Signature must be the hex
// HMAC-SHA256 of that under the secret — and also verifies the Standard
// Webhooks headers with signing.Verify over the raw body. A request that
// fails either is answered 401 (as the example does) and counted.
type Receiver struct {
	Secret string
	URL    string // where to point webhooks: http://127.0.0.1:PORT/webhook

	srv *httptest.Server

	mu          sync.Mutex
	reqs        []Request
	attempts    map[string]int // webhook-id -> requests so far
	delivered   map[string]int // tag -> requests answered 2xx
	sigFailures int
	problems    []string // the first few
	failFirst   int
	hang        chan struct{} // non-nil: requests wait on it
}

// NewReceiver starts a receiver on 127.0.0.1 holding secret.
func NewReceiver(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{Secret: secret, attempts: map[string]int{}, delivered: map[string]int{}}
	r.srv = httptest.NewServer(r)
	r.URL = r.srv.URL + "/webhook"
	t.Cleanup(func() {
		r.SetHang(false)
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

// FailFirst makes the receiver answer 500 to the first n requests of
// every delivery (counted per webhook-id).
func (r *Receiver) FailFirst(n int) {
	r.mu.Lock()
	r.failFirst = n
	r.mu.Unlock()
}

// SetHang makes requests hang (until the sender gives up, or SetHang(false),
// after which they are answered 503), or stops that.
func (r *Receiver) SetHang(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case on && r.hang == nil:
		r.hang = make(chan struct{})
	case !on && r.hang != nil:
		close(r.hang)
		r.hang = nil
	}
}

// verify checks a request as the seeds' receiver would, and Standard
// Webhooks as a Go receiver would. It returns "" when both pass.
func (r *Receiver) verify(req *http.Request, body []byte) string {
	// express.json() only parses application/json; otherwise req.body is
	// {} and the signature of "{}" would not match.
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return fmt.Sprintf("Content-Type %q is not application/json", ct)
	}
	payload, err := jsjson.Canonical(body) // JSON.stringify(req.body) after express.json()
	if err != nil {
		return "body is not JSON: " + err.Error()
	}
	mac := hmac.New(sha256.New, []byte(r.Secret))
	mac.Write(payload)
	want := hex.EncodeToString(mac.Sum(nil))
	got := req.Header.Get("X-Fluxbase-Signature")
	if got == "" {
		return "no X-Fluxbase-Signature"
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Sprintf("X-Fluxbase-Signature %s is not the HMAC of JSON.stringify(req.body) (%s)", got, want)
	}
	if err := signing.Verify(r.Secret, req.Header, body, 0, time.Now()); err != nil {
		return "Standard Webhooks: " + err.Error()
	}
	return ""
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rec := Request{At: time.Now(), WebhookID: req.Header.Get("webhook-id")}
	body, err := io.ReadAll(io.LimitReader(req.Body, 16<<20))
	if err != nil {
		rec.Problem = "read body: " + err.Error()
	} else if req.Method != http.MethodPost {
		rec.Problem = "method " + req.Method
	} else {
		rec.Problem = r.verify(req, body)
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		rec.Event, _ = doc["event"].(string)
		rec.EventID, _ = doc["id"].(string)
		rec.Data, _ = doc["data"].(map[string]any)
		for k := range doc {
			rec.Keys = append(rec.Keys, k)
		}
		sort.Strings(rec.Keys)
	}
	rec.Tag = rec.EventID
	if tag, ok := rec.Data["e2e"].(string); ok {
		rec.Tag = tag
	}

	r.mu.Lock()
	r.attempts[rec.WebhookID]++
	rec.Attempt = r.attempts[rec.WebhookID]
	hang := r.hang
	switch {
	case rec.Problem != "":
		rec.Status = http.StatusUnauthorized
		r.sigFailures++
		if len(r.problems) < 10 {
			r.problems = append(r.problems, rec.Problem)
		}
	case hang != nil:
		rec.Status = http.StatusServiceUnavailable
	case rec.Attempt <= r.failFirst:
		rec.Status = http.StatusInternalServerError
	default:
		rec.Status = http.StatusOK
		r.delivered[rec.Tag]++
	}
	r.reqs = append(r.reqs, rec)
	r.mu.Unlock()

	if hang != nil && rec.Problem == "" {
		select {
		case <-hang:
		case <-req.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Status)
	switch rec.Status {
	case http.StatusOK:
		io.WriteString(w, `{"received":true}`)
	case http.StatusUnauthorized:
		io.WriteString(w, `{"error":"Invalid signature"}`)
	default:
		io.WriteString(w, `{"error":"try again"}`)
	}
}

// Requests returns a copy of every request so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.reqs...)
}

// Find returns the requests for which match holds.
func (r *Receiver) Find(match func(Request) bool) []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Request
	for _, q := range r.reqs {
		if match(q) {
			out = append(out, q)
		}
	}
	return out
}

// Total is the number of requests received.
func (r *Receiver) Total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

// DeliveredCount is the number of distinct tags answered 2xx at least once.
func (r *Receiver) DeliveredCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

// Missing returns the tags (published ids) not delivered yet.
func (r *Receiver) Missing(tags []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, tag := range tags {
		if r.delivered[tag] == 0 {
			out = append(out, tag)
		}
	}
	return out
}

// FirstArrivals returns, sorted, when each of tags was first answered 2xx
// (tags not delivered are left out).
func (r *Receiver) FirstArrivals(tags []string) []time.Time {
	want := make(map[string]bool, len(tags))
	for _, tag := range tags {
		want[tag] = true
	}
	r.mu.Lock()
	first := map[string]time.Time{}
	for _, q := range r.reqs {
		if q.Status == http.StatusOK && want[q.Tag] {
			if _, ok := first[q.Tag]; !ok {
				first[q.Tag] = q.At
			}
		}
	}
	r.mu.Unlock()
	out := make([]time.Time, 0, len(first))
	for _, at := range first {
		out = append(out, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// Distinct returns the number of distinct events (by tag) named event that
// were answered 2xx.
func (r *Receiver) Distinct(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, q := range r.reqs {
		if q.Event == event && q.Status == http.StatusOK {
			seen[q.Tag] = true
		}
	}
	return len(seen)
}

// DistinctByEvent is Distinct for every event name.
func (r *Receiver) DistinctByEvent() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]map[string]bool{}
	for _, q := range r.reqs {
		if q.Status != http.StatusOK {
			continue
		}
		if seen[q.Event] == nil {
			seen[q.Event] = map[string]bool{}
		}
		seen[q.Event][q.Tag] = true
	}
	out := map[string]int{}
	for e, s := range seen {
		out[e] = len(s)
	}
	return out
}

// Duplicates is the number of 2xx answers beyond the first for each event:
// deliveries the engine repeated (allowed: at least once).
func (r *Receiver) Duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.delivered {
		n += c - 1
	}
	return n
}

// SigFailures is the number of requests that failed verification (it
// must stay 0), with the first few reasons.
func (r *Receiver) SigFailures() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sigFailures, append([]string(nil), r.problems...)
}

// Reset forgets every request (the failure settings stay).
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
	r.attempts = map[string]int{}
	r.delivered = map[string]int{}
	r.sigFailures = 0
	r.problems = nil
}

// checkSignatures fails the test if any request failed verification.
func (r *Receiver) checkSignatures(t testing.TB) {
	t.Helper()
	if n, problems := r.SigFailures(); n != 0 {
		t.Errorf("%d requests failed signature verification, e.g.:\n  %s", n, strings.Join(problems, "\n  "))
	}
}
