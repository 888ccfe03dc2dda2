package e2e

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"
)

// badEndpoint is a webhook endpoint that misbehaves in one way, for the
// chaos runner's receivers scenario. It counts the requests it gets,
// per webhook-id.
type badEndpoint struct {
	Mode string
	URL  string

	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu   sync.Mutex
	byID map[string][]time.Time
	hits int
}

// Misbehaviours the endpoint knows.
const (
	badReset    = "reset"    // the connection is reset (RST) before any answer
	badHang     = "hang"     // no answer at all, until the sender gives up
	badTrickle  = "trickle"  // the response, headers included, one byte every 500 ms
	bad429      = "429"      // 429 Too Many Requests with Retry-After: 3
	bad410      = "410"      // 410 Gone
	bad500      = "500"      // 500 Internal Server Error
	badRedirect = "redirect" // 302 to a private address (a canary that must never be reached)
	badCanary   = "canary"   // the redirect's target: counts, answers 200
)

// newBadEndpoint starts an endpoint misbehaving as mode. location is the
// redirect's target (for badRedirect).
func newBadEndpoint(t testing.TB, mode, location string) *badEndpoint {
	t.Helper()
	e := &badEndpoint{Mode: mode, byID: map[string][]time.Time{}, closing: make(chan struct{})}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.hits++
		id := r.Header.Get("webhook-id")
		e.byID[id] = append(e.byID[id], time.Now())
		e.mu.Unlock()
		switch mode {
		case badReset:
			if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // close sends RST
				}
				c.Close()
			}
		case badHang:
			select {
			case <-r.Context().Done():
			case <-e.closing:
			}
		case badTrickle:
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"received\":true}") {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				select {
				case <-time.After(500 * time.Millisecond):
				case <-e.closing:
					return
				}
			}
		case bad429:
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		case bad410:
			w.WriteHeader(http.StatusGone)
		case bad500:
			w.WriteHeader(http.StatusInternalServerError)
		case badRedirect:
			w.Header().Set("Location", location)
			w.WriteHeader(http.StatusFound)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	e.URL = e.srv.URL + "/hook"
	t.Cleanup(e.Close)
	return e
}

// Close releases hanging and trickling requests and stops the server.
func (e *badEndpoint) Close() {
	e.once.Do(func() {
		close(e.closing)
		e.srv.CloseClientConnections()
		e.srv.Close()
	})
}

// Hits is the number of requests received.
func (e *badEndpoint) Hits() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hits
}

// MinRetryGap is the shortest time between two requests with the same
// webhook-id (0 when no delivery was tried twice).
func (e *badEndpoint) MinRetryGap() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	var best time.Duration
	for _, at := range e.byID {
		sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
		for i := 1; i < len(at); i++ {
			if g := at[i].Sub(at[i-1]); best == 0 || g < best {
				best = g
			}
		}
	}
	return best
}
