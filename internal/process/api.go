package process

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/clientkey"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/httpapi"
	"github.com/fluxhook/fluxhook/internal/lifecycle"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/relay"
	"github.com/fluxhook/fluxhook/internal/replay"
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
func (p *Process) AddAPI(ctx context.Context, s *Shared, o APIOptions) (*API, error) {
	cfg := p.Config
	if s.Webhooks == nil {
		return nil, errors.New("FLUXHOOK_ENCRYPTION_KEY: required: the api seals webhook secrets")
	}
	tokens, err := auth.NewTokens(cfg.JWTSecret, "fluxhook", cfg.AccessTokenTTL, time.Now)
	if err != nil {
		return nil, fmt.Errorf("FLUXHOOK_JWT_SECRET: %w", err)
	}
	var sender account.Sender
	if cfg.SMTPURL != nil {
		smtp, err := mail.NewSMTP(cfg.SMTPURL, "")
		if err != nil {
			return nil, fmt.Errorf("FLUXHOOK_SMTP_URL: %w", err)
		}
		sender = smtp
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

	accounts := account.New(account.Deps{DB: s.DB, Hasher: auth.NewHasher(auth.DefaultParams()), Tokens: tokens, Mail: mq,
		Sender: sender, SMTP: cfg.SMTPURL != nil, Box: s.Box, Bus: s.Bus, Logger: p.Logger},
		account.Config{PublicURL: cfg.PublicURL, RefreshTTL: cfg.RefreshTokenTTL, MinPassword: cfg.MinPasswordLength})
	keys := clientkey.New(s.DB, s.Bus, nil)
	p.Add("clientkey-usage", keys)
	if cfg.AdminEmail != "" {
		created, err := accounts.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword)
		if err != nil {
			return nil, fmt.Errorf("create the admin from FLUXHOOK_ADMIN_EMAIL: %w", err)
		}
		if created {
			p.Logger.Info("dashboard admin created", "email", cfg.AdminEmail)
		}
	}

	var authLimiter, keyLimiter ratelimit.Limiter = ratelimit.NewLocal(time.Now), ratelimit.NewLocal(time.Now)
	if s.Redis != nil {
		redisLimiter := ratelimit.NewRedis(s.Redis, "fluxhook:rl:", 0)
		// Login limits fail closed: a Redis outage must not open the
		// door to password guessing. They wait up to a second for Redis,
		// not the 50 ms of the limiter in front of every request: a
		// sign-in can afford it, and a slow answer (a loaded machine, a
		// failover) must not turn a correct password away with 429.
		authLimiter = ratelimit.NewFailClosed(ratelimit.NewRedis(s.Redis, "fluxhook:rl:", time.Second), 10*time.Second)
		// Key limits fail open to this replica's own limiter: a Redis
		// outage must not take the API down. Said once a minute.
		logEvery := ratelimit.NewLocal(time.Now)
		keyLimiter = ratelimit.NewFailOpen(redisLimiter, keyLimiter, func(err error) {
			if d, _ := logEvery.Allow(context.Background(), "log", ratelimit.PerMinute(1)); d.Allowed {
				p.Logger.Warn("Redis rate limiter unreachable; client key limits fall back to this replica's own", "err", err)
			}
		})
	}
	authLimiter = ratelimit.Instrument(authLimiter, s.RateMetrics, "auth_ip")
	keyLimiter = ratelimit.Instrument(keyLimiter, s.RateMetrics, "client_key")

	manual := delivery.NewManual(outbound.NewClient(s.Policy, outbound.ClientOptions{Timeout: cfg.DeliveryTimeout, UserAgent: s.UserAgent}),
		s.UserAgent, s.DB, s.Publisher)
	p.housekeeping("prune-tokens", 10*time.Minute, func(ctx context.Context, n int) (int64, error) {
		return s.DB.DeleteExpiredTokens(ctx, time.Now(), n)
	})
	p.Add("outbox-relay", relay.New(s.DB, s.Publisher, p.Logger, relay.NewMetrics(p.Registry), relay.Options{}))

	api := httpapi.New(httpapi.Deps{Accounts: accounts, Keys: keys, Webhooks: s.Webhooks, KeyLimiter: keyLimiter,
		Tokens: tokens, AuthLimiter: authLimiter, Logger: p.Logger, Registry: p.Registry, Events: s.Publisher,
		Deliveries: manual, Attempts: s.DB,
		Replays: replay.NewService(s.DB, func(ctx context.Context) (time.Time, bool, error) { return events.EventsKept(ctx, s.JetStream) },
			cfg.EventRetention, nil)},
		httpapi.Options{MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies, AuthRateLimit: cfg.AuthRateLimit, CORSOrigins: []string{"*"}, UserAgent: s.UserAgent, PublicURL: cfg.PublicURL,
			// A webhook test waits for the endpoint up to the delivery
			// timeout and reports a slow one itself.
			RequestTimeout: max(httpapi.DefaultRequestTimeout, cfg.DeliveryTimeout+5*time.Second)})
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
