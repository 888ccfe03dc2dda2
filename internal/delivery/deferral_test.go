package delivery

import (
	"testing"
	"time"
)

// TestDeferral: a busy webhook's jobs come back in a moment; a webhook
// that has gone more than a second without an attempt ending gets its
// jobs back after about as long as it has been stalled, at most
// maxDeferral — always with ±20% jitter.
func TestDeferral(t *testing.T) {
	for _, tt := range []struct {
		stalledFor, want time.Duration
	}{
		{0, 250 * time.Millisecond},
		{500 * time.Millisecond, 250 * time.Millisecond},
		{time.Second, 250 * time.Millisecond},
		{3 * time.Second, 3 * time.Second},
		{time.Hour, maxDeferral},
	} {
		for range 100 {
			got := deferral(tt.stalledFor)
			if lo, hi := tt.want*8/10, tt.want*12/10; got < lo || got > hi {
				t.Fatalf("deferral(%v) = %v, want between %v and %v", tt.stalledFor, got, lo, hi)
			}
		}
	}
}
