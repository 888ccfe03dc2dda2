package delivery

import (
	"testing"
	"time"
)

// TestDeferral: a busy webhook's jobs come back in a moment (±20%); a
// webhook that has gone more than a second without an attempt ending
// gets its jobs back just after its oldest attempt times out, and no
// sooner than it has been stalled, at most maxDeferral — with jitter
// that only adds (up to 40%).
func TestDeferral(t *testing.T) {
	const timeout = 5 * time.Second
	for _, tt := range []struct {
		stalledFor, timeout, lo, hi time.Duration
	}{
		{0, timeout, 200 * time.Millisecond, 300 * time.Millisecond},
		{500 * time.Millisecond, timeout, 200 * time.Millisecond, 300 * time.Millisecond},
		{time.Second, timeout, 200 * time.Millisecond, 300 * time.Millisecond},
		// Stalled 1.2 s of a 5 s timeout: back after the timeout, not before.
		{1200 * time.Millisecond, timeout, 4050 * time.Millisecond, 5670 * time.Millisecond},
		// Stalled past the timeout (slots held by several waves): as long as the stall.
		{6 * time.Second, timeout, 6 * time.Second, 8400 * time.Millisecond},
		{3 * time.Second, 15 * time.Second, maxDeferral, maxDeferral * 14 / 10},
		{3 * time.Second, 0, 3 * time.Second, 4200 * time.Millisecond}, // no timeout known
		{time.Hour, timeout, maxDeferral, maxDeferral * 14 / 10},
	} {
		for range 100 {
			got := deferral(tt.stalledFor, tt.timeout)
			if got < tt.lo || got > tt.hi {
				t.Fatalf("deferral(%v, %v) = %v, want between %v and %v", tt.stalledFor, tt.timeout, got, tt.lo, tt.hi)
			}
		}
	}
}
