// Command dispatcher consumes events from JetStream and fans each out to
// one delivery job per subscribed webhook. Replicas share one durable
// consumer.
package main

import (
	"context"
	"io"

	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/process"
)

func main() { process.Main("dispatcher", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return process.Serve(ctx, "dispatcher", args, getenv, stdout, func(ctx context.Context, cfg config.Config) error {
		return process.ServeRoles(ctx, "dispatcher", cfg, stderr, func(ctx context.Context, p *process.Process, s *process.Shared) error {
			return p.AddDispatcher(ctx, s)
		})
	})
}
