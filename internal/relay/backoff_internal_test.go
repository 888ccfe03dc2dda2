package relay

import (
	"testing"
	"time"
)

func TestBackoffDoublesUpToTheMaximum(t *testing.T) {
	tests := []struct {
		min, max time.Duration
		failures int
		want     time.Duration // before ±20 % jitter
	}{
		{0, 0, 1, DefaultMinBackoff},
		{0, 0, 2, 2 * DefaultMinBackoff},
		{0, 0, 6, 32 * DefaultMinBackoff},
		{0, 0, 7, DefaultMaxBackoff},
		{0, 0, 1000, DefaultMaxBackoff},
		// A shift this far would overflow.
		{5 * time.Second, time.Hour, 40, time.Hour},
	}
	for _, tt := range tests {
		r := New(nil, nil, nil, nil, Options{MinBackoff: tt.min, MaxBackoff: tt.max})
		for range 100 {
			got := r.backoff(tt.failures)
			lo, hi := time.Duration(float64(tt.want)*0.8), time.Duration(float64(tt.want)*1.2)
			if got < lo || got > hi {
				t.Fatalf("backoff(%d) with min %v max %v = %v, want %v ±20%%", tt.failures, tt.min, tt.max, got, tt.want)
			}
		}
	}
}
