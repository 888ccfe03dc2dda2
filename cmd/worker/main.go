// Command worker consumes delivery jobs from JetStream: it signs each
// delivery, POSTs it, records the attempt and schedules the retry.
// Replicas share one durable consumer and scale on its lag.
package main

import (
	"context"
	"io"

	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/process"
)

func main() { process.Main("worker", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return process.Serve(ctx, "worker", args, getenv, stdout, func(ctx context.Context, cfg config.Config) error {
		return process.ServeRoles(ctx, "worker", cfg, stderr, func(ctx context.Context, p *process.Process, s *process.Shared) error {
			return p.AddWorker(ctx, s)
		})
	})
}
