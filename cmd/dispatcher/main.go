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
		p := process.New("dispatcher", cfg, stderr)
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
		if err := p.AddDispatcher(ctx, shared); err != nil {
			return err
		}
		if _, err := p.ServeAdmin(); err != nil {
			return err
		}
		return p.Run(ctx)
	})
}
