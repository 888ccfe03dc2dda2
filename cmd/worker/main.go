// Command worker consumes delivery jobs from JetStream: it signs each
// delivery, POSTs it, records the attempt and schedules the retry.
// Replicas share one durable consumer and scale on its lag.
package main

import (
	"context"
	"errors"
	"io"

	"github.com/fluxhook/fluxhook/internal/process"
)

func main() { process.Main("worker", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop, cfg, done, err := process.Start(ctx, "worker", args, getenv, stdout)
	defer stop()
	if done || err != nil {
		return err
	}
	if cfg.EncryptionKey == nil {
		return errors.New("FLUXHOOK_ENCRYPTION_KEY: required: the worker decrypts webhook secrets to sign deliveries")
	}
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
	if err := p.AddWorker(ctx, db, nc); err != nil {
		return err
	}
	if _, err := p.ServeAdmin(); err != nil {
		return err
	}
	return p.Run(ctx)
}
