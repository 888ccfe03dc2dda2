package ratelimit

import (
	"context"
	"errors"
	"time"
)

// FailOpen asks a primary limiter (Redis) and, when it cannot answer,
// lets a fallback (a Local) decide, so an outage of Redis loosens limits
// to per-process ones instead of refusing traffic.
type FailOpen struct {
	primary    Limiter
	fallback   Limiter
	onFallback func(err error)
}

var _ Limiter = (*FailOpen)(nil)

// NewFailOpen returns a FailOpen. onFallback, when not nil, is called
// with the primary's error each time the fallback decides, for the
// caller to count and log; it runs on the request's path, so it should
// be quick and should itself limit how often it logs (a Local with a
// Limit of one per minute will do).
func NewFailOpen(primary, fallback Limiter, onFallback func(err error)) *FailOpen {
	return &FailOpen{primary: primary, fallback: fallback, onFallback: onFallback}
}

// Allow returns the primary's decision, or else the fallback's with
// Degraded set and no error. It does not fall back, and returns the
// primary's error, when the Limit is invalid or ctx itself is done:
// neither says anything about the primary's health.
func (f *FailOpen) Allow(ctx context.Context, key string, lim Limit) (Decision, error) {
	d, err := f.primary.Allow(ctx, key, lim)
	if err == nil || errors.Is(err, ErrInvalidLimit) || ctx.Err() != nil {
		return d, err
	}
	if f.onFallback != nil {
		f.onFallback(err)
	}
	d, ferr := f.fallback.Allow(ctx, key, lim)
	if ferr != nil {
		return d, errors.Join(err, ferr)
	}
	d.Degraded = true
	return d, nil
}

// DefaultFailClosedRetryAfter is how long FailClosed tells a refused
// caller to wait: long enough not to hammer a struggling Redis, short
// enough that a person retrying a sign-in is not locked out for long.
const DefaultFailClosedRetryAfter = 5 * time.Second

// FailClosed refuses every request its primary cannot decide. It is for
// limits that guard against password guessing, where letting requests
// through unlimited during a Redis outage is worse than refusing them.
type FailClosed struct {
	primary    Limiter
	retryAfter time.Duration
}

var _ Limiter = (*FailClosed)(nil)

// NewFailClosed returns a FailClosed whose refusals carry retryAfter
// (DefaultFailClosedRetryAfter when 0).
func NewFailClosed(primary Limiter, retryAfter time.Duration) *FailClosed {
	if retryAfter <= 0 {
		retryAfter = DefaultFailClosedRetryAfter
	}
	return &FailClosed{primary: primary, retryAfter: retryAfter}
}

// Allow returns the primary's decision, or else a refusal with Degraded
// set together with the primary's error, so a caller that only looks at
// Allowed still refuses.
func (f *FailClosed) Allow(ctx context.Context, key string, lim Limit) (Decision, error) {
	d, err := f.primary.Allow(ctx, key, lim)
	if err == nil {
		return d, nil
	}
	return Decision{
		Allowed:    false,
		Limit:      lim.Burst,
		RetryAfter: f.retryAfter,
		ResetAfter: f.retryAfter,
		Degraded:   true,
	}, err
}
