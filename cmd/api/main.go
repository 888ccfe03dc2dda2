// Command api serves Fluxhook's management API: users and sign-in, client
// keys, webhooks, invitations and event ingestion. Run several replicas
// behind a Service; `api migrate` applies the database migrations.
package main

import (
	"context"
	"io"

	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/process"
)

func main() { process.Main("api", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return process.Serve(ctx, "api", args, getenv, stdout, func(ctx context.Context, cfg config.Config) error {
		p := process.New("api", cfg, stderr)
		defer p.Close()
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
		if _, err := p.AddAPI(ctx, shared, process.APIOptions{}); err != nil {
			return err
		}
		if _, err := p.ServeAdmin(); err != nil {
			return err
		}
		return p.Run(ctx)
	})
}
