package process

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

// Shared is what a process's roles share. Share makes each part once,
// in the order the parts need each other, so that the roles (AddAPI,
// AddDispatcher, AddWorker) only take what is made and can be added in
// any order.
type Shared struct {
	DB        *store.DB
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	// Dispatch and Deliver are the dispatcher's and the worker's durable
	// consumers.
	Dispatch, Deliver jetstream.Consumer
	Publisher         *events.Publisher
	Bus               cachebus.Bus
	// Redis is nil without FLUXHOOK_REDIS_URL.
	Redis *redis.Client
	// Box and Webhooks are nil without FLUXHOOK_ENCRYPTION_KEY (the
	// dispatcher reads no secret).
	Box      *secretbox.Box
	Webhooks *webhooks.Service
	// Policy is what every outbound request to a webhook URL obeys.
	Policy      outbound.Policy
	UserAgent   string
	RateMetrics *ratelimit.Metrics
}

// Share sets up what the roles share on the process's database and NATS
// connection: JetStream's streams and consumers (idempotently: every
// role's process does it with the same settings, at the same moment
// too, and they are checked against what the server keeps; waited for
// while JetStream cannot take them yet), the publisher, the cache
// invalidation bus, Redis (waited for), the secrets' box and the
// webhooks service.
func (p *Process) Share(ctx context.Context, db *store.DB, nc *nats.Conn) (*Shared, error) {
	cfg := p.Config
	s := &Shared{DB: db, NATS: nc, UserAgent: "Fluxhook/" + Version, RateMetrics: ratelimit.NewMetrics(p.Registry),
		Policy: outbound.Policy{AllowInsecure: cfg.AllowInsecureTargets, AllowPrivate: cfg.AllowPrivateTargets, AllowedCIDRs: cfg.AllowedTargetCIDRs}}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	err = p.await(ctx, "JetStream streams and consumers", events.Permanent, func(ctx context.Context) error {
		if err := events.EnsureStreams(ctx, js, events.StreamsConfig{Replicas: cfg.StreamReplicas, EventsMaxAge: cfg.EventRetention,
			EventsExclusive: p.exclusiveNATS}); err != nil {
			return fmt.Errorf("JetStream streams: %w", err)
		}
		if err := events.EnsureConsumers(ctx, js, events.ConsumersConfig{WorkerAckWait: cfg.WorkerAckWait}); err != nil {
			return fmt.Errorf("JetStream consumers: %w", err)
		}
		// A lookup is answered at once by a consumer's leader, which
		// EnsureConsumers saw; one left unanswered (a new election)
		// costs a try, not awaitTryTimeout.
		ctx, cancel := context.WithTimeout(ctx, consumerLookupTimeout)
		defer cancel()
		var err error
		if s.Dispatch, err = js.Consumer(ctx, events.StreamEvents, events.ConsumerDispatcher); err != nil {
			return fmt.Errorf("dispatcher consumer: %w", err)
		}
		if s.Deliver, err = js.Consumer(ctx, events.StreamDeliveries, events.ConsumerWorker); err != nil {
			return fmt.Errorf("worker consumer: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, kept, err := events.EventsKept(ctx, js); err == nil && !kept {
		p.Logger.Warn("replays are unavailable: " + events.ErrEventsNotKept.Error())
	}
	if s.Publisher, err = events.NewPublisher(nc, events.PublisherOptions{}); err != nil {
		return nil, err
	}
	s.JetStream = js
	if s.Bus, err = cachebus.NewNATS(nc); err != nil {
		return nil, fmt.Errorf("subscribe to cache invalidations: %w", err)
	}
	if cfg.RedisURL != "" {
		if s.Redis, err = p.connectRedis(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.EncryptionKey != nil {
		if s.Box, err = secretbox.New(cfg.EncryptionKey); err != nil {
			return nil, fmt.Errorf("FLUXHOOK_ENCRYPTION_KEY: %w", err)
		}
		s.Webhooks = webhooks.New(db, s.Box, s.Policy, nil, s.Bus, nil)
	}
	return s, nil
}

const consumerLookupTimeout = 5 * time.Second

// connectRedis returns a client for FLUXHOOK_REDIS_URL with short
// timeouts, Redis sitting on the request path, once Redis answers.
//
// Only start-up waits for Redis: a replica starting without it would
// limit on its own, unseen. A running one does not turn unready when
// Redis goes (no readiness check): its limiters fail open, or closed for
// logins, by design.
func (p *Process) connectRedis(ctx context.Context) (*redis.Client, error) {
	opts, err := redis.ParseURL(p.Config.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("FLUXHOOK_REDIS_URL: %w", err)
	}
	opts.DialTimeout = 500 * time.Millisecond
	opts.ReadTimeout = 200 * time.Millisecond
	opts.WriteTimeout = 200 * time.Millisecond
	opts.PoolTimeout = 200 * time.Millisecond
	opts.MaxRetries = 0
	// Without this go-redis ignores context deadlines on socket I/O, and
	// the limiter's 50 ms budget becomes the 200 ms read timeout.
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	p.OnClose(func() { rdb.Close() })
	err = p.await(ctx, "Redis", never, func(ctx context.Context) error {
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("FLUXHOOK_REDIS_URL: %w", err)
		}
		return nil
	})
	return rdb, err
}
