package delivery

import (
	"math/rand/v2"
	"time"
)

// DefaultSchedule is the wait before each retry after the first try:
// about three days in all (DESIGN.md).
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
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

// slowOutcome reports whether an attempt's failure means the endpoint is
// overloaded: it timed out or answered 429.
func slowOutcome(status int, reason string) bool {
	return status == 429 || reason == "timeout"
}
