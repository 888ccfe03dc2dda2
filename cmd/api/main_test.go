package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/jackc/pgx/v5"
)

func TestConfigurationErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad address", map[string]string{"FLUXHOOK_HTTP_ADDR": "not an address"}, "FLUXHOOK_HTTP_ADDR"},
		{"no secrets", map[string]string{}, "FLUXHOOK_JWT_SECRET"},
		{"short jwt secret", map[string]string{"FLUXHOOK_JWT_SECRET": "short"}, "FLUXHOOK_JWT_SECRET"},
		{"unknown database", map[string]string{"FLUXHOOK_DATABASE_URL": "mysql://x"}, "FLUXHOOK_DATABASE_URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := run(context.Background(), nil, func(k string) string { return c.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a message naming %s", err, c.want)
			}
		})
	}
	if err := run(context.Background(), []string{"frobnicate"}, os.Getenv, io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown subcommand must fail")
	}
}

func secretsEnv() []string {
	return []string{
		"FLUXHOOK_JWT_SECRET=" + strings.Repeat("j", 40),
		"FLUXHOOK_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	}
}

// TestSIGTERMDuringBurst runs the api binary, sends SIGTERM in the middle
// of a burst of password-reset requests (each writes a token and an
// outbox event), and checks that every request the server accepted was
// answered and its effect stored: the only failures allowed are
// connections refused after the listener closed.
func TestSIGTERMDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := testenv.PostgresURL(t)
	nats := testenv.NATS(t)
	p := startAPI(t, "FLUXHOOK_DATABASE_URL="+dbURL, "FLUXHOOK_NATS_URL="+nats.ClientURL())
	cmd, api := p.cmd, p.api
	stderr := p.stderr
	body, _ := json.Marshal(map[string]string{"email": "burst@example.com", "password": "correct-horse-battery"})
	if res, err := http.Post(api+"/auth/signup", "application/json", bytes.NewReader(body)); err != nil || res.StatusCode != 201 {
		t.Fatalf("signup: %v %v", res, err)
	}

	// A request starts every 5 ms; SIGTERM lands in the middle, so some
	// are in flight, some queued and some arrive after the listener closed.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 60 * time.Second}
	const n = 300
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		time.AfterFunc(time.Duration(i)*5*time.Millisecond, func() {
			defer wg.Done()
			res, err := client.Post(api+"/auth/password/reset", "application/json", strings.NewReader(`{"email":"burst@example.com"}`))
			switch {
			case err == nil && res.StatusCode == http.StatusOK:
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				ok.Add(1)
			case err != nil && notConnected(err):
				refused.Add(1)
			case err != nil:
				t.Errorf("request %d: %v: an accepted request was lost", i, err)
			default:
				res.Body.Close()
				t.Errorf("request %d: status %d", i, res.StatusCode)
			}
		})
	}
	time.Sleep(n * 5 * time.Millisecond / 2)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("api exited with %v after SIGTERM\n%s", err, tail(stderr.b.Bytes(), 4096))
	}

	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var stored int64
	if err := conn.QueryRow(context.Background(), `SELECT COUNT(*) FROM outbox WHERE event = 'password.reset'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d answered, %d stored, %d refused after the listener closed", ok.Load(), stored, refused.Load())
	if stored != ok.Load() {
		t.Errorf("%d requests were answered 200 but %d resets were stored", ok.Load(), stored)
	}
	if ok.Load() == 0 || refused.Load() == 0 {
		t.Errorf("%d answered and %d refused: the burst did not straddle the shutdown", ok.Load(), refused.Load())
	}
}

// notConnected reports whether a request failed before it was sent:
// the connection was refused or reset while being set up.
func notConnected(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &op) && op.Op == "dial"
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// apiProcess is the api binary running as a process of its own.
type apiProcess struct {
	cmd    *exec.Cmd
	api    string // base URL of /api/v1
	admin  string // base URL of the admin port
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// startAPI builds the api binary (once per test run) and starts it with
// the given extra environment, waiting until it is ready.
func startAPI(t *testing.T, env ...string) *apiProcess {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fluxhook-api-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "api")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	httpAddr, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	cmd := exec.Command(binPath)
	cmd.Env = append(os.Environ(), secretsEnv()...)
	cmd.Env = append(cmd.Env, "FLUXHOOK_HTTP_ADDR="+httpAddr, "FLUXHOOK_ADMIN_ADDR="+adminAddr,
		"FLUXHOOK_AUTH_RATE_LIMIT=100000", "FLUXHOOK_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	p := &apiProcess{cmd: cmd, api: "http://" + httpAddr + "/api/v1", admin: "http://" + adminAddr, stderr: &lockedBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			p.stderr.mu.Lock()
			t.Logf("api stderr (last 4 KiB):\n%s", tail(p.stderr.b.Bytes(), 4096))
			p.stderr.mu.Unlock()
		}
	})
	testenv.WaitStatus(t, p.admin+"/readyz", 200, 30*time.Second)
	return p
}

// call sends a JSON request with headers and decodes the JSON answer.
func call(t *testing.T, method, url string, body any, h map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		js, _ := json.Marshal(body)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, res.Header, out
}

// metric returns the value of one series from a /metrics page (0 when absent).
func metric(t *testing.T, adminURL, series string) float64 {
	t.Helper()
	res, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}

// TestKeyRateLimitAcrossReplicas runs two api processes on one Redis: a
// key allowed 5 requests a minute gets exactly 5 in total, whichever
// replica answers. Then Redis stops: requests still succeed, each
// replica falling back to its own limiter, and the fail-open metric says
// so.
func TestKeyRateLimitAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two api processes")
	}
	dbURL := testenv.PostgresURL(t)
	nats := testenv.NATS(t)
	redisURL, stopRedis := testenv.StartRedis(t)
	env := []string{"FLUXHOOK_DATABASE_URL=" + dbURL, "FLUXHOOK_NATS_URL=" + nats.ClientURL(), "FLUXHOOK_REDIS_URL=" + redisURL}
	a, b := startAPI(t, env...), startAPI(t, env...)

	st, _, signup := call(t, "POST", a.api+"/auth/signup", map[string]string{"email": "svc@example.com", "password": "correct-horse-battery"}, nil)
	if st != 201 {
		t.Fatalf("signup: %d %v", st, signup)
	}
	jwt := map[string]string{"Authorization": "Bearer " + signup["access_token"].(string)}
	mkKey := func(rate int) string {
		st, _, body := call(t, "POST", a.api+"/client-keys", map[string]any{"name": "svc", "scopes": []string{"read:users"}, "rate_limit_per_minute": rate}, jwt)
		if st != 201 {
			t.Fatalf("create key: %d %v", st, body)
		}
		return body["key"].(string)
	}
	key := map[string]string{"X-Client-Key": mkKey(5)}
	ok, limited := 0, 0
	for i := range 10 {
		replica := a
		if i%2 == 1 {
			replica = b
		}
		st, h, body := call(t, "GET", replica.api+"/auth/user", nil, key)
		switch st {
		case 200:
			ok++
		case 429:
			limited++
			if h.Get("Retry-After") == "" || h.Get("X-RateLimit-Limit") != "5" || h.Get("X-RateLimit-Remaining") != "0" || body["code"] != "RATE_LIMIT_EXCEEDED" {
				t.Fatalf("429 without its headers: %v %v", h, body)
			}
		default:
			t.Fatalf("request %d: %d %v", i, st, body)
		}
	}
	if ok != 5 || limited != 5 {
		t.Fatalf("%d allowed and %d limited across two replicas, want 5 and 5", ok, limited)
	}

	stopRedis()
	free := map[string]string{"X-Client-Key": mkKey(1000)}
	const failOpen = `fluxhook_ratelimit_decisions_total{decision="fail_open",limiter="client_key"}`
	for _, replica := range []*apiProcess{a, b} {
		before := metric(t, replica.admin, failOpen)
		for range 3 {
			if st, _, body := call(t, "GET", replica.api+"/auth/user", nil, free); st != 200 {
				t.Fatalf("with Redis stopped: %d %v", st, body)
			}
		}
		if after := metric(t, replica.admin, failOpen); after < before+3 {
			t.Fatalf("fail-open metric went from %v to %v, want +3", before, after)
		}
	}
}
