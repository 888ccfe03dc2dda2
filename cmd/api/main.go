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
		return process.ServeRoles(ctx, "api", cfg, stderr, func(ctx context.Context, p *process.Process, s *process.Shared) error {
			_, err := p.AddAPI(ctx, s, process.APIOptions{})
			return err
		})
	})
}
