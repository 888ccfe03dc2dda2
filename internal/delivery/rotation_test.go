package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/signing"
)

// seedsReceiver checks X-Fluxbase-Signature exactly as the seeds'
// Express handler does, with the one secret it holds, and answers 401
// when it does not match.
type seedsReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	secret   string
	accepted map[string]int // event id → deliveries accepted
	rejected int
}

func newSeedsReceiver(t *testing.T, secret string) *seedsReceiver {
	r := &seedsReceiver{secret: secret, accepted: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body := make([]byte, req.ContentLength)
		_, _ = req.Body.Read(body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get(signing.HeaderFluxbase) != signing.FluxbaseSignature(r.secret, body) {
			r.rejected++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.accepted[string(body)]++
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *seedsReceiver) use(secret string) {
	r.mu.Lock()
	r.secret = secret
	r.mu.Unlock()
}

func (r *seedsReceiver) counts() (accepted, rejected int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.accepted {
		accepted += n
	}
	return accepted, r.rejected
}

// TestRotationOverlapKeepsSeedsReceiverWorking: a receiver that checks
// X-Fluxbase-Signature with one secret, the seeds' way, goes on
// accepting deliveries after the secret is rotated (it still holds the
// old one), and loses none when it switches to the new one inside the
// overlap: one delivery is rejected once and retried with the other
// secret, and the ones after it go through at once.
func TestRotationOverlapKeepsSeedsReceiverWorking(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, 8, 5*time.Second)
	old := signing.NewSecret()
	rcv := newSeedsReceiver(t, old)
	hook := p.webhook(rcv.URL, old)
	delivered := func(n int) {
		t.Helper()
		waitFor(t, 15*time.Second, "the deliveries", func() bool {
			done := 0
			for _, a := range p.attempts(hook.ID) {
				if a.Status == fluxhook.DeliveryDelivered {
					done++
				}
			}
			return done == n
		})
	}

	p.publish("order.paid", map[string]any{"n": 1})
	delivered(1)

	fresh, err := p.hooks.RotateSecret(ctx, p.admin, hook.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the worker's cache hears of the change
	p.publish("order.paid", map[string]any{"n": 2})
	delivered(2)
	if acc, rej := rcv.counts(); acc != 2 || rej != 0 {
		t.Fatalf("before the receiver switched: %d accepted, %d rejected; want 2 and 0 (the old secret still signs)", acc, rej)
	}

	rcv.use(fresh)
	p.publish("order.paid", map[string]any{"n": 3})
	delivered(3)
	p.publish("order.paid", map[string]any{"n": 4})
	delivered(4)
	acc, rej := rcv.counts()
	if acc != 4 || rej != 1 {
		t.Fatalf("after the receiver switched: %d accepted, %d rejected; want 4 and 1 (one rejection, then the new secret signs)", acc, rej)
	}
	for body, n := range rcv.accepted {
		if n != 1 {
			t.Errorf("%s accepted %d times", body, n)
		}
	}
}
