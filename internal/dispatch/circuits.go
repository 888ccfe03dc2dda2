package dispatch

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/wire"
)

// JobDeferrer stores jobs to be delivered at a later time, returning
// once all are stored (events.Publisher.DeferJobs).
type JobDeferrer interface {
	DeferJobs(ctx context.Context, jobs []wire.Job, at time.Time) error
}

// Circuits is what the workers said about endpoints that stopped
// answering: a worker opens a webhook's circuit after failures in a row
// with no HTTP answer, and parks its jobs until a probe may go through
// (delivery's circuit). A dispatcher that knows parks the webhook's new
// jobs itself, as it makes them: the same deferral the worker would have
// stored, without the worker taking each job first. The news comes over
// core NATS (cachebus), so it can be lost or late: a dispatcher that
// missed an opening sends the jobs as usual and the worker parks them;
// one that missed a closing parks jobs until the time the opening named,
// at most a minute, which is what the worker itself would have done with
// the jobs it held then.
type Circuits struct {
	now func() time.Time

	mu   sync.RWMutex
	open map[string]openCircuit // by webhook id
}

// openCircuit is one webhook's circuit as its worker told it.
type openCircuit struct {
	until time.Time     // when it lets a probe through
	wait  time.Duration // the least a new job is parked for
}

// maxCircuits bounds what a dispatcher keeps; past it, the expired go,
// and if none had, all (the workers park what the dispatcher no longer
// does).
const maxCircuits = 100_000

// NewCircuits returns an empty Circuits on the clock now (time.Now when
// nil).
func NewCircuits(now func() time.Time) *Circuits {
	if now == nil {
		now = time.Now
	}
	return &Circuits{now: now, open: map[string]openCircuit{}}
}

// CircuitMessage is the cachebus id that tells of webhook id's circuit
// opening until until, a job arriving meanwhile parked for wait at the
// least, or closing (until zero).
func CircuitMessage(id string, until time.Time, wait time.Duration) string {
	if until.IsZero() {
		return id + "@0@0"
	}
	return id + "@" + strconv.FormatInt(until.UnixMilli(), 10) + "@" + strconv.FormatInt(wait.Milliseconds(), 10)
}

// Heard takes a CircuitMessage; anything else is ignored.
func (c *Circuits) Heard(msg string) {
	id, rest, ok := strings.Cut(msg, "@")
	untilMS, waitMS, ok2 := strings.Cut(rest, "@")
	u, err := strconv.ParseInt(untilMS, 10, 64)
	w, err2 := strconv.ParseInt(waitMS, 10, 64)
	if !ok || !ok2 || err != nil || err2 != nil || id == "" || u < 0 || w < 0 {
		return
	}
	if u == 0 {
		c.set(id, openCircuit{})
		return
	}
	c.set(id, openCircuit{until: time.UnixMilli(u), wait: time.Duration(w) * time.Millisecond})
}

func (c *Circuits) set(id string, oc openCircuit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if oc.until.IsZero() {
		delete(c.open, id)
		return
	}
	if _, known := c.open[id]; !known && len(c.open) >= maxCircuits {
		now := c.now()
		for k, o := range c.open {
			if !o.until.After(now) {
				delete(c.open, k)
			}
		}
		if len(c.open) >= maxCircuits {
			clear(c.open)
		}
	}
	c.open[id] = oc
}

// Park reports, for a job of webhook id made now, whether its circuit
// is open and until when to park it: as its worker would, until the
// probe has had its chance, or for the circuit's wait, whichever is
// later, so that a job made late in the wait does not come back while
// the probe is in flight only to be parked again.
func (c *Circuits) Park(id string) (time.Time, bool) {
	c.mu.RLock()
	oc, ok := c.open[id]
	c.mu.RUnlock()
	now := c.now()
	if !ok || !oc.until.After(now) {
		return time.Time{}, false
	}
	return later(oc.until, now.Add(oc.wait)), true
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// split takes out of jobs those whose webhook's circuit is open, grouped
// by the second they may go (a schedule's resolution), each marked as
// parked once, as the worker marks a job it parks.
func (c *Circuits) split(jobs []wire.Job) (live []wire.Job, parked map[time.Time][]wire.Job) {
	if c == nil {
		return jobs, nil
	}
	c.mu.RLock()
	n := len(c.open)
	c.mu.RUnlock()
	if n == 0 {
		return jobs, nil
	}
	live = jobs[:0:0]
	for _, j := range jobs {
		until, open := c.Park(j.WebhookID)
		if !open || j.Order != nil {
			// An ordered job keeps its place in its key's queue, where
			// the lane's own circuit parks its key instead.
			live = append(live, j)
			continue
		}
		if parked == nil {
			parked = map[time.Time][]wire.Job{}
		}
		at := until.Truncate(time.Second).Add(time.Second)
		j.Parked++
		parked[at] = append(parked[at], j)
	}
	return live, parked
}
