package ratelimit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestLocalConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) Limiter { return NewLocal(nil) })
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestLocalExactDecisions(t *testing.T) {
	type step struct {
		advance time.Duration // before the request
		want    Decision
	}
	ms := time.Millisecond
	allow := func(remaining int, reset time.Duration) Decision {
		return Decision{Allowed: true, Remaining: remaining, ResetAfter: reset}
	}
	deny := func(retry, reset time.Duration) Decision {
		return Decision{RetryAfter: retry, ResetAfter: reset}
	}
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{
			name:  "burst then one interval at a time",
			limit: Limit{Rate: 10, Period: time.Second, Burst: 3}, // 100 ms a request
			steps: []step{
				{0, allow(2, 100*ms)},
				{0, allow(1, 200*ms)},
				{0, allow(0, 300*ms)},
				{0, deny(100*ms, 300*ms)},
				{50 * ms, deny(50*ms, 250*ms)},
				{49 * ms, deny(1*ms, 201*ms)},
				{1 * ms, allow(0, 300*ms)},
				{0, deny(100*ms, 300*ms)},
				// Two intervals later two requests are back.
				{200 * ms, allow(1, 200*ms)},
				{0, allow(0, 300*ms)},
				// Idle for longer than the period: the full burst, no more.
				{time.Hour, allow(2, 100*ms)},
			},
		},
		{
			name:  "per minute quota",
			limit: PerMinute(2),
			steps: []step{
				{0, allow(1, 30*time.Second)},
				{time.Second, allow(0, 59*time.Second)},
				{0, deny(29*time.Second, 59*time.Second)},
				{29 * time.Second, allow(0, 60*time.Second)},
			},
		},
		{
			name:  "burst of one",
			limit: Limit{Rate: 1, Period: time.Second, Burst: 1},
			steps: []step{
				{0, allow(0, time.Second)},
				{999 * ms, deny(1*ms, 1*ms)},
				{1 * ms, allow(0, time.Second)},
			},
		},
		{
			name:  "burst larger than the rate",
			limit: Limit{Rate: 1, Period: time.Minute, Burst: 3},
			steps: []step{
				{0, allow(2, time.Minute)},
				{0, allow(1, 2*time.Minute)},
				{0, allow(0, 3*time.Minute)},
				{0, deny(time.Minute, 3*time.Minute)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			l := NewLocal(clock.Now)
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				got := mustAllow(t, context.Background(), l, "k", tt.limit)
				want := s.want
				want.Limit = tt.limit.Burst
				if got != want {
					t.Fatalf("step %d (after +%s): got %+v, want %+v", i, s.advance, got, want)
				}
			}
		})
	}
}

// A Limit's meaning must not depend on the process's clock: a Local made
// before a big jump of the fake clock, or reading a clock far from the
// epoch, decides as one made just now.
func TestLocalDistantClock(t *testing.T) {
	clock := newFakeClock()
	l := NewLocal(clock.Now)
	clock.Advance(100 * 365 * 24 * time.Hour)
	lim := PerSecond(1)
	if d := mustAllow(t, context.Background(), l, "k", lim); !d.Allowed || d.ResetAfter != time.Second {
		t.Fatalf("first request: %+v", d)
	}
	if d := mustAllow(t, context.Background(), l, "k", lim); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("second request: %+v", d)
	}
}

func TestLocalForgetsIdleKeys(t *testing.T) {
	clock := newFakeClock()
	l := NewLocal(clock.Now)
	ctx := context.Background()
	lim := PerSecond(1)
	const n = 100_000

	before := heapInUse()
	for i := range n {
		mustAllow(t, ctx, l, fmt.Sprintf("idle-%d", i), lim)
	}
	if got := l.len(); got != n {
		t.Fatalf("after %d distinct keys within their interval: %d held, want all", n, got)
	}
	full := heapInUse()

	// Every one of those keys is whole again after a second; a sweep is
	// due after sweepEvery. Fresh keys touch every shard.
	clock.Advance(sweepEvery + time.Second)
	const fresh = 1000
	for i := range fresh {
		mustAllow(t, ctx, l, fmt.Sprintf("fresh-%d", i), lim)
	}
	if got := l.len(); got > fresh {
		t.Fatalf("after the idle keys expired: %d held, want at most the %d fresh ones", got, fresh)
	}
	// Keys dropped from a Go map leave its buckets allocated; the sweep
	// must also let the memory go.
	after := heapInUse()
	grown := full - before
	if grown < 2<<20 {
		t.Fatalf("%d keys took only %d bytes; the measurement means nothing", n, grown)
	}
	if kept := after - before; kept > grown/4 {
		t.Fatalf("heap: %d bytes before, %d with %d keys, %d after they expired; want most of it released", before, full, n, after)
	}
	runtime.KeepAlive(l)
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestLocalGrowthTriggersSweep(t *testing.T) {
	clock := newFakeClock()
	l := NewLocal(clock.Now)
	ctx := context.Background()
	lim := Limit{Rate: 1, Period: time.Millisecond, Burst: 1}
	// Each key is forgotten a millisecond after its request, and the
	// clock moves less than sweepEvery, so only growth can trigger the
	// sweeps that keep the map near its live size.
	for i := range 200_000 {
		mustAllow(t, ctx, l, fmt.Sprintf("k-%d", i), lim)
		clock.Advance(time.Millisecond / 4)
	}
	if got, limit := l.len(), localShards*minSweepLen*4; got > limit {
		t.Fatalf("%d keys held, few of them live; want at most %d", got, limit)
	}
}

func TestLocalCapsKeys(t *testing.T) {
	clock := newFakeClock()
	l := NewLocal(clock.Now)
	const maxKeys = 1024
	l.setMaxKeys(maxKeys)
	ctx := context.Background()
	lim := PerMinute(5) // every key stays live for the whole test
	for i := range 50_000 {
		if d := mustAllow(t, ctx, l, fmt.Sprintf("k-%d", i), lim); !d.Allowed {
			t.Fatalf("first request for a new key refused: %+v", d)
		}
		if got := l.len(); i%1000 == 0 && got > maxKeys {
			t.Fatalf("after %d keys: %d held, cap %d", i+1, got, maxKeys)
		}
	}
	if got := l.len(); got > maxKeys {
		t.Fatalf("%d keys held, cap %d", got, maxKeys)
	}
	// A key in use keeps being limited under the cap: its own entry
	// is there as long as no newcomer evicts it.
	exhaust(t, ctx, l, "hot", lim)
	if d := mustAllow(t, ctx, l, "hot", lim); d.Allowed {
		t.Fatalf("hot key allowed past its burst: %+v", d)
	}
}

func BenchmarkLocalAllow(b *testing.B) {
	l := NewLocal(nil)
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("client-key-%d", i)
	}
	lim := PerSecond(1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.Allow(ctx, keys[i%len(keys)], lim); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
