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
		p := process.New("worker", cfg, stderr)
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
		if err := p.AddWorker(ctx, shared); err != nil {
			return err
		}
		if _, err := p.ServeAdmin(); err != nil {
			return err
		}
		return p.Run(ctx)
	})
}
