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

	"github.com/fluxhook/fluxhook/internal/process"
	"github.com/nats-io/nats.go"
)

func main() { process.Main("fluxhook", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop, cfg, done, err := process.Start(ctx, "fluxhook", args, getenv, stdout)
	defer stop()
	if done || err != nil {
		return err
	}
	if _, err := cfg.EnsureLocalSecrets(); err != nil {
		return err
	}
	email, password, generated, err := process.LocalAdmin(cfg.DataDir, cfg.AdminEmail, cfg.AdminPassword)
	if err != nil {
		return err
	}
	cfg.AdminEmail, cfg.AdminPassword = email, password

	p := process.New("fluxhook", cfg, stderr)
	defer p.Close()
	db, err := p.OpenDB(ctx)
	if err != nil {
		return err
	}
	// Embedded NATS unless FLUXHOOK_NATS_URL names a server to use instead
	// (a cluster, say).
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
	api, err := p.AddAPI(ctx, db, nc, process.APIOptions{LogMailBodies: true})
	if err != nil {
		return err
	}
	if err := p.AddDispatcher(ctx, db, nc); err != nil {
		return err
	}
	if err := p.AddWorker(ctx, db, nc); err != nil {
		return err
	}
	admin, err := p.ServeAdmin()
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Fluxhook %s is running (all-in-one: %s, %s, local rate limiter)\n", process.Version, natsDesc, db.Driver())
	fmt.Fprintf(stdout, "  API:      %s/api/v1   (listening on %s)\n", cfg.PublicURL, api.Listener.Addr())
	fmt.Fprintf(stdout, "  Admin:    http://%s/metrics  /healthz  /readyz\n", hostPort(admin.Addr()))
	fmt.Fprintf(stdout, "  Data:     %s\n", cfg.DataDir)
	if generated {
		fmt.Fprintf(stdout, "  Dashboard admin: %s  password: %s  (generated; kept in %s)\n", email, password, filepath.Join(cfg.DataDir, "admin-password"))
	} else {
		fmt.Fprintf(stdout, "  Dashboard admin: %s  (password from FLUXHOOK_ADMIN_PASSWORD)\n", email)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	return p.Run(ctx)
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
