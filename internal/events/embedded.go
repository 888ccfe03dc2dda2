package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedReadyTimeout bounds the embedded server's start, which includes
// recovering its JetStream store after a crash.
const embeddedReadyTimeout = 10 * time.Second

// EmbeddedOptions configures the all-in-one process's NATS server.
type EmbeddedOptions struct {
	// StoreDir holds the JetStream data; required.
	StoreDir string
	// Listen is "" for no TCP listener at all (clients connect in
	// process with ConnectEmbedded), or host:port to also let outside
	// clients (the nats CLI, say) in; port 0 picks a free port, readable
	// from the server's ClientURL.
	Listen string
	// MaxPayload is the largest message in bytes; 0 keeps the server's
	// default of 1 MiB. Raise it when events may be larger.
	MaxPayload int32
	// Logger receives the server's warnings and errors (and its notices
	// at debug level); nil discards them.
	Logger *slog.Logger
	// SyncInterval, when positive, syncs JetStream's files every interval
	// instead of on every write: far faster on a disk with slow fsync,
	// durable against the process dying but not against a power cut
	// within the interval. 0 keeps the default, a sync on every write.
	SyncInterval time.Duration
}

// StartEmbedded starts a NATS server with JetStream inside the process
// and waits until it accepts connections. JetStream syncs every write to
// disk before acknowledging it: the all-in-one runs on one machine with
// no replicas, so an acknowledged event must survive a power cut on its
// own. The caller stops the server with Shutdown and WaitForShutdown,
// after closing its connections.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	if opts.StoreDir == "" {
		return nil, errors.New("embedded NATS: a store directory is required")
	}
	sopts := &server.Options{
		ServerName: "fluxhook-embedded",
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		SyncAlways: opts.SyncInterval <= 0,
		MaxPayload: opts.MaxPayload,
		// The process owns its signals; the server must not react to them.
		NoSigs: true,
		// Logging goes through SetLoggerV2 below, never to stderr.
		NoLog: true,
	}
	if opts.SyncInterval > 0 {
		sopts.SyncInterval = opts.SyncInterval
	}
	if opts.Listen == "" {
		sopts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: listen address %q: %w", opts.Listen, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: listen address %q: bad port", opts.Listen)
		}
		sopts.Host = host
		sopts.Port = int(p)
		if p == 0 {
			// To nats-server, port 0 means its default 4222.
			sopts.Port = server.RANDOM_PORT
		}
	}

	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	logs := &serverLogger{logger: opts.Logger}
	s.SetLoggerV2(logs, false, false, false)

	go s.Start()
	// Polled in short steps so that a fatal start-up error (a busy port,
	// an unusable store) fails at once instead of after the timeout.
	deadline := time.Now().Add(embeddedReadyTimeout)
	for !s.ReadyForConnections(50 * time.Millisecond) {
		if fatal := logs.fatal(); fatal != "" {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS: %s", fatal)
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS: not ready after %s", embeddedReadyTimeout)
		}
	}
	if !s.JetStreamEnabled() {
		msg := logs.fatal()
		s.Shutdown()
		if msg == "" {
			msg = "JetStream did not start"
		}
		return nil, fmt.Errorf("embedded NATS: %s", msg)
	}
	return s, nil
}

// serverLogger routes the server's log to slog and remembers the first
// fatal error: nats-server reports start-up failures by logging them.
type serverLogger struct {
	logger *slog.Logger

	mu         sync.Mutex
	firstFatal string
}

func (l *serverLogger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstFatal
}

func (l *serverLogger) log(level slog.Level, format string, v []any) {
	if l.logger != nil {
		l.logger.Log(context.Background(), level, fmt.Sprintf(format, v...), "component", "nats-server")
	}
}

// Notices (the start-up banner, mostly) are debug output to Fluxhook:
// the all-in-one's log should be about Fluxhook unless something is wrong.
func (l *serverLogger) Noticef(format string, v ...any) { l.log(slog.LevelDebug, format, v) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log(slog.LevelWarn, format, v) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.log(slog.LevelError, format, v) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log(slog.LevelDebug, format, v) }
func (l *serverLogger) Tracef(format string, v ...any)  { l.log(slog.LevelDebug, format, v) }

// Fatalf does not exit, unlike the server's own logger: the process
// decides, through StartEmbedded's error.
func (l *serverLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.firstFatal == "" {
		l.firstFatal = msg
	}
	l.mu.Unlock()
	l.log(slog.LevelError, "%s", []any{msg})
}
