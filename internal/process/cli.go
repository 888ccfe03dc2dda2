package process

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

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

// Start handles what every binary's run does first: it stops ctx on
// SIGINT or SIGTERM, loads the configuration, and answers the
// subcommands every binary has ("migrate", "version", "help"). It
// returns done=true when the subcommand was handled.
func Start(ctx context.Context, name string, args []string, getenv func(string) string, stdout io.Writer) (context.Context, context.CancelFunc, config.Config, bool, error) {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
	case "version", "--version":
		fmt.Fprintf(stdout, "%s %s\n", name, Version)
		return ctx, stop, config.Config{}, true, nil
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, "usage: %s [serve|migrate|version]\n\nConfiguration comes from FLUXHOOK_* environment variables; see the README.\n", name)
		return ctx, stop, config.Config{}, true, nil
	case "migrate":
	default:
		stop()
		return ctx, stop, config.Config{}, true, fmt.Errorf("unknown command %q: want serve, migrate or version", cmd)
	}
	if len(args) > 1 {
		stop()
		return ctx, stop, config.Config{}, true, fmt.Errorf("unexpected arguments %q", strings.Join(args[1:], " "))
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		stop()
		return ctx, stop, cfg, true, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cmd == "migrate" {
		defer stop()
		return ctx, stop, cfg, true, Migrate(ctx, cfg, stdout)
	}
	return ctx, stop, cfg, false, nil
}

// Migrate applies the database migrations and reports what it did: the
// Kubernetes migration Job runs it before new pods roll out.
func Migrate(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		return fmt.Errorf("FLUXHOOK_DATABASE_URL: %w", err)
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}
