package client_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "admin-password"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// binary returns the fluxhook all-in-one: $FLUXHOOK_BINARY, else built
// once per test run from this module.
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("FLUXHOOK_BINARY"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fluxhook-client-test-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "fluxhook") // removed by TestMain
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(goBin, "build", "-o", builtBin, "github.com/fluxhook/fluxhook/cmd/fluxhook").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs a fresh all-in-one as a process (embedded NATS,
// SQLite) that may deliver to loopback receivers, and returns its base URL.
// Access tokens live 2 s, inside the client's refresh margin, so every
// signed-in call goes through a refresh.
func startServer(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the all-in-one")
	}
	dir := t.TempDir()
	api, admin := testenv.FreeAddr(t), testenv.FreeAddr(t)
	cmd := exec.Command(binary(t))
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"FLUXHOOK_DATA_DIR=" + dir,
		"FLUXHOOK_DATABASE_URL=sqlite://" + filepath.Join(dir, "fluxhook.db"),
		"FLUXHOOK_HTTP_ADDR=" + api,
		"FLUXHOOK_ADMIN_ADDR=" + admin,
		"FLUXHOOK_ADMIN_EMAIL=" + adminEmail,
		"FLUXHOOK_ADMIN_PASSWORD=" + adminPassword,
		"FLUXHOOK_ALLOW_PRIVATE_TARGETS=true",
		"FLUXHOOK_ALLOW_INSECURE_TARGETS=true",
		"FLUXHOOK_AUTH_RATE_LIMIT=100000",
		"FLUXHOOK_ACCESS_TOKEN_TTL=2s",
		"FLUXHOOK_RETRY_SCHEDULE=1s,1s",
		"FLUXHOOK_LOG_LEVEL=warn",
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("fluxhook output:\n%s", out.String())
		}
	})
	testenv.WaitStatus(t, "http://"+admin+"/readyz", http.StatusOK, 30*time.Second)
	return "http://" + api
}

// delivery is one request a receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a webhook endpoint recording what it gets.
type receiver struct {
	*httptest.Server
	got chan delivery
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{got: make(chan delivery, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.got <- delivery{header: req.Header.Clone(), body: b}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(r.Close)
	return r
}

// next returns the next delivery whose body contains want.
func (r *receiver) next(t *testing.T, want string) delivery {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case d := <-r.got:
			if bytes.Contains(d.body, []byte(want)) {
				return d
			}
		case <-timeout:
			t.Fatalf("no delivery containing %q within 15 s", want)
		}
	}
}

func ctx(t *testing.T) context.Context { return testenv.Context(t, 60*time.Second) }
