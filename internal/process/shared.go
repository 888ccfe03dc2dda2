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
	Publisher *events.Publisher
	Bus       cachebus.Bus
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
// role's process does it with the same settings, and they are checked
// against what the server keeps), the publisher, the cache invalidation
// bus, Redis, the secrets' box and the webhooks service.
func (p *Process) Share(ctx context.Context, db *store.DB, nc *nats.Conn) (*Shared, error) {
	cfg := p.Config
	s := &Shared{DB: db, NATS: nc, UserAgent: "Fluxhook/" + Version, RateMetrics: ratelimit.NewMetrics(p.Registry),
		Policy: outbound.Policy{AllowInsecure: cfg.AllowInsecureTargets, AllowPrivate: cfg.AllowPrivateTargets, AllowedCIDRs: cfg.AllowedTargetCIDRs}}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := events.EnsureStreams(sctx, js, events.StreamsConfig{Replicas: cfg.StreamReplicas}); err != nil {
		return nil, fmt.Errorf("JetStream streams: %w", err)
	}
	if err := events.EnsureConsumers(sctx, js, events.ConsumersConfig{WorkerAckWait: cfg.WorkerAckWait}); err != nil {
		return nil, fmt.Errorf("JetStream consumers: %w", err)
	}
	if s.Publisher, err = events.NewPublisher(nc, events.PublisherOptions{}); err != nil {
		return nil, err
	}
	s.JetStream = js
	if s.Bus, err = cachebus.NewNATS(nc); err != nil {
		return nil, fmt.Errorf("subscribe to cache invalidations: %w", err)
	}
	if cfg.RedisURL != "" {
		if s.Redis, err = p.connectRedis(); err != nil {
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

// connectRedis returns a client for FLUXHOOK_REDIS_URL with short
// timeouts: Redis sits on the request path.
func (p *Process) connectRedis() (*redis.Client, error) {
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
	return rdb, nil
}
