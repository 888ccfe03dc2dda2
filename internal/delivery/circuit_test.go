package delivery

import (
	"testing"
	"time"
)

// TestCircuit: five failures in a row open a webhook's circuit; while it
// is open nothing goes through and the caller learns how long to wait;
// then one probe goes through at a time; a failed probe doubles the wait
// (up to a minute), an answer closes the circuit; other webhooks are not
// affected; a lost probe is replaced after probeLost.
func TestCircuit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &circuit{now: func() time.Time { return now }}
	must := func(id string, want bool, wantWait time.Duration) {
		t.Helper()
		ok, wait := c.allow(id)
		if ok != want || wait != wantWait {
			t.Fatalf("allow(%s) = %v, %v; want %v, %v", id, ok, wait, want, wantWait)
		}
	}
	for range circuitThreshold - 1 {
		c.observe("dead", false)
		must("dead", true, 0)
	}
	c.observe("dead", false)
	must("dead", false, circuitFirstWait)
	must("live", true, 0)
	// Late in the wait, a job is still parked for a whole wait: back
	// right after the probe it would likely be parked again.
	now = now.Add(circuitFirstWait - time.Second)
	must("dead", false, circuitFirstWait)
	now = now.Add(time.Second)

	now = now.Add(circuitFirstWait)
	must("dead", true, 0)            // the probe
	must("dead", false, time.Second) // one at a time
	c.observe("dead", false)
	must("dead", false, 2*circuitFirstWait)

	// Failed probes double the wait up to circuitMaxWait.
	wait := 2 * circuitFirstWait
	for range 6 {
		now = now.Add(wait)
		must("dead", true, 0)
		c.observe("dead", false)
		wait = min(2*wait, circuitMaxWait)
		must("dead", false, wait)
	}
	if wait != circuitMaxWait {
		t.Fatalf("wait %v after many failed probes, want %v", wait, circuitMaxWait)
	}

	// A probe that never reports is replaced after probeLost.
	now = now.Add(wait)
	must("dead", true, 0)
	now = now.Add(probeLost)
	must("dead", true, 0)

	// An answer closes the circuit; the count starts over.
	c.observe("dead", true)
	must("dead", true, 0)
	c.observe("dead", false)
	must("dead", true, 0)
}
