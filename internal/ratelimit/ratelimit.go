// Package ratelimit decides whether one more request or delivery may go
// ahead now, by the generic cell rate algorithm (GCRA).
//
// GCRA keeps a single number per key, the theoretical arrival time (TAT)
// of the next request if requests came exactly at the allowed rate. That
// makes a decision one read and one write of one key, which is what lets
// the Redis limiter run as a single atomic script on a single key (safe on
// Redis Cluster) and lets the local limiter forget a key as soon as its
// TAT is in the past.
//
// Local limits within one process (the all-in-one binary, and the fallback
// when Redis is down); Redis limits across replicas. FailOpen and
// FailClosed choose what an outage of the shared limiter means, and
// Instrument counts decisions.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limit allows Rate events per Period, of which up to Burst may come at
// once. Burst is at least 1; with Burst = Rate the whole period's
// allowance may be spent back to back, which is how the API's per-minute
// quota (X-RateLimit-*) behaves.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerMinute allows n requests a minute, all of them at once if need be.
func PerMinute(n int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }

// PerSecond allows n requests a second, all of them at once if need be.
func PerSecond(n int) Limit { return Limit{Rate: n, Period: time.Second, Burst: n} }

// ErrInvalidLimit is returned for a Limit no limiter can enforce. It is a
// programming or configuration error, never an outage, so FailOpen
// returns it rather than falling back.
var ErrInvalidLimit = errors.New("ratelimit: invalid limit")

// interval is the emission interval, the time one request "costs". It is
// at least a microsecond because the Redis limiter counts in microseconds
// and a Limit must mean the same to every limiter.
func (l Limit) interval() (time.Duration, error) {
	if l.Rate < 1 || l.Period <= 0 || l.Burst < 1 {
		return 0, fmt.Errorf("%w: rate %d per %s, burst %d", ErrInvalidLimit, l.Rate, l.Period, l.Burst)
	}
	t := l.Period / time.Duration(l.Rate)
	if t < time.Microsecond {
		return 0, fmt.Errorf("%w: rate %d per %s is finer than one per microsecond", ErrInvalidLimit, l.Rate, l.Period)
	}
	return t, nil
}

// Decision is a limiter's answer for one request.
type Decision struct {
	Allowed bool
	// Limit is the burst, the most requests that may come at once
	// (X-RateLimit-Limit).
	Limit int
	// Remaining is how many more requests would be allowed right now
	// (X-RateLimit-Remaining).
	Remaining int
	// RetryAfter, when the request was refused, is how long until one more
	// would be allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the full burst is available again
	// (X-RateLimit-Reset).
	ResetAfter time.Duration
	// Degraded is set when the shared limiter could not be asked and
	// FailOpen's fallback or FailClosed's refusal decided instead, so the
	// numbers above are not the shared ones.
	Degraded bool
}

// Limiter decides whether the request identified by key may go ahead
// under l. A refused request uses up nothing. An error means the limiter
// could not decide; what to do then is the caller's choice (see FailOpen
// and FailClosed).
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (Decision, error)
}

// gcra decides one request arriving at now against the stored tat, all
// times in the same unit. It returns the decision and the TAT to store
// (unchanged when refused, so a refusal costs nothing). The Redis script
// is the same arithmetic in Lua.
func gcra(now, tat, interval int64, burst int) (d Decision, newTAT int64) {
	if tat < now {
		tat = now
	}
	newTAT = tat + interval
	// The earliest moment this request would have been allowed: a full
	// burst's worth of intervals before its TAT.
	allowAt := newTAT - int64(burst)*interval
	d.Limit = burst
	if now < allowAt {
		d.RetryAfter = time.Duration(allowAt - now)
		d.ResetAfter = time.Duration(tat - now)
		return d, tat
	}
	d.Allowed = true
	d.Remaining = int((now - allowAt) / interval)
	d.ResetAfter = time.Duration(newTAT - now)
	return d, newTAT
}
