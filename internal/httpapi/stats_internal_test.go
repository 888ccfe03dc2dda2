package httpapi

import (
	"slices"
	"testing"

	"github.com/fluxhook/fluxhook/internal/store"
)

// TestP95FromBuckets: the percentile read from latency buckets lands in
// the bucket that holds the 95th attempt, within it by linear
// interpolation, and attempts without a duration do not count.
func TestP95FromBuckets(t *testing.T) {
	bucketOf := func(ms int) int {
		i, _ := slices.BinarySearch(store.LatencyBounds, ms)
		return i
	}
	lo := func(ms int) int { // the lower edge of ms's bucket
		if b := bucketOf(ms); b > 0 {
			return store.LatencyBounds[b-1]
		}
		return 0
	}
	b100 := bucketOf(100)
	cases := []struct {
		name   string
		l      latencies
		lo, hi int // the answer's range; -1 for none
	}{
		{"none", latencies{}, -1, -1},
		{"only untimed", latencies{-1: 5}, -1, -1},
		{"one bucket", latencies{b100: 20}, lo(100), store.LatencyBounds[b100]},
		{"the slow 5 % decide", latencies{bucketOf(10): 95, bucketOf(5000): 5}, lo(10), store.LatencyBounds[bucketOf(10)]},
		{"the slow 6 % decide", latencies{bucketOf(10): 94, bucketOf(5000): 6}, lo(5000), store.LatencyBounds[bucketOf(5000)]},
		{"untimed ignored", latencies{-1: 1000, bucketOf(10): 1}, lo(10), store.LatencyBounds[bucketOf(10)]},
		{"beyond the last bound", latencies{len(store.LatencyBounds): 3}, store.LatencyBounds[len(store.LatencyBounds)-1], store.LatencyBounds[len(store.LatencyBounds)-1] * 5 / 4},
	}
	for _, c := range cases {
		got := c.l.p95()
		switch {
		case c.lo < 0 && got != nil:
			t.Errorf("%s: %d, want none", c.name, *got)
		case c.lo >= 0 && (got == nil || *got < c.lo || *got > c.hi):
			t.Errorf("%s: %v, want within [%d, %d]", c.name, got, c.lo, c.hi)
		}
	}
}
