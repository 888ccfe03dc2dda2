package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestSoakVerdict: bounded bursts on single samples (a worker's goroutines
// while parked jobs come due together) are not growth; a series whose
// whole last third sits above the middle third is.
func TestSoakVerdict(t *testing.T) {
	series := func(g func(i int) float64) []soakSample {
		var out []soakSample
		for i := range 30 {
			out = append(out, soakSample{At: time.Duration(i+1) * time.Minute,
				Procs:   map[string]ProcSample{"worker1": {RSS: 40 << 20, Goroutines: g(i), FDs: 60}},
				Streams: map[string][2]uint64{"EVENTS": {uint64(i) << 20, uint64(i) * 1000}}})
		}
		return out
	}
	bursty := series(func(i int) float64 {
		if i == 25 || i == 28 {
			return 1000 // bounded bursts in the last third only
		}
		return 130
	})
	if v, bad := soakVerdict(bursty); len(bad) != 0 {
		t.Fatalf("bounded bursts judged as growth:\n%s", v)
	}
	plateau := series(func(i int) float64 { return 130 + 50*float64(min(i, 20)) })
	if v, bad := soakVerdict(plateau); len(bad) != 0 {
		t.Fatalf("a series that rose and then stayed flat for the last third judged as growth:\n%s", v)
	}
	leaking := series(func(i int) float64 { return 130 + 20*float64(i) })
	v, bad := soakVerdict(leaking)
	if len(bad) != 1 || !strings.Contains(bad[0], "worker1 goroutines grows") {
		t.Fatalf("a leak not caught (bad %q):\n%s", bad, v)
	}
	if !strings.Contains(v, "EVENTS") || !strings.Contains(v, "reported, not judged") {
		t.Fatalf("EVENTS, which grows by design, is not reported as such:\n%s", v)
	}
}
