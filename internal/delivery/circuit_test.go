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

// TestCircuitTellsOfItsChanges: the dispatchers hear a circuit open, open
// again after a failed probe (with the new time), and close; nothing
// else, so the news costs a message per change, not per attempt.
func TestCircuitTellsOfItsChanges(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type news struct {
		id    string
		until time.Time
		wait  time.Duration
	}
	var heard []news
	c := &circuit{now: func() time.Time { return now }, changed: func(id string, until time.Time, wait time.Duration) {
		heard = append(heard, news{id, until, wait})
	}}
	for range circuitThreshold + 3 { // failures past the threshold, in flight when it opened
		c.observe("dead", false)
	}
	c.observe("live", true)
	want := []news{{"dead", now.Add(circuitFirstWait), circuitFirstWait}}
	now = now.Add(circuitFirstWait)
	if ok, _ := c.allow("dead"); !ok {
		t.Fatal("no probe after the wait")
	}
	c.observe("dead", false)
	want = append(want, news{"dead", now.Add(2 * circuitFirstWait), 2 * circuitFirstWait})
	now = now.Add(2 * circuitFirstWait)
	c.allow("dead")
	c.observe("dead", true)
	c.observe("dead", true)
	want = append(want, news{"dead", time.Time{}, 0})
	if len(heard) != len(want) {
		t.Fatalf("heard %v, want %v", heard, want)
	}
	for i := range want {
		if heard[i].id != want[i].id || !heard[i].until.Equal(want[i].until) || heard[i].wait != want[i].wait {
			t.Fatalf("heard %v, want %v", heard, want)
		}
	}
}
