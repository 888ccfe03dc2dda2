package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// BenchmarkAuthenticatedRequest serves GET /auth/user in process (no
// network), authenticated by an access token, by a client key with the
// in-process limiter, and by a client key with the Redis limiter. The
// handler itself reads the user from SQLite in every case; the
// differences are what key lookup (cached) and the limiter cost. No case
// writes to the database per request.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	run := func(b *testing.B, e *env, headers []http.Header) {
		var next atomic.Int64
		// Many clients at once, as an API sees them: a Redis round trip
		// per request is latency, not CPU.
		b.SetParallelism(16)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest("GET", "/api/v1/auth/user", nil)
				req.Header = headers[int(next.Add(1))%len(headers)]
				w := httptest.NewRecorder()
				e.api.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	}
	// Keys allow 100,000 requests a minute each; spreading the load over
	// 32 keys keeps a long run under every key's limit.
	setup := func(b *testing.B, o envOpts) (*env, string, []http.Header) {
		e := newEnv(b, o)
		r := e.do("POST", "/auth/signup", "", map[string]any{"email": "bench@example.com", "password": "correct-horse-battery"}).must(b, 201)
		tok := r.str("access_token")
		var keys []http.Header
		for range 32 {
			key := e.do("POST", "/client-keys", tok, map[string]any{"name": "bench", "scopes": []string{"read:users"}, "rate_limit_per_minute": 100000}).must(b, 201).str("key")
			keys = append(keys, http.Header{"X-Client-Key": {key}})
		}
		return e, tok, keys
	}
	b.Run("jwt", func(b *testing.B) {
		e, tok, _ := setup(b, envOpts{})
		run(b, e, []http.Header{{"Authorization": {"Bearer " + tok}}})
	})
	b.Run("key+local-limiter", func(b *testing.B) {
		e, _, keys := setup(b, envOpts{})
		run(b, e, keys)
	})
	b.Run("key+redis-limiter", func(b *testing.B) {
		opts, err := redis.ParseURL(testenv.RedisURL(b))
		if err != nil {
			b.Fatal(err)
		}
		opts.ContextTimeoutEnabled = true
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		lim := ratelimit.NewRedis(rdb, testenv.Unique("bench:"), 0)
		e, _, keys := setup(b, envOpts{keyLimiter: lim})
		run(b, e, keys)
	})
}
