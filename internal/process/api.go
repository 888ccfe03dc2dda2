package process

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/httpapi"
	"github.com/fluxhook/fluxhook/internal/lifecycle"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/relay"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// APIOptions are what differs between the api binary and the all-in-one.
type APIOptions struct {
	// LogMailBodies logs the text of mails (with their one-time links)
	// when no SMTP server is configured: useful on a laptop, a leak in
	// production.
	LogMailBodies bool
}

// API is the management API role: the HTTP server and its services.
type API struct {
	Accounts *account.Service
	Listener net.Listener
}

// AddAPI adds the HTTP API to p: it listens on FLUXHOOK_HTTP_ADDR and
// creates the bootstrap admin from configuration.
func (p *Process) AddAPI(ctx context.Context, db *store.DB, nc *nats.Conn, o APIOptions) (*API, error) {
	cfg := p.Config
	box, err := secretbox.New(cfg.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("FLUXHOOK_ENCRYPTION_KEY: %w", err)
	}
	bus, err := p.Bus(nc)
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(cfg.JWTSecret, "fluxhook", cfg.AccessTokenTTL, time.Now)
	if err != nil {
		return nil, fmt.Errorf("FLUXHOOK_JWT_SECRET: %w", err)
	}
	var sender account.Sender
	if cfg.SMTPURL != nil {
		s, err := mail.NewSMTP(cfg.SMTPURL, "")
		if err != nil {
			return nil, fmt.Errorf("FLUXHOOK_SMTP_URL: %w", err)
		}
		sender = s
	} else {
		p.Logger.Warn("FLUXHOOK_SMTP_URL is not set: mails are logged, not sent")
		sender = mail.NewLog(p.Logger, o.LogMailBodies)
	}
	mq := account.NewMailQueue(sender, p.Logger, 1000)
	p.OnClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		mq.Close(ctx)
	})

	accounts := account.New(account.Deps{DB: db, Hasher: auth.NewHasher(auth.DefaultParams()), Tokens: tokens, Mail: mq,
		Sender: sender, SMTP: cfg.SMTPURL != nil, Box: box, Bus: bus, Logger: p.Logger},
		account.Config{PublicURL: cfg.PublicURL, RefreshTTL: cfg.RefreshTokenTTL, MinPassword: cfg.MinPasswordLength})
	keys := clientkey.New(db, bus, nil)
	p.Add("clientkey-usage", keys)
	hooks := webhooks.New(db, box, outbound.Policy{AllowInsecure: cfg.AllowInsecureTargets, AllowPrivate: cfg.AllowPrivateTargets, AllowedCIDRs: cfg.AllowedTargetCIDRs}, nil, bus, nil)
	if cfg.AdminEmail != "" {
		created, err := accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
		if err != nil {
			return nil, fmt.Errorf("create the admin from FLUXHOOK_ADMIN_EMAIL: %w", err)
		}
		if created {
			p.Logger.Info("dashboard admin created", "email", cfg.AdminEmail)
		}
	}

	rlMetrics := p.rateMetrics()
	var authLimiter, keyLimiter ratelimit.Limiter = ratelimit.NewLocal(time.Now), ratelimit.NewLocal(time.Now)
	if cfg.RedisURL != "" {
		rdb, err := p.Redis()
		if err != nil {
			return nil, err
		}
		redisLimiter := ratelimit.NewRedis(rdb, "fluxhook:rl:", 0)
		// Login limits fail closed: a Redis outage must not open the
		// door to password guessing.
		authLimiter = ratelimit.NewFailClosed(redisLimiter, 10*time.Second)
		// Key limits fail open to this replica's own limiter: a Redis
		// outage must not take the API down. Said once a minute.
		logEvery := ratelimit.NewLocal(time.Now)
		keyLimiter = ratelimit.NewFailOpen(redisLimiter, keyLimiter, func(err error) {
			if d, _ := logEvery.Allow(context.Background(), "log", ratelimit.PerMinute(1)); d.Allowed {
				p.Logger.Warn("Redis rate limiter unreachable; client key limits fall back to this replica's own", "err", err)
			}
		})
	}
	authLimiter = ratelimit.Instrument(authLimiter, rlMetrics, "auth_ip")
	keyLimiter = ratelimit.Instrument(keyLimiter, rlMetrics, "client_key")

	// The api publishes events (the outbox, POST /events) and jobs (manual
	// retries), so it sets up the streams like every role.
	_, pub, err := p.JetStream(ctx, nc)
	if err != nil {
		return nil, err
	}
	policy := outbound.Policy{AllowInsecure: cfg.AllowInsecureTargets, AllowPrivate: cfg.AllowPrivateTargets, AllowedCIDRs: cfg.AllowedTargetCIDRs}
	manual := delivery.NewManual(outbound.NewClient(policy, outbound.ClientOptions{Timeout: cfg.DeliveryTimeout, UserAgent: "Fluxhook/" + Version}),
		"Fluxhook/"+Version, db, pub)
	p.housekeeping("prune-tokens", 10*time.Minute, func(ctx context.Context, n int) (int64, error) {
		return db.DeleteExpiredTokens(ctx, time.Now(), n)
	})
	p.Add("outbox-relay", relay.New(db, pub, p.Logger, relay.NewMetrics(p.Registry), relay.Options{}))

	api := httpapi.New(httpapi.Deps{Accounts: accounts, Keys: keys, Webhooks: hooks, KeyLimiter: keyLimiter,
		Tokens: tokens, AuthLimiter: authLimiter, Logger: p.Logger, Registry: p.Registry, Events: pub,
		Deliveries: manual, Attempts: db},
		httpapi.Options{MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies, AuthRateLimit: cfg.AuthRateLimit, CORSOrigins: []string{"*"}})
	ln, err := lifecycle.Listen(cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("FLUXHOOK_HTTP_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    httpapi.ServerMaxHeaderBytes, // the API answers 431 itself above httpapi.MaxHeaderBytes
		ErrorLog:          nil,
	}
	p.Add("http", lifecycle.HTTPServer(srv, ln, cfg.ShutdownTimeout))
	return &API{Accounts: accounts, Listener: ln}, nil
}

// Redis returns the process's Redis client (one per process), with
// short timeouts: Redis sits on the request path.
func (p *Process) Redis() (*redis.Client, error) {
	if p.redis != nil {
		return p.redis, nil
	}
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
	p.redis = redis.NewClient(opts)
	p.OnClose(func() { p.redis.Close() })
	return p.redis, nil
}
