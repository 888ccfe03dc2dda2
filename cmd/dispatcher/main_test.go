package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
	natsserver "github.com/nats-io/nats-server/v2/server"
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

// TestWaitsForLateNATS: started before its NATS server, the dispatcher
// stays alive and unready, saying why, instead of exiting; once NATS
// comes, it gets ready. Stopped while it waits, it exits cleanly.
func TestWaitsForLateNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a NATS server started late")
	}
	natsAddr, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
	host, port, _ := net.SplitHostPort(natsAddr)
	env := map[string]string{
		"FLUXHOOK_DATABASE_URL": "sqlite://" + filepath.Join(t.TempDir(), "db"),
		"FLUXHOOK_NATS_URL":     "nats://" + natsAddr,
		"FLUXHOOK_ADMIN_ADDR":   admin,
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, &logs) }()

	testenv.WaitStatus(t, "http://"+admin+"/healthz", 200, 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // a few tries
	res, err := http.Get("http://" + admin + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || !strings.Contains(string(body), "waiting for NATS") || !strings.Contains(string(body), natsAddr) {
		t.Errorf("/readyz without NATS = %d %s, want 503 saying it waits for NATS at %s", res.StatusCode, body, natsAddr)
	}
	select {
	case err := <-done:
		t.Fatalf("run returned without NATS: %v", err)
	default:
	}
	if !strings.Contains(logs.String(), "waiting for NATS") {
		t.Errorf("no log says what start-up waits for:\n%s", logs.String())
	}

	p, _ := strconv.Atoi(port)
	srv, err := natsserver.NewServer(&natsserver.Options{Host: host, Port: p, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	testenv.WaitStatus(t, "http://"+admin+"/readyz", 200, 30*time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestSaysWhichDependencyItWaitsFor: PostgreSQL, NATS and Redis not there
// at start are each waited for, alive, with /readyz naming the one.
func TestSaysWhichDependencyItWaitsFor(t *testing.T) {
	nats := testenv.NATS(t)
	closed := testenv.FreeAddr(t) // nothing listens there
	sqlite := "sqlite://" + filepath.Join(t.TempDir(), "db")
	tests := []struct {
		name, want string
		env        map[string]string
	}{
		{"PostgreSQL", "waiting for the database", map[string]string{
			"FLUXHOOK_DATABASE_URL": "postgres://fluxhook@" + closed + "/fluxhook?sslmode=disable", "FLUXHOOK_NATS_URL": nats.ClientURL()}},
		{"NATS", "waiting for NATS", map[string]string{
			"FLUXHOOK_DATABASE_URL": sqlite, "FLUXHOOK_NATS_URL": "nats://" + closed}},
		{"Redis", "waiting for Redis", map[string]string{
			"FLUXHOOK_DATABASE_URL": sqlite, "FLUXHOOK_NATS_URL": nats.ClientURL(), "FLUXHOOK_REDIS_URL": "redis://" + closed + "/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			admin := testenv.FreeAddr(t)
			tt.env["FLUXHOOK_ADMIN_ADDR"] = admin
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, func(k string) string { return tt.env[k] }, io.Discard, io.Discard) }()
			deadline := time.Now().Add(10 * time.Second)
			var last string
			for !strings.Contains(last, tt.want) {
				if time.Now().After(deadline) {
					t.Fatalf("/readyz never said %q; last: %s", tt.want, last)
				}
				time.Sleep(50 * time.Millisecond)
				res, err := http.Get("http://" + admin + "/readyz")
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 503 {
					t.Fatalf("/readyz = %d %s with %s not there, want 503", res.StatusCode, b, tt.name)
				}
				last = string(b)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("stopped while waiting for %s: %v, want a clean stop", tt.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("did not stop while waiting for %s", tt.name)
			}
		})
	}
}
