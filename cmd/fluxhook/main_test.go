package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
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

type instance struct {
	api, admin string
	stdout     *syncBuffer
	stop       func() error
}

// start runs the all-in-one in this process on data in dir.
func start(t *testing.T, dir string) *instance {
	t.Helper()
	in := &instance{api: testenv.FreeAddr(t), admin: testenv.FreeAddr(t), stdout: &syncBuffer{}}
	env := map[string]string{
		"FLUXHOOK_DATA_DIR":     dir,
		"FLUXHOOK_DATABASE_URL": "sqlite://" + filepath.Join(dir, "fluxhook.db"),
		"FLUXHOOK_HTTP_ADDR":    in.api,
		"FLUXHOOK_ADMIN_ADDR":   in.admin,
		"FLUXHOOK_LOG_LEVEL":    "warn",
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, in.stdout, io.Discard) }()
	in.stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Error("fluxhook did not stop within 30 s")
			return nil
		}
	})
	t.Cleanup(func() { in.stop() })
	testenv.WaitStatus(t, "http://"+in.admin+"/readyz", 200, 30*time.Second)
	return in
}

func (in *instance) post(t *testing.T, path string, body any, want int) map[string]any {
	t.Helper()
	js, _ := json.Marshal(body)
	res, err := http.Post("http://"+in.api+"/api/v1"+path, "application/json", bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d: %v", path, res.StatusCode, want, out)
	}
	return out
}

var passwordRE = regexp.MustCompile(`Dashboard admin: (\S+)\s+password: (\S+)`)

// TestAllInOne starts Fluxhook on an empty data directory, uses it,
// restarts it, and checks that users, the generated admin and sessions
// survive the restart.
func TestAllInOne(t *testing.T) {
	dir := t.TempDir()
	in := start(t, dir)
	m := passwordRE.FindStringSubmatch(in.stdout.String())
	if m == nil {
		t.Fatalf("the banner does not print the admin credentials:\n%s", in.stdout.String())
	}
	email, password := m[1], m[2]
	if !strings.Contains(in.stdout.String(), "/api/v1") {
		t.Fatalf("the banner does not say where the API is:\n%s", in.stdout.String())
	}
	in.post(t, "/auth/signup", map[string]string{"email": "ada@example.com", "password": "correct-horse-battery"}, 201)
	refresh := in.post(t, "/auth/signin", map[string]string{"email": "ada@example.com", "password": "correct-horse-battery"}, 200)["refresh_token"]
	in.post(t, "/admin/login", map[string]string{"email": email, "password": password}, 200)

	res, err := http.Get("http://" + in.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(metrics), `fluxhook_http_requests_total{code="201",method="POST",route="POST /api/v1/auth/signup"} 1`) {
		t.Fatalf("metrics lack the sign-up request:\n%s", metrics)
	}
	if err := in.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, f := range []string{"jwt-secret", "encryption-key", "admin-password"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want a 0600 file", f, err, st.Mode())
		}
	}

	again := start(t, dir)
	if m2 := passwordRE.FindStringSubmatch(again.stdout.String()); m2 == nil || m2[2] != password {
		t.Fatalf("the restarted instance prints other admin credentials:\n%s", again.stdout.String())
	}
	again.post(t, "/auth/signin", map[string]string{"email": "ada@example.com", "password": "correct-horse-battery"}, 200)
	// The JWT secret was kept, so refresh tokens issued before the restart work.
	again.post(t, "/auth/refresh", map[string]any{"refresh_token": refresh}, 200)
}
