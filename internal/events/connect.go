package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

const (
	// dialTimeout bounds one attempt at one server, so one blackholed
	// address cannot use up the whole start-up deadline.
	dialTimeout = 2 * time.Second
	// retryWait is the pause between start-up attempts, so that a
	// process starting alongside its NATS server (as pods in a fresh
	// cluster do) waits for it rather than crash-looping.
	retryWait = time.Second
)

// Connect connects to the NATS servers in urls (comma-separated) as
// name, and checks that the server is MinServerVersion or newer.
//
// The first connection is retried until ctx ends, so give ctx a deadline:
// start-up then fails with the last connection error instead of running
// without NATS. Errors that retrying cannot fix (authorization, TLS
// mismatch, a bad URL, an old server) fail at once. Once connected, the
// connection reconnects forever; disconnections, reconnections and
// asynchronous errors are logged to logger (nil discards them).
func Connect(ctx context.Context, urls, name string, logger *slog.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	where := redactURLs(urls)
	var lastErr error
	for attempt := 1; ; attempt++ {
		nc, err := dial(ctx, urls, connOptions(name, logger))
		if err == nil {
			if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
				nc.Close()
				return nil, fmt.Errorf("connect to NATS at %s: %w", where, err)
			}
			return nc, nil
		}
		if ctx.Err() == nil || lastErr == nil {
			lastErr = err
		}
		if permanentDial(err) {
			return nil, fmt.Errorf("connect to NATS at %s: %w", where, err)
		}
		if ctx.Err() == nil {
			logger.Warn("NATS not reachable yet; retrying", "nats_url", where, "attempt", attempt, "err", err)
			sleep(ctx, retryWait)
		}
		if ctx.Err() != nil {
			if errors.Is(lastErr, context.Canceled) || errors.Is(lastErr, context.DeadlineExceeded) {
				return nil, fmt.Errorf("connect to NATS at %s: %w", where, lastErr)
			}
			return nil, fmt.Errorf("connect to NATS at %s: gave up after %d attempts (%v): %w", where, attempt, ctx.Err(), lastErr)
		}
	}
}

// dial makes one connection attempt that returns when ctx ends, even if
// nats.Connect (which takes no context) is still waiting on a server.
func dial(ctx context.Context, urls string, opts []nats.Option) (*nats.Conn, error) {
	timeout := dialTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if timeout <= 0 || ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(urls, append(opts, nats.Timeout(timeout))...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		return r.nc, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// Dial makes one attempt at what Connect retries: a connection to the
// NATS servers in urls as name, to a server MinServerVersion or newer.
// It returns when ctx ends. Permanent tells the errors that another
// attempt would meet again.
func Dial(ctx context.Context, urls, name string, logger *slog.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	nc, err := dial(ctx, urls, connOptions(name, logger))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURLs(urls), err)
	}
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURLs(urls), err)
	}
	return nc, nil
}

// permanentDial reports errors that the same attempt a second later
// would meet again.
func permanentDial(err error) bool {
	var urlErr *url.Error
	return errors.Is(err, nats.ErrAuthorization) ||
		errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) ||
		errors.Is(err, nats.ErrAccountAuthExpired) ||
		errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrSecureConnWanted) ||
		errors.Is(err, ErrServerTooOld) ||
		errors.As(err, &urlErr)
}

// ConnectEmbedded connects in-process to the server StartEmbedded
// returned, without TCP, with the same options and logging as Connect.
func ConnectEmbedded(s *server.Server, name string, logger *slog.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := append(connOptions(name, logger), nats.InProcessServer(s), nats.Timeout(dialTimeout))
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	return nc, nil
}

func connOptions(name string, logger *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		// Once up, a process outlives any NATS outage: giving up would
		// leave it running but deaf, and only readiness would tell.
		nats.MaxReconnects(-1),
		nats.ReconnectWait(retryWait),
		// Jitter spreads the reconnects of many replicas after a NATS
		// restart.
		nats.ReconnectJitter(500*time.Millisecond, time.Second),
		// The default (2 minutes, 2 missed pongs) takes minutes to notice
		// a server that vanished without closing the connection; 20 s and
		// 3 still took over a minute, and make chaos's nats-partition (the
		// DELIVERIES leader frozen for 30 s) saw deliveries stop for the
		// whole freeze while the other two servers carried on. A ping
		// every 5 s, two missed, moves to another server within 15 s.
		nats.PingInterval(5 * time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("NATS reconnected", "nats_url", nc.ConnectedUrlRedacted())
		}),
		nats.ReconnectErrHandler(func(nc *nats.Conn, err error) {
			logger.Debug("NATS reconnect attempt failed", "err", err)
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				logger.Error("NATS connection closed", "err", err)
				return
			}
			logger.Debug("NATS connection closed")
		}),
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			logger.Info("NATS server entering lame duck mode; will move to another", "nats_url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				logger.Error("NATS asynchronous error", "subject", sub.Subject, "err", err)
				return
			}
			logger.Error("NATS asynchronous error", "err", err)
		}),
	}
}

// redactURLs hides passwords and tokens in a comma-separated URL list,
// since it ends up in logs and errors.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil:
			parts[i] = "(unparseable URL)"
		case u.User != nil:
			// A NATS token sits where a user name would, so the whole
			// user info goes.
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		default:
			parts[i] = p
		}
	}
	return strings.Join(parts, ",")
}
