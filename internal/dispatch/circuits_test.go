package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

type deferLog struct {
	at   map[time.Time][]wire.Job
	fail error
}

func (l *deferLog) DeferJobs(_ context.Context, jobs []wire.Job, at time.Time) error {
	if l.fail != nil {
		return l.fail
	}
	if l.at == nil {
		l.at = map[time.Time][]wire.Job{}
	}
	l.at[at] = append(l.at[at], jobs...)
	return nil
}

// TestCircuitsFollowTheWorkersNews: an opening is kept until its time,
// a closing forgets it, and what is not a circuit message changes
// nothing.
func TestCircuitsFollowTheWorkersNews(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := NewCircuits(func() time.Time { return now })
	until := now.Add(5 * time.Second)
	c.Heard(CircuitMessage("w1", until, 5*time.Second))
	for _, junk := range []string{"", "w2", "w2@", "w2@x", "@123@1", "w2@-5@1", "w2@5", "w2@5@x"} {
		c.Heard(junk)
	}
	// Right after the opening: parked until the probe's time.
	if got, open := c.Park("w1"); !open || !got.Equal(until) {
		t.Fatalf("w1: parked until %v open %v, want %v", got, open, until)
	}
	if _, open := c.Park("w2"); open {
		t.Fatal("w2 open from a malformed message")
	}
	// Late in the wait: parked for the whole wait, past the probe.
	now = until.Add(-time.Second)
	if got, _ := c.Park("w1"); !got.Equal(now.Add(5 * time.Second)) {
		t.Fatalf("w1 late in the wait: parked until %v, want %v", got, now.Add(5*time.Second))
	}
	now = until
	if _, open := c.Park("w1"); open {
		t.Fatal("w1 still open at its until")
	}
	now = until.Add(-time.Second)
	c.Heard(CircuitMessage("w1", time.Time{}, 0))
	if _, open := c.Park("w1"); open {
		t.Fatal("w1 open after its closing")
	}
}

// TestCircuitsStayBounded: at the bound the expired go first, then all.
func TestCircuitsStayBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := NewCircuits(func() time.Time { return now })
	for i := range maxCircuits {
		c.set(string(rune('a'+i%26))+time.Duration(i).String(), openCircuit{until: now.Add(time.Minute)})
	}
	c.set("new", openCircuit{until: now.Add(time.Minute)})
	if n := len(c.open); n != 1 {
		t.Fatalf("%d circuits kept at the bound with none expired, want only the new one", n)
	}
}

// TestHandleParksTheJobsOfOpenCircuits: the jobs of a webhook whose
// circuit is open are stored as deferrals until it lets a probe
// through, marked parked once; the others as jobs to try now; the event
// is acked after both. A deferral that cannot be stored leaves the event
// unacked.
func TestHandleParksTheJobsOfOpenCircuits(t *testing.T) {
	subs := NewSubscriptions(fakeSource{hook("live", "admin", fluxhook.RoleDashboardAdmin, "*"), hook("dead", "admin", fluxhook.RoleDashboardAdmin, "*")})
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e, err := wire.EncodeEvent(fluxhook.Event{ID: "evt_1", Event: "order.paid", Timestamp: time.Now(), Data: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	circuits := NewCircuits(func() time.Time { return now })
	until := now.Add(4500 * time.Millisecond)
	circuits.Heard(CircuitMessage("dead", until, time.Second))

	pub, deferred := &jobLog{}, &deferLog{}
	d := New(subs, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry(), subs))
	d.ParkOpenCircuits(circuits, deferred)
	msg := &eventMsg{data: e, delivered: 1}
	d.Handle(context.Background(), msg)
	if !msg.acked {
		t.Fatal("event not acked")
	}
	if len(pub.jobs) != 1 || pub.jobs[0].WebhookID != "live" || pub.jobs[0].Parked != 0 {
		t.Fatalf("jobs to try now: %+v, want the live webhook's alone", pub.jobs)
	}
	at := until.Truncate(time.Second).Add(time.Second)
	if len(deferred.at) != 1 || len(deferred.at[at]) != 1 {
		t.Fatalf("deferred %v, want one job at %v", deferred.at, at)
	}
	if j := deferred.at[at][0]; j.WebhookID != "dead" || j.Parked != 1 || j.Attempt != 1 || j.DeliveryID == "" {
		t.Fatalf("parked job %+v, want the dead webhook's first attempt, parked once", j)
	}

	// Closed again: nothing is parked.
	circuits.Heard(CircuitMessage("dead", time.Time{}, 0))
	pub, deferred = &jobLog{}, &deferLog{}
	d.ParkOpenCircuits(circuits, deferred)
	d.pub = pub
	d.Handle(context.Background(), &eventMsg{data: e, delivered: 1})
	if len(pub.jobs) != 2 || len(deferred.at) != 0 {
		t.Fatalf("after closing: %d jobs, %d deferrals; want 2 and none", len(pub.jobs), len(deferred.at))
	}

	// The deferral fails: no ack but a nak, so the event comes again.
	circuits.Heard(CircuitMessage("dead", until, time.Second))
	d.ParkOpenCircuits(circuits, &deferLog{fail: errors.New("stream unavailable")})
	failing := &nakedMsg{eventMsg: &eventMsg{data: e, delivered: 1}}
	d.Handle(context.Background(), failing)
	if failing.acked || !failing.naked {
		t.Fatalf("acked %v, naked %v: want a nak, as its parked job was not stored", failing.acked, failing.naked)
	}
}

type nakedMsg struct {
	*eventMsg
	naked bool
}

func (m *nakedMsg) NakWithDelay(time.Duration) error { m.naked = true; return nil }
func (m *nakedMsg) Nak() error                       { m.naked = true; return nil }
