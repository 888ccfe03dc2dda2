package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// chaosLoad publishes a steady stream of events through POST /events,
// spread over the api replicas as a load balancer would, and retries as
// a well-behaved client does: after a 503 it waits what Retry-After says
// and sends the same id again (the API's idempotency makes that safe);
// after a transport error it tries the other replica. Any other answer
// is recorded and the event given up (it is not accepted, and a bar
// fails on it).
type chaosLoad struct {
	apis   []string
	key    string
	event  string
	rate   float64 // events started per second
	giveUp time.Duration

	client *http.Client
	stop   chan struct{}
	gen    sync.WaitGroup
	events sync.WaitGroup
	seq    atomic.Int64

	mu       sync.Mutex
	ids      []string             // every id started, in order
	accepted map[string]time.Time // id -> when it was answered 202
	first    map[string]time.Time // id -> when it was first sent
	answers  []loadAnswer
	gaveUp   int
}

// loadAnswer is one answer (or transport error) to POST /events.
type loadAnswer struct {
	ID         string
	Start, End time.Time
	Status     int // 0: transport error
	RetryAfter string
	Body       string // the first bytes of an unexpected answer
}

func newChaosLoad(apis []string, key, event string, rate float64) *chaosLoad {
	return &chaosLoad{apis: apis, key: key, event: event, rate: rate, giveUp: 4 * time.Minute,
		accepted: map[string]time.Time{}, first: map[string]time.Time{}, stop: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, MaxIdleConns: 128, IdleConnTimeout: 30 * time.Second,
		}}}
}

// Start begins publishing at the load's rate until Stop.
func (l *chaosLoad) Start() {
	interval := time.Duration(float64(time.Second) / l.rate)
	l.gen.Go(func() {
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tk.C:
			}
			id := newIDs(1)[0]
			seq := int(l.seq.Add(1))
			l.mu.Lock()
			l.ids = append(l.ids, id)
			l.first[id] = time.Now()
			l.mu.Unlock()
			l.events.Go(func() { l.one(id, seq) })
		}
	})
}

// Stop stops starting events and waits for those in flight to be
// accepted or given up.
func (l *chaosLoad) Stop() {
	close(l.stop)
	l.gen.Wait()
	l.events.Wait()
	l.client.CloseIdleConnections()
}

func (l *chaosLoad) one(id string, seq int) {
	body := map[string]any{"event": l.event, "data": map[string]any{"e2e": id, "seq": seq}, "id": id}
	h := map[string]string{"Authorization": "Bearer " + l.key}
	replica := seq % len(l.apis)
	deadline := time.Now().Add(l.giveUp)
	for {
		a := loadAnswer{ID: id, Start: time.Now()}
		st, hdr, b, err := doJSON(context.Background(), l.client, "POST", l.apis[replica]+"/events", body, h)
		a.End, a.Status = time.Now(), st
		if err != nil {
			a.Status, a.Body = 0, err.Error()
		} else {
			a.RetryAfter = hdr.Get("Retry-After")
			if st != http.StatusAccepted && st != http.StatusServiceUnavailable {
				a.Body = string(b[:min(len(b), 200)])
			}
		}
		l.mu.Lock()
		l.answers = append(l.answers, a)
		if a.Status == http.StatusAccepted {
			l.accepted[id] = a.End
		}
		l.mu.Unlock()
		var wait time.Duration
		switch {
		case a.Status == http.StatusAccepted:
			return
		case a.Status == 0:
			replica = (replica + 1) % len(l.apis)
			wait = 200 * time.Millisecond
		case a.Status == http.StatusServiceUnavailable:
			wait = time.Second
			if s, err := strconv.Atoi(a.RetryAfter); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
		default:
			l.mu.Lock()
			l.gaveUp++
			l.mu.Unlock()
			return
		}
		if time.Now().Add(wait).After(deadline) {
			l.mu.Lock()
			l.gaveUp++
			l.mu.Unlock()
			return
		}
		time.Sleep(wait)
	}
}

// Accepted returns the accepted ids and when each was accepted.
func (l *chaosLoad) Accepted() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Time, len(l.accepted))
	for k, v := range l.accepted {
		out[k] = v
	}
	return out
}

// FirstSent returns when each id was first sent.
func (l *chaosLoad) FirstSent() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]time.Time, len(l.first))
	for k, v := range l.first {
		out[k] = v
	}
	return out
}

// AcceptedIDs returns the accepted ids in the order they were started.
func (l *chaosLoad) AcceptedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, id := range l.ids {
		if _, ok := l.accepted[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// Answers returns every answer so far.
func (l *chaosLoad) Answers() []loadAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]loadAnswer(nil), l.answers...)
}

// Refusals counts the answers other than 202 by kind: "503" (with
// Retry-After), "503-no-RA", "conn" (transport errors) and any other
// status as is.
func (l *chaosLoad) Refusals() map[string]int {
	out := map[string]int{}
	for _, a := range l.Answers() {
		switch {
		case a.Status == http.StatusAccepted:
		case a.Status == 0:
			out["conn"]++
		case a.Status == http.StatusServiceUnavailable && a.RetryAfter != "":
			out["503"]++
		case a.Status == http.StatusServiceUnavailable:
			out["503-no-RA"]++
		default:
			out[strconv.Itoa(a.Status)]++
		}
	}
	return out
}

// formatCounts writes a count map as "503:12 conn:3", or "-" when empty.
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
