// Package testenv gives tests the real services they run against:
// PostgreSQL and Redis from FLUXHOOK_TEST_POSTGRES_URL and
// FLUXHOOK_TEST_REDIS_URL (make test starts throwaway servers and sets
// them), and NATS JetStream embedded from the pinned nats-server module.
//
// A missing service skips the test on a developer's machine and fails it
// under CI=true: a skip must never count as a pass in CI.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsserver "github.com/nats-io/nats-server/v2/server"
)

// Missing skips (or, under CI, fails) a test that needs a service that
// is not configured.
func Missing(tb testing.TB, what string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is required under CI=true but not available; run the tests through `make test`", what)
	}
	tb.Skipf("%s not available; run `make test`, which starts it", what)
}

// Unique returns a short random name, safe for database names and keys.
func Unique(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// PostgresURL returns the URL of a fresh, empty database on the test
// PostgreSQL server, dropped when the test ends.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("FLUXHOOK_TEST_POSTGRES_URL")
	if base == "" {
		Missing(tb, "PostgreSQL (FLUXHOOK_TEST_POSTGRES_URL)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to FLUXHOOK_TEST_POSTGRES_URL: %v", err)
	}
	defer conn.Close(ctx)
	name := Unique("fluxhook_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Logf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse FLUXHOOK_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// RedisURL returns the URL of the test Redis server. Tests share it, so
// each test must put its keys under a prefix of its own (see Unique).
func RedisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("FLUXHOOK_TEST_REDIS_URL")
	if u == "" {
		Missing(tb, "Redis (FLUXHOOK_TEST_REDIS_URL)")
	}
	return u
}

// NATS starts an embedded NATS server with JetStream on a random loopback
// port, storing in a temporary directory, and returns it; it is shut
// down when the test ends.
func NATS(tb testing.TB) *natsserver.Server {
	tb.Helper()
	opts := &natsserver.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		JetStream: true,
		StoreDir:  tb.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	s, err := natsserver.NewServer(opts)
	if err != nil {
		tb.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatalf("nats server not ready")
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Context returns a context cancelled when the test ends or after d.
func Context(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago, for processes that must be told their address up front. The port
// is below the kernel's ephemeral range: a port from that range (what
// listening on :0 gives) may be taken meanwhile by any outgoing
// connection, and tests make thousands, so a server started on it a
// moment later failed now and then with "address already in use".
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	const lowest = 20000
	high := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowest+1000 {
				high = n
			}
		}
	}
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lowest+mrand.IntN(high-lowest)))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	// Below the range is crowded: fall back on one the kernel gives.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitStatus polls url until it answers with status, failing the test
// after timeout.
func WaitStatus(tb testing.TB, url string, status int, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == status {
				return
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("%s did not answer %d within %v (last: %s)", url, status, timeout, last)
}

// StartRedis starts a Redis server of the test's own on a free loopback
// port, for tests that stop Redis on purpose, and returns its URL and a
// function that stops it (also called when the test ends).
func StartRedis(tb testing.TB) (url string, stop func()) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		Missing(tb, "redis-server (to start a Redis the test can stop)")
	}
	addr := FreeAddr(tb)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tb.TempDir())
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	tb.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 7)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			c.Close()
			if string(buf[:n]) == "+PONG\r\n" {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			tb.Fatalf("redis-server on %s did not answer PING", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "redis://" + addr + "/0", stop
}
