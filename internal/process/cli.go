package process

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Main is what every binary's main calls: it runs run with the process's
// real arguments, environment and streams, and exits 1 on error.
func Main(name string, run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error) {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Serve is what every binary's run does: it answers the subcommands
// every binary has ("migrate", "version", "help"), loads the
// configuration, and for "serve" (the default) calls serve with a
// context that ends on SIGINT or SIGTERM.
func Serve(ctx context.Context, name string, args []string, getenv func(string) string, stdout io.Writer,
	serve func(ctx context.Context, cfg config.Config) error) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve", "migrate":
	case "version", "--version":
		fmt.Fprintf(stdout, "%s %s\n", name, Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, "usage: %s [serve|migrate|version]\n\nConfiguration comes from FLUXHOOK_* environment variables; see the README.\n", name)
		return nil
	default:
		return fmt.Errorf("unknown command %q: want serve, migrate or version", cmd)
	}
	if len(args) > 1 {
		return fmt.Errorf("unexpected arguments %q", strings.Join(args[1:], " "))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cmd == "serve" {
		if err := cfg.Require(name); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "migrate" {
		return Migrate(ctx, cfg, stdout)
	}
	return serve(ctx, cfg)
}

// Migrate applies the database migrations and reports what it did: the
// Kubernetes migration Job runs it before new pods roll out, often while
// PostgreSQL is still starting, so a database that is not there yet is
// waited for (with backoff, each wait reported) for up to migrateWait;
// a URL that does not parse or refused credentials end it at once.
func Migrate(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	b := awaitBackoff(migrateWait)
	permanent := permanentDB(!cfg.IsPostgres())
	var applied []string
	err := backoff.RetryNotify(func() error {
		tctx, cancel := context.WithTimeout(ctx, awaitTryTimeout)
		defer cancel()
		db, err := store.Open(tctx, cfg.DatabaseURL, store.Options{})
		if err == nil {
			applied, err = db.Migrate(tctx)
			db.Close()
		}
		if err != nil && (ctx.Err() != nil || permanent(err)) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		fmt.Fprintf(stdout, "waiting for the database (retry in %v): %v\n", wait.Round(time.Millisecond), forOperators(err))
	})
	if err != nil {
		return fmt.Errorf("FLUXHOOK_DATABASE_URL: migrate: %w", forOperators(err))
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}

// migrateWait bounds how long migrate waits for the database: past it
// the Job fails and Kubernetes' own retries take over.
const migrateWait = 5 * time.Minute

// ServeRoles is what api, dispatcher and worker do on "serve": serve the
// admin port, then open the database, connect to FLUXHOOK_NATS_URL,
// share them (each waited for while it is not there, the process alive
// and unready meanwhile), let add put the binary's roles on the process,
// and run until ctx ends.
func ServeRoles(ctx context.Context, name string, cfg config.Config, stderr io.Writer, add func(ctx context.Context, p *Process, s *Shared) error) error {
	p := New(name, cfg, stderr)
	defer p.Close()
	if _, err := p.ServeAdmin(); err != nil {
		return err
	}
	return p.Run(ctx, func(ctx context.Context) error {
		db, err := p.OpenDB(ctx)
		if err != nil {
			return err
		}
		nc, err := p.ConnectNATS(ctx)
		if err != nil {
			return err
		}
		shared, err := p.Share(ctx, db, nc)
		if err != nil {
			return err
		}
		return add(ctx, p, shared)
	})
}
