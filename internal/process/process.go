// Package process assembles Fluxhook's processes from their parts: the
// configuration, logger, metrics registry, health checks and admin port
// every binary has, and the API, dispatcher and worker roles that
// cmd/api, cmd/dispatcher, cmd/worker and the all-in-one cmd/fluxhook
// combine. It is the only place where adapters meet.
package process

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/lifecycle"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Version is the build's version, set with -ldflags.
var Version = "dev"

// Process is one running binary: its components and what they share.
type Process struct {
	Name     string
	Config   config.Config
	Logger   *slog.Logger
	Registry *prometheus.Registry
	Health   *lifecycle.Health

	// exclusiveNATS: NATS is embedded without a listener, so nothing but
	// this process publishes to it (events.StreamsConfig.EventsExclusive).
	exclusiveNATS bool

	components []lifecycle.Named
	closers    []func()
}

// New returns a Process for the named binary, logging to w.
func New(name string, cfg config.Config, w io.Writer) *Process {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if cfg.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "fluxhook_build_info",
		Help:        "Always 1; labels carry the build.",
		ConstLabels: prometheus.Labels{"version": Version, "component": name},
	}, func() float64 { return 1 }))
	return &Process{Name: name, Config: cfg, Logger: slog.New(h).With("component", name), Registry: reg, Health: lifecycle.NewHealth()}
}

// Add adds a component to run.
func (p *Process) Add(name string, c lifecycle.Component) {
	p.components = append(p.components, lifecycle.Named{Name: name, Component: c})
}

// OnClose registers cleanup to run after every component has stopped,
// in reverse order of registration.
func (p *Process) OnClose(fn func()) { p.closers = append(p.closers, fn) }

// Close runs the cleanups.
func (p *Process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// OpenDB opens and migrates the database, waiting for PostgreSQL while
// it is not there, and adds its readiness check.
func (p *Process) OpenDB(ctx context.Context) (*store.DB, error) {
	var db *store.DB
	err := p.await(ctx, "the database", permanentDB(!p.Config.IsPostgres()), func(ctx context.Context) error {
		d, err := store.Open(ctx, p.Config.DatabaseURL, store.Options{})
		if err != nil {
			return fmt.Errorf("FLUXHOOK_DATABASE_URL: %w", forOperators(err))
		}
		applied, err := d.Migrate(ctx)
		if err != nil {
			d.Close()
			return fmt.Errorf("migrate database: %w", forOperators(err))
		}
		if len(applied) > 0 {
			p.Logger.Info("database migrated", "applied", applied, "driver", d.Driver())
		}
		db = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.OnClose(func() { db.Close() })
	p.Health.AddCheck("database", db.Ping)
	return db, nil
}

// ConnectNATS connects to FLUXHOOK_NATS_URL, waiting for NATS while it is
// not there, checks the server's version and adds its readiness check.
func (p *Process) ConnectNATS(ctx context.Context) (*nats.Conn, error) {
	if p.Config.NATSURL == "" {
		return nil, fmt.Errorf("FLUXHOOK_NATS_URL: required for %s (only the all-in-one fluxhook runs NATS embedded)", p.Name)
	}
	var nc *nats.Conn
	err := p.await(ctx, "NATS", events.Permanent, func(ctx context.Context) error {
		c, err := events.Dial(ctx, p.Config.NATSURL, "fluxhook-"+p.Name, p.Logger)
		if err != nil {
			return fmt.Errorf("FLUXHOOK_NATS_URL: %w", err)
		}
		nc = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.useNATS(nc)
	return nc, nil
}

func (p *Process) useNATS(nc *nats.Conn) {
	p.OnClose(func() {
		// Drain flushes what was published and lets subscriptions finish;
		// it is asynchronous, so wait for it before the server goes away.
		if err := nc.Drain(); err != nil {
			nc.Close()
			return
		}
		for deadline := time.Now().Add(10 * time.Second); !nc.IsClosed() && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		nc.Close()
	})
	p.Health.AddCheck("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("not connected (status %s)", nc.Status())
		}
		return nil
	})
}

// ServeAdmin listens on the admin address and adds the admin server.
func (p *Process) ServeAdmin() (net.Listener, error) {
	ln, err := lifecycle.Listen(p.Config.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("FLUXHOOK_ADMIN_ADDR: %w", err)
	}
	p.Add("admin", lifecycle.HTTPServer(lifecycle.AdminServer(p.Config.AdminAddr, p.Health, p.Registry), ln, 5*time.Second))
	return ln, nil
}

// Run serves what was added so far (the admin port) at once, then runs
// start, the process's start-up, which waits for the dependencies and
// adds the components that use them; once it has returned, the process
// is ready and those components run too, until ctx ends or one of them
// fails. Until then /readyz answers 503 with what start-up waits for;
// when shutdown begins, readiness turns false at once so that load
// balancers stop sending traffic while in-flight work finishes.
func (p *Process) Run(ctx context.Context, start func(ctx context.Context) error) error {
	first := append(p.components, lifecycle.Named{Name: "drain", Component: lifecycle.Func(func(ctx context.Context) error {
		<-ctx.Done()
		p.Health.Drain()
		return nil
	})})
	p.components = nil
	p.Logger.Info("starting", "version", Version)
	err := lifecycle.RunStarting(ctx, p.Logger, func(ctx context.Context) ([]lifecycle.Named, error) {
		if err := start(ctx); err != nil {
			return nil, err
		}
		p.Health.SetReady(true)
		p.Logger.Info("started", "version", Version)
		return p.components, nil
	}, first...)
	p.Logger.Info("stopped", "err", err)
	return err
}

// StartNATS starts the embedded NATS JetStream server storing in dir
// (listening on listen, or on no TCP port when it is empty) and connects
// to it in-process.
func (p *Process) StartNATS(ctx context.Context, dir, listen string) (*nats.Conn, error) {
	srv, err := events.StartEmbedded(events.EmbeddedOptions{StoreDir: dir, Listen: listen, Logger: p.Logger, SyncInterval: p.Config.NATSSyncInterval})
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS: %w", err)
	}
	p.OnClose(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	nc, err := events.ConnectEmbedded(srv, "fluxhook-"+p.Name, p.Logger)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	p.useNATS(nc)
	p.exclusiveNATS = listen == ""
	return nc, nil
}
