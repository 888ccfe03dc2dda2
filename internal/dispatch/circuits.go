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
	open map[string]time.Time // webhook id → open until
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
	return &Circuits{now: now, open: map[string]time.Time{}}
}

// CircuitMessage is the cachebus id that tells of webhook id's circuit
// opening until until, or closing (until zero).
func CircuitMessage(id string, until time.Time) string {
	ms := int64(0)
	if !until.IsZero() {
		ms = until.UnixMilli()
	}
	return id + "@" + strconv.FormatInt(ms, 10)
}

// Heard takes a CircuitMessage; anything else is ignored.
func (c *Circuits) Heard(msg string) {
	id, ms, ok := strings.Cut(msg, "@")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || id == "" {
		return
	}
	var until time.Time
	if n > 0 {
		until = time.UnixMilli(n)
	}
	c.set(id, until)
}

func (c *Circuits) set(id string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.IsZero() {
		delete(c.open, id)
		return
	}
	if _, known := c.open[id]; !known && len(c.open) >= maxCircuits {
		now := c.now()
		for k, u := range c.open {
			if !u.After(now) {
				delete(c.open, k)
			}
		}
		if len(c.open) >= maxCircuits {
			clear(c.open)
		}
	}
	c.open[id] = until
}

// Until reports when webhook id's circuit lets a probe through, if it is
// open now.
func (c *Circuits) Until(id string) (time.Time, bool) {
	c.mu.RLock()
	until, ok := c.open[id]
	c.mu.RUnlock()
	if !ok || !until.After(c.now()) {
		return time.Time{}, false
	}
	return until, true
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
		until, open := c.Until(j.WebhookID)
		if !open {
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
