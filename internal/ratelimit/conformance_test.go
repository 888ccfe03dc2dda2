package ratelimit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// runConformance checks what every Limiter must do, in real time. Each
// subtest gets a fresh limiter from newLimiter and keys of its own.
//
// Limits use long intervals (six seconds a request) where a test must not
// regain quota while it runs, and a short one only where it waits, so that
// a slow, loaded machine makes no difference.
func runConformance(t *testing.T, newLimiter func(t *testing.T) Limiter) {
	t.Helper()
	const burst = 10
	slow := PerMinute(burst)        // one request per 6 s
	interval := time.Minute / burst // what one request costs under slow
	// One request per 2 s, for the test that waits: a stall shorter than
	// the interval cannot change its outcome on a loaded machine.
	quick := Limit{Rate: 2, Period: 4 * time.Second, Burst: 2}
	const slack = 2 * time.Second     // time the test may have taken, at most
	const rounding = time.Millisecond // Redis answers in whole milliseconds, rounded up
	ctx := func(t *testing.T) context.Context { return testenv.Context(t, 30*time.Second) }

	t.Run("BurstAllowedThenLimited", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		for i := range burst {
			d := mustAllow(t, ctx, l, "k", slow)
			if !d.Allowed {
				t.Fatalf("request %d of a burst of %d refused: %+v", i+1, burst, d)
			}
		}
		for i := range 3 {
			if d := mustAllow(t, ctx, l, "k", slow); d.Allowed {
				t.Fatalf("request %d past the burst allowed: %+v", i+1, d)
			}
		}
	})

	t.Run("RemainingCountsDown", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		for i := range burst {
			d := mustAllow(t, ctx, l, "k", slow)
			if d.Limit != burst || d.Remaining != burst-1-i {
				t.Fatalf("request %d: Limit %d, Remaining %d; want %d, %d", i+1, d.Limit, d.Remaining, burst, burst-1-i)
			}
			// The limit is whole again once every request so far has
			// been paid for.
			within(t, "ResetAfter", d.ResetAfter, time.Duration(i+1)*interval, slack, rounding)
		}
		d := mustAllow(t, ctx, l, "k", slow)
		if d.Allowed || d.Limit != burst || d.Remaining != 0 {
			t.Fatalf("past the burst: %+v; want refused, Limit %d, Remaining 0", d, burst)
		}
	})

	t.Run("RetryAfterIsOneInterval", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		exhaust(t, ctx, l, "k", slow)
		d := mustAllow(t, ctx, l, "k", slow)
		if d.Allowed {
			t.Fatalf("past the burst allowed: %+v", d)
		}
		within(t, "RetryAfter", d.RetryAfter, interval, slack, rounding)
		within(t, "ResetAfter", d.ResetAfter, slow.Period, slack, rounding)
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		exhaust(t, ctx, l, "a", slow)
		d := mustAllow(t, ctx, l, "b", slow)
		if !d.Allowed || d.Remaining != burst-1 {
			t.Fatalf("first request for b after a was exhausted: %+v; want allowed, Remaining %d", d, burst-1)
		}
		if d := mustAllow(t, ctx, l, "a", slow); d.Allowed {
			t.Fatalf("a allowed again after b's request: %+v", d)
		}
	})

	t.Run("LimitedRequestsCostNothing", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		exhaust(t, ctx, l, "k", slow)
		first := mustAllow(t, ctx, l, "k", slow)
		var last Decision
		for range 20 {
			last = mustAllow(t, ctx, l, "k", slow)
			if last.Allowed {
				t.Fatalf("allowed while limited: %+v", last)
			}
		}
		// Had refusals been charged, each would have pushed both out by
		// another interval.
		if last.RetryAfter > first.RetryAfter || last.ResetAfter > first.ResetAfter {
			t.Fatalf("refusals used up quota: first refusal %+v, 21st %+v", first, last)
		}
	})

	t.Run("AllowedAgainAfterRetryAfter", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		exhaust(t, ctx, l, "k", quick)
		var d Decision
		for range 10 {
			if d = mustAllow(t, ctx, l, "k", quick); d.Allowed {
				t.Fatalf("allowed past the burst: %+v", d)
			}
		}
		if d.RetryAfter <= 0 || d.RetryAfter > quick.Period/time.Duration(quick.Rate)+rounding {
			t.Fatalf("RetryAfter %s, want in (0, %s]", d.RetryAfter, quick.Period/time.Duration(quick.Rate))
		}
		time.Sleep(d.RetryAfter)
		if d := mustAllow(t, ctx, l, "k", quick); !d.Allowed {
			t.Fatalf("refused after waiting RetryAfter: %+v", d)
		}
		// Waiting one interval bought one request, not more.
		if d := mustAllow(t, ctx, l, "k", quick); d.Allowed {
			t.Fatalf("second request after waiting one interval allowed: %+v", d)
		}
	})

	t.Run("ConcurrentCallersGetExactlyTheBurst", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		start := make(chan struct{})
		for range 50 {
			wg.Go(func() {
				<-start
				for range 2 {
					d, err := l.Allow(ctx, "k", slow)
					if err != nil {
						errs <- err
						return
					}
					if d.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Allow: %v", err)
		}
		if got := allowed.Load(); got != burst {
			t.Fatalf("100 concurrent requests: %d allowed, want exactly %d", got, burst)
		}
	})

	t.Run("InvalidLimits", func(t *testing.T) {
		t.Parallel()
		l, ctx := newLimiter(t), ctx(t)
		for _, lim := range []Limit{
			{},
			{Rate: 0, Period: time.Second, Burst: 1},
			{Rate: 1, Period: 0, Burst: 1},
			{Rate: 1, Period: -time.Second, Burst: 1},
			{Rate: 1, Period: time.Second, Burst: 0},
			{Rate: 1e7, Period: time.Second, Burst: 1}, // finer than a microsecond
		} {
			d, err := l.Allow(ctx, "k", lim)
			if !errors.Is(err, ErrInvalidLimit) || d.Allowed {
				t.Errorf("Allow(%+v) = %+v, %v; want refused with ErrInvalidLimit", lim, d, err)
			}
		}
	})
}

func mustAllow(tb testing.TB, ctx context.Context, l Limiter, key string, lim Limit) Decision {
	tb.Helper()
	d, err := l.Allow(ctx, key, lim)
	if err != nil {
		tb.Fatalf("Allow(%q, %+v): %v", key, lim, err)
	}
	return d
}

// exhaust spends key's whole burst, checking each request is allowed.
func exhaust(tb testing.TB, ctx context.Context, l Limiter, key string, lim Limit) {
	tb.Helper()
	for i := range lim.Burst {
		if d := mustAllow(tb, ctx, l, key, lim); !d.Allowed {
			tb.Fatalf("request %d of a burst of %d for %q refused: %+v", i+1, lim.Burst, key, d)
		}
	}
}

// within fails unless want-below <= got <= want+above.
func within(tb testing.TB, what string, got, want, below, above time.Duration) {
	tb.Helper()
	if got < want-below || got > want+above {
		tb.Fatalf("%s = %s, want %s (-%s, +%s)", what, got, want, below, above)
	}
}
