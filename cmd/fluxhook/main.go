// Command fluxhook runs all of Fluxhook in one process on embedded
// defaults: NATS JetStream in-process, SQLite and the in-process rate
// limiter, with its data under ./data. `make run` starts it on a machine
// with nothing else installed.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/process"
	"github.com/nats-io/nats.go"
)

func main() { process.Main("fluxhook", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return process.Serve(ctx, "fluxhook", args, getenv, stdout, func(ctx context.Context, cfg config.Config) error {
		return serve(ctx, cfg, getenv, stdout, stderr)
	})
}

func serve(ctx context.Context, cfg config.Config, getenv func(string) string, stdout, stderr io.Writer) error {
	if _, err := cfg.EnsureLocalSecrets(); err != nil {
		return err
	}
	generated, err := cfg.EnsureLocalAdmin()
	if err != nil {
		return err
	}

	p := process.New("fluxhook", cfg, stderr)
	defer p.Close()
	admin, err := p.ServeAdmin()
	if err != nil {
		return err
	}
	return p.Run(ctx, func(ctx context.Context) error {
		db, err := p.OpenDB(ctx)
		if err != nil {
			return err
		}
		// Embedded NATS unless FLUXHOOK_NATS_URL names a server to use
		// instead (a cluster, say).
		natsDesc := "embedded NATS"
		var nc *nats.Conn
		if cfg.NATSURL != "" {
			natsDesc = "NATS at FLUXHOOK_NATS_URL"
			nc, err = p.ConnectNATS(ctx)
		} else {
			nc, err = p.StartNATS(ctx, filepath.Join(cfg.DataDir, "nats"), getenv("FLUXHOOK_NATS_LISTEN"))
		}
		if err != nil {
			return err
		}
		shared, err := p.Share(ctx, db, nc)
		if err != nil {
			return err
		}
		api, err := p.AddAPI(ctx, shared, process.APIOptions{LogMailBodies: true})
		if err != nil {
			return err
		}
		if err := p.AddDispatcher(ctx, shared); err != nil {
			return err
		}
		if err := p.AddWorker(ctx, shared); err != nil {
			return err
		}

		fmt.Fprintf(stdout, "Fluxhook %s is running (all-in-one: %s, %s, local rate limiter)\n", process.Version, natsDesc, db.Driver())
		fmt.Fprintf(stdout, "  Dashboard: %s/   (sign in as the dashboard admin below)\n", cfg.PublicURL)
		fmt.Fprintf(stdout, "  API:      %s/api/v1   (listening on %s)\n", cfg.PublicURL, api.Listener.Addr())
		fmt.Fprintf(stdout, "  Admin:    http://%s/metrics  /healthz  /readyz\n", hostPort(admin.Addr()))
		fmt.Fprintf(stdout, "  Data:     %s\n", cfg.DataDir)
		if generated {
			fmt.Fprintf(stdout, "  Dashboard admin: %s  password: %s  (generated; kept in %s)\n", cfg.AdminEmail, cfg.AdminPassword,
				filepath.Join(cfg.DataDir, config.AdminPasswordFile))
		} else {
			fmt.Fprintf(stdout, "  Dashboard admin: %s  (password from FLUXHOOK_ADMIN_PASSWORD)\n", cfg.AdminEmail)
		}
		fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
		return nil
	})
}

// hostPort makes a wildcard listen address clickable.
func hostPort(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
