// Package retry decides when a failed delivery is tried again: the
// schedule of waits after each attempt (about three days by default,
// DESIGN.md), its jitter, the longer wait after a timeout or a 429, and
// how far a receiver's Retry-After is honoured. FLUXHOOK_RETRY_SCHEDULE
// is parsed here too, so the schedule has one owner.
package retry

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// DefaultDelays is the wait before each retry after the first try:
// about three days in all, so a receiver down over a weekend still gets
// its events (DESIGN.md).
var DefaultDelays = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour}

// minSlowDown is the least wait after a timeout or a 429: the endpoint is
// overwhelmed, and a quick retry adds to its load.
const minSlowDown = 60 * time.Second

// Schedule decides when a failed attempt is tried again.
type Schedule struct {
	Delays []time.Duration
	// Jitter is the fraction by which a delay varies either way (0.2 =
	// ±20 %), so retries of many deliveries that failed together spread.
	Jitter float64
	rand   func() float64
}

// Next returns the wait before attempt+1 after attempt failed, and false
// when no attempt is left. retryAfter is the endpoint's Retry-After (0
// when absent); slow says the attempt timed out or was told 429.
func (s Schedule) Next(attempt int, retryAfter time.Duration, slow bool) (time.Duration, bool) {
	if attempt < 1 || attempt > len(s.Delays) {
		return 0, false
	}
	base := s.Delays[attempt-1]
	if slow && base < minSlowDown && s.Delays[len(s.Delays)-1] >= minSlowDown {
		// Production schedules wait at least a minute after a timeout or
		// 429; a test schedule of seconds (whose longest wait is under a
		// minute) keeps its own pace.
		base = minSlowDown
	}
	r := s.rand
	if r == nil {
		r = rand.Float64
	}
	d := time.Duration(float64(base) * (1 + s.Jitter*(2*r()-1)))
	if retryAfter > 0 {
		// Honour Retry-After within [delay, 2 × delay]: a receiver may slow
		// us down, but not stall a delivery for days, nor speed us up.
		d = max(base, min(retryAfter, 2*base))
	}
	return max(d, time.Second), true
}

// Wait returns the schedule's n-th delay (n from 1), without jitter; the
// last one for any n beyond it. A job parked while its endpoint's
// circuit is open waits at least Wait(n) the n-th time, so a job parked
// again and again costs about what its retries would have.
func (s Schedule) Wait(n int) time.Duration {
	if len(s.Delays) == 0 || n < 1 {
		return 0
	}
	return s.Delays[min(n, len(s.Delays))-1]
}

// MaxRetries bounds a schedule, so that a typo cannot keep a delivery
// alive (and its record growing) indefinitely.
const MaxRetries = 50

// Parse reads a schedule written as FLUXHOOK_RETRY_SCHEDULE takes it:
// comma-separated positive Go durations, at most MaxRetries of them.
// The empty string is the default schedule.
func Parse(v string) ([]time.Duration, error) {
	if v == "" {
		return append([]time.Duration(nil), DefaultDelays...), nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > MaxRetries {
		return nil, fmt.Errorf("has %d entries; at most %d retries are allowed", len(parts), MaxRetries)
	}
	delays := make([]time.Duration, 0, len(parts))
	for i, s := range parts {
		s = strings.TrimSpace(s)
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("entry %d, %q, is not a positive Go duration (e.g. 5s,5m,30m,2h)", i+1, s)
		}
		delays = append(delays, d)
	}
	return delays, nil
}
