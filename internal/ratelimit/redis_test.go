package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// newRedisClient connects to url the way the services should: with
// context deadlines bounding socket I/O (see NewRedis).
func newRedisClient(tb testing.TB, url string) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("parse Redis URL %q: %v", url, err)
	}
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// newTestRedis returns a Redis limiter on the test server under a prefix
// of its own. Keys need no cleanup: each expires once its limit is whole,
// within a minute here.
func newTestRedis(tb testing.TB) *Redis {
	tb.Helper()
	c := newRedisClient(tb, testenv.RedisURL(tb))
	// The default 50 ms is meant for production; a loaded test machine
	// running the suite in parallel can miss it.
	return NewRedis(c, testenv.Unique("rl")+":", 2*time.Second)
}

func TestRedisConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) Limiter { return newTestRedis(t) })
}

// The wrappers must not change a healthy limiter's decisions.
func TestWrappedRedisConformance(t *testing.T) {
	t.Run("FailOpen", func(t *testing.T) {
		runConformance(t, func(t *testing.T) Limiter {
			return NewFailOpen(newTestRedis(t), NewLocal(nil), func(err error) { t.Errorf("fell back: %v", err) })
		})
	})
	t.Run("FailClosed", func(t *testing.T) {
		runConformance(t, func(t *testing.T) Limiter { return NewFailClosed(newTestRedis(t), 0) })
	})
	t.Run("Instrumented", func(t *testing.T) {
		runConformance(t, func(t *testing.T) Limiter {
			return Instrument(newTestRedis(t), NewMetrics(nil), "test")
		})
	})
}

// Two API replicas, each with its own client, share one limit.
func TestRedisReplicasShareTheLimit(t *testing.T) {
	url := testenv.RedisURL(t)
	prefix := testenv.Unique("rl") + ":"
	replicas := []Limiter{
		NewRedis(newRedisClient(t, url), prefix, 2*time.Second),
		NewRedis(newRedisClient(t, url), prefix, 2*time.Second),
	}
	ctx := testenv.Context(t, 30*time.Second)
	lim := PerMinute(10)

	var allowed [2]atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Go(func() {
			r := g % 2
			for range 2 {
				d, err := replicas[r].Allow(ctx, "client-key", lim)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					allowed[r].Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Allow: %v", err)
	}
	a, b := allowed[0].Load(), allowed[1].Load()
	if a+b != int64(lim.Burst) {
		t.Fatalf("replicas allowed %d + %d requests, want %d in all", a, b, lim.Burst)
	}
}

// After a Redis restart or failover the script is gone from the server's
// cache; the limiter must send it again rather than fail.
func TestRedisReloadsFlushedScript(t *testing.T) {
	l := newTestRedis(t)
	ctx := testenv.Context(t, 30*time.Second)
	mustAllow(t, ctx, l, "k", PerMinute(2))
	if err := l.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	if d := mustAllow(t, ctx, l, "k", PerMinute(2)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after SCRIPT FLUSH: %+v; want the second of two allowed", d)
	}
}

// The key lives exactly as long as it says something.
func TestRedisKeyExpiresWhenWhole(t *testing.T) {
	l := newTestRedis(t)
	ctx := testenv.Context(t, 30*time.Second)
	lim := PerMinute(6) // 10 s a request
	exhaust(t, ctx, l, "k", lim)
	ttl, err := l.client.PTTL(ctx, l.prefix+"k").Result()
	if err != nil {
		t.Fatalf("PTTL: %v", err)
	}
	within(t, "key TTL", ttl, time.Minute, 2*time.Second, time.Millisecond)
}

// Addresses that do not behave like Redis, for the outage tests.
var (
	// Nothing listens on port 1: connections are refused at once.
	refusingURL = "redis://127.0.0.1:1/0"
)

// unresponsiveURL returns the address of a listener that accepts
// connections and never answers, as a hung Redis or a black-holed
// network path would. A refused connection fails at once and would not
// show whether the timeout bounds a call.
func unresponsiveURL(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "redis://" + ln.Addr().String() + "/0"
}

func TestRedisUnavailable(t *testing.T) {
	const timeout = 100 * time.Millisecond
	// Generous for a loaded machine, and still far below go-redis's own
	// multi-second read and dial timeouts, which would be hit if the
	// limiter's timeout did not bound the call.
	const bound = timeout + 700*time.Millisecond
	tests := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"refused", func(testing.TB) string { return refusingURL }},
		{"unresponsive", unresponsiveURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewRedis(newRedisClient(t, tt.url(t)), "rl:", timeout)
			ctx := testenv.Context(t, 30*time.Second)
			for i := range 3 { // the first call dials; later ones may reuse a pooled connection
				start := time.Now()
				d, err := l.Allow(ctx, "k", PerMinute(10))
				took := time.Since(start)
				if err == nil || d.Allowed {
					t.Fatalf("call %d: Allow = %+v, %v; want an error and no permission", i, d, err)
				}
				if took > bound {
					t.Fatalf("call %d took %s with a %s timeout; want under %s", i, took, timeout, bound)
				}
			}
		})
	}
}

