package delivery

import (
	"sync"
	"time"
)

// circuit keeps a dead endpoint from costing what a live one costs. A
// webhook whose endpoint could not be reached circuitThreshold times in
// a row (no HTTP answer: a refused or reset connection, a timeout, DNS
// or TLS failing) has its circuit opened. Any HTTP answer, even a 500,
// shows the endpoint alive: it may fail some payloads and take others,
// and its failures are retried on the schedule as usual. While open, its
// jobs are parked (put back for when it may have recovered, in packs
// with other jobs due then) without an attempt each, so they neither use
// up attempts nor fill the delivery log nor cost the writes of a failed
// attempt. When the wait is over one probe goes through: an
// answer closes the circuit and the parked jobs flow again; another
// failure opens it for twice as long, up to circuitMaxWait. Probes are
// ordinary attempts, so the webhook's health (failing since, disabled
// after FLUXHOOK_DISABLE_AFTER) is kept as before. A job parked for the
// n-th time waits at least the retry schedule's n-th wait (wire.Job's
// Parked), so that while an endpoint stays down for days each of its
// jobs costs a handful of reads and writes, as its retries would, not
// one a minute; a job parked long may thus come some minutes after its
// endpoint recovered, as a retry would.
type circuit struct {
	now func() time.Time
	// changed, when set, hears each webhook's circuit open (until: when
	// it lets a probe through; wait: how long it parks a job at the
	// least) and close (until zero), outside the lock: the dispatchers
	// park a dead endpoint's new jobs as they make them, which spares the
	// worker taking each one only to park it.
	changed func(id string, until time.Time, wait time.Duration)

	mu    sync.Mutex
	hooks map[string]*breaker
}

type breaker struct {
	failures int           // in a row
	wait     time.Duration // how long it stays open; doubles on a failed probe
	until    time.Time     // open until then; zero: closed
	probe    time.Time     // when the probe in flight was let through; zero: none
}

const (
	circuitThreshold = 5
	// probeLost is how long a probe may take before another is let
	// through: a probe job may have been put back (its webhook busy or
	// rate-limited) and never report.
	probeLost        = 30 * time.Second
	circuitFirstWait = 5 * time.Second
	circuitMaxWait   = time.Minute
	maxBreakers      = 100_000
)

// allow reports whether a job for the webhook may be attempted now, and
// if not, how long until it may.
func (c *circuit) allow(id string) (bool, time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.hooks[id]
	if b == nil || b.until.IsZero() {
		return true, 0
	}
	now := c.now()
	if now.Before(b.until) {
		// Parked for the circuit's whole wait, not just until its next
		// probe: a job back just after a failed probe would only be
		// parked again, and each round costs a read and a write.
		return false, max(b.until.Sub(now), b.wait)
	}
	if !b.probe.IsZero() && now.Sub(b.probe) < probeLost {
		return false, time.Second
	}
	b.probe = now
	return true, 0
}

// observe notes an attempt's outcome: answered is any HTTP answer,
// which closes the circuit.
func (c *circuit) observe(id string, answered bool) {
	until, wait, changed := c.update(id, answered)
	if changed && c.changed != nil {
		c.changed(id, until, wait)
	}
}

// update is observe's bookkeeping; it reports whether the circuit
// opened (again, until until, for wait) or closed.
func (c *circuit) update(id string, answered bool) (until time.Time, wait time.Duration, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.hooks[id]
	if answered {
		if b != nil {
			delete(c.hooks, id)
			return time.Time{}, 0, !b.until.IsZero()
		}
		return time.Time{}, 0, false
	}
	if b == nil {
		if c.hooks == nil || len(c.hooks) >= maxBreakers {
			c.hooks = map[string]*breaker{}
		}
		b = &breaker{}
		c.hooks[id] = b
	}
	b.failures++
	switch {
	case !b.probe.IsZero():
		b.probe = time.Time{}
		b.wait = min(2*b.wait, circuitMaxWait)
		b.until = c.now().Add(b.wait)
		return b.until, b.wait, true
	case b.until.IsZero() && b.failures >= circuitThreshold:
		b.wait = circuitFirstWait
		b.until = c.now().Add(b.wait)
		return b.until, b.wait, true
	}
	return time.Time{}, 0, false
}
