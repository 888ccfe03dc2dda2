package delivery

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// gate keeps one slow or dead endpoint from taking the workers from the
// healthy ones: each webhook has a cap on attempts in flight, and an
// endpoint that timed out gets one attempt at a time (slow mode) for a
// minute, until it answers.
type gate struct {
	limit int // attempts in flight per webhook
	now   func() time.Time

	mu       sync.Mutex
	inflight map[string]int
	slow     map[string]time.Time // webhook → until when it gets one attempt at a time
	lastDone map[string]time.Time // webhook → when its last attempt ended (or its first began)
}

func newGate(limit int, now func() time.Time) *gate {
	return &gate{limit: limit, now: now, inflight: map[string]int{}, slow: map[string]time.Time{}, lastDone: map[string]time.Time{}}
}

// acquire takes an in-flight slot for a webhook, or reports that the
// webhook is at its cap, and whether it is in slow mode.
func (g *gate) acquire(id string) (ok, slow bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	limit := g.limit
	if until, found := g.slow[id]; found {
		if g.now().Before(until) {
			limit, slow = 1, true
		} else {
			delete(g.slow, id)
		}
	}
	if g.inflight[id] >= limit {
		return false, slow
	}
	if g.inflight[id] == 0 {
		g.lastDone[id] = g.now()
	}
	g.inflight[id]++
	return true, slow
}

// acquireWait waits a moment for a slot of a busy webhook: a burst of
// jobs for one endpoint (a pull hands out many at once) queues here for
// milliseconds instead of being put back for longer. An endpoint in slow
// mode, or one whose attempts have stopped ending, gets no wait. The
// wait is real time whatever the clock says: it paces this process.
func (g *gate) acquireWait(ctx context.Context, id string) (ok, slow bool) {
	deadline := time.Now().Add(250 * time.Millisecond)
	for {
		ok, slow = g.acquire(id)
		if ok || slow || time.Now().After(deadline) || ctx.Err() != nil || g.stalledFor(id) > 100*time.Millisecond {
			return ok, slow
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stalledFor is how long a busy webhook has gone without an attempt
// ending (zero when it has nothing in flight).
func (g *gate) stalledFor(id string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[id] == 0 {
		return 0
	}
	return g.now().Sub(g.lastDone[id])
}

// release gives a slot back; an attempt that timed out puts the webhook
// in slow mode for a minute, any other ends it.
func (g *gate) release(id string, timedOut bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[id]--; g.inflight[id] <= 0 {
		delete(g.inflight, id)
		delete(g.lastDone, id)
	} else {
		g.lastDone[id] = g.now()
	}
	if timedOut {
		g.slow[id] = g.now().Add(time.Minute)
	} else {
		delete(g.slow, id)
	}
}

// deferral is how long a job waits when its webhook is busy (at its cap
// of attempts in flight): a moment, with jitter — or, once the webhook
// has gone a second without an attempt ending (an endpoint that stopped
// answering, before its requests time out and open the circuit), until
// just after its oldest attempt times out (timeout is the request
// timeout), and at least as long as it has been stalled, up to
// maxDeferral, with jitter that only adds. Until that timeout the
// webhook's slots stay full, and a job back sooner would only be put
// back again, spending on it the stream writes healthy endpoints need.
func deferral(stalledFor, timeout time.Duration) time.Duration {
	if stalledFor <= time.Second {
		return time.Duration(float64(250*time.Millisecond) * (0.8 + 0.4*rand.Float64()))
	}
	d := min(max(stalledFor, timeout-stalledFor+250*time.Millisecond), maxDeferral)
	return time.Duration(float64(d) * (1 + 0.4*rand.Float64()))
}

// maxDeferral caps how long a job for a stalled webhook is put back.
const maxDeferral = 10 * time.Second