func TestFailOpenFallsBackToLocal(t *testing.T) {
	for _, tt := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"refused", func(testing.TB) string { return refusingURL }},
		{"unresponsive", unresponsiveURL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var fallbacks []error
			var mu sync.Mutex
			l := NewFailOpen(
				NewRedis(newRedisClient(t, tt.url(t)), "rl:", 50*time.Millisecond),
				NewLocal(nil),
				func(err error) { mu.Lock(); fallbacks = append(fallbacks, err); mu.Unlock() },
			)
			ctx := testenv.Context(t, 30*time.Second)
			lim := PerMinute(3)
			for i := range lim.Burst {
				d := mustAllow(t, ctx, l, "k", lim)
				if !d.Allowed || !d.Degraded || d.Remaining != lim.Burst-1-i {
					t.Fatalf("request %d: %+v; want allowed by the fallback, Remaining %d", i+1, d, lim.Burst-1-i)
				}
			}
			// The fallback is a limiter, not a free pass.
			if d := mustAllow(t, ctx, l, "k", lim); d.Allowed || !d.Degraded || d.RetryAfter <= 0 {
				t.Fatalf("past the burst: %+v; want refused by the fallback", d)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(fallbacks) != lim.Burst+1 {
				t.Fatalf("onFallback called %d times for %d requests", len(fallbacks), lim.Burst+1)
			}
			for _, err := range fallbacks {
				if err == nil {
					t.Fatal("onFallback called with a nil error")
				}
			}
		})
	}
}

// Neither an invalid Limit nor a caller that gave up says the primary is
// down, so neither is a reason to fall back or to raise the alarm.
func TestFailOpenDoesNotFallBackOnCallerErrors(t *testing.T) {
	called := false
	l := NewFailOpen(
		NewRedis(newRedisClient(t, refusingURL), "rl:", 50*time.Millisecond),
		NewLocal(nil),
		func(error) { called = true },
	)
	if _, err := l.Allow(context.Background(), "k", Limit{}); !errors.Is(err, ErrInvalidLimit) {
		t.Errorf("invalid limit: err = %v, want ErrInvalidLimit", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, err := l.Allow(ctx, "k", PerMinute(1)); err == nil || d.Allowed || d.Degraded {
		t.Errorf("cancelled caller: %+v, %v; want the primary's error", d, err)
	}
	if called {
		t.Error("onFallback called for a caller's error")
	}
}

func TestFailClosedRefusesWhenRedisIsDown(t *testing.T) {
	l := NewFailClosed(NewRedis(newRedisClient(t, refusingURL), "rl:", 50*time.Millisecond), 7*time.Second)
	ctx := testenv.Context(t, 30*time.Second)
	for range 3 {
		d, err := l.Allow(ctx, "login:203.0.113.9", PerMinute(10))
		if err == nil {
			t.Fatal("no error with Redis down")
		}
		want := Decision{Limit: 10, RetryAfter: 7 * time.Second, ResetAfter: 7 * time.Second, Degraded: true}
		if d != want {
			t.Fatalf("Decision = %+v, want %+v", d, want)
		}
	}
	if d, _ := NewFailClosed(NewRedis(newRedisClient(t, refusingURL), "rl:", 0), 0).Allow(ctx, "k", PerMinute(1)); d.RetryAfter != DefaultFailClosedRetryAfter {
		t.Fatalf("default RetryAfter = %s, want %s", d.RetryAfter, DefaultFailClosedRetryAfter)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	l := newTestRedis(b)
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
