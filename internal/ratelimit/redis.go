package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisTimeout bounds one decision. A limiter sits in front of
// every API request and delivery, so a slow Redis must turn into a quick
// error (and a fallback) rather than into slow requests.
const DefaultRedisTimeout = 50 * time.Millisecond

//go:embed gcra.lua
var gcraLua string

// gcraScript is sent by SHA after the first call; go-redis falls back to
// sending the source when Redis answers NOSCRIPT (after a restart or
// failover).
var gcraScript = redis.NewScript(gcraLua)

// Redis is a GCRA limiter shared by every process using the same Redis
// and prefix. Each decision is one script on one key, timed by Redis's
// own clock.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a limiter storing key k at prefix+k. Each call gives
// up after timeout (DefaultRedisTimeout when 0).
//
// The client should be made with ContextTimeoutEnabled: without it
// go-redis bounds socket reads and writes by its own ReadTimeout and
// WriteTimeout (seconds by default) rather than by the context, so a Redis
// that accepts connections but does not answer would hold each call for
// that long.
func NewRedis(client redis.UniversalClient, prefix string, timeout time.Duration) *Redis {
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	return &Redis{client: client, prefix: prefix, timeout: timeout}
}

// Allow decides one request for key. Any failure to reach Redis is
// returned as an error with a zero Decision.
func (r *Redis) Allow(ctx context.Context, key string, lim Limit) (Decision, error) {
	interval, err := lim.interval()
	if err != nil {
		return Decision{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := gcraScript.Run(ctx, r.client, []string{r.prefix + key}, interval.Microseconds(), lim.Burst).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	if len(res) != 4 {
		return Decision{}, fmt.Errorf("ratelimit: redis: script returned %d values, want 4", len(res))
	}
	return Decision{
		Allowed:    res[0] == 1,
		Limit:      lim.Burst,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Millisecond,
		ResetAfter: time.Duration(res[3]) * time.Millisecond,
	}, nil
}
