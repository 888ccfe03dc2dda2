package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

func TestStartsReportsReadyAndStops(t *testing.T) {
	nats := testenv.NATS(t)
	admin := testenv.FreeAddr(t)
	env := map[string]string{
		"FLUXHOOK_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "db"),
		"FLUXHOOK_NATS_URL":     nats.ClientURL(),
		"FLUXHOOK_ADMIN_ADDR":   admin,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard) }()
	testenv.WaitStatus(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestNeedsNATSURL(t *testing.T) {
	env := map[string]string{"FLUXHOOK_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "db")}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "FLUXHOOK_NATS_URL") {
		t.Fatalf("err = %v, want one naming FLUXHOOK_NATS_URL", err)
	}
}
