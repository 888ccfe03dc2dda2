package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"

	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// TestMetricsExistInARunningBinary builds and runs the all-in-one
// fluxhook, makes deliveries happen (a webhook on "*" to a local
// receiver, then a sign-up: user.created is delivered), scrapes /metrics
// and checks that every metric the alerts and the dashboard name is
// there.
func TestMetricsExistInARunningBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	refs := referencedMetrics(t)
	if len(refs) < 10 {
		t.Fatalf("only %d metric names found in the rules and the dashboard", len(refs))
	}

	bin := buildFluxhook(t)
	var received atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	httpAddr, adminAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	const email, password = "admin@example.com", "correct-horse-admin-battery"
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLUXHOOK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"FLUXHOOK_DATA_DIR="+filepath.Join(cmd.Dir, "data"),
		"FLUXHOOK_HTTP_ADDR="+httpAddr,
		"FLUXHOOK_ADMIN_ADDR="+adminAddr,
		"FLUXHOOK_ALLOW_PRIVATE_TARGETS=true",
		"FLUXHOOK_ALLOW_INSECURE_TARGETS=true",
		"FLUXHOOK_ADMIN_EMAIL="+email,
		"FLUXHOOK_ADMIN_PASSWORD="+password,
		"FLUXHOOK_LOG_LEVEL=warn",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("fluxhook output:\n%s", tail(logs.String(), 8<<10))
		}
	}()

	api, admin := "http://"+httpAddr+"/api/v1", "http://"+adminAddr
	waitUntil(t, 60*time.Second, "fluxhook ready", exited, func() bool {
		res, err := http.Get(admin + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})

	login := postJSON(t, api+"/admin/login", "", map[string]any{"email": email, "password": password}, 200)
	token, _ := login["access_token"].(string)
	postJSON(t, api+"/webhooks", token, map[string]any{
		"url": receiver.URL + "/hook", "events": []string{"*"},
		"secret": "whsec_deploy_test_0123456789abcdef", "description": "deploy metrics test",
	}, 201)
	postJSON(t, api+"/auth/signup", "", map[string]any{"email": "user@example.com", "password": "correct-horse-battery", "name": "Deploy Test"}, 201)

	var page string
	waitUntil(t, 60*time.Second, "a delivery reaches the receiver and is counted", exited, func() bool {
		page = scrape(t, admin)
		return received.Load() > 0 && strings.Contains(page, `fluxhook_delivery_attempts_total{outcome="success"} `) &&
			!strings.Contains(page, `fluxhook_delivery_attempts_total{outcome="success"} 0`)
	})

	exported := map[string]bool{"up": true} // Prometheus's own, per target
	sc := bufio.NewScanner(strings.NewReader(page))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		exported[name] = true
	}
	var names []string
	for m := range refs {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		if !exported[m] {
			t.Errorf("%s is named in %s but not exported by the running binary", m, strings.Join(dedupe(refs[m]), ", "))
		}
	}
	t.Logf("%d metric names checked against a scrape of %d series names", len(names), len(exported))
}

// buildFluxhook builds cmd/fluxhook into a temporary directory.
func buildFluxhook(t testing.TB) string {
	t.Helper()
	goBin := "go"
	if p, err := exec.LookPath("go"); err == nil {
		goBin = p
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		goBin = "/usr/local/go/bin/go"
	}
	out := filepath.Join(t.TempDir(), "fluxhook")
	cmd := exec.Command(goBin, "build", "-o", out, "./cmd/fluxhook")
	cmd.Dir = ".." // the module root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/fluxhook: %v\n%s", err, b)
	}
	return out
}

func waitUntil(t testing.TB, timeout time.Duration, what string, exited <-chan error, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("fluxhook exited (%v) while waiting for: %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func postJSON(t testing.TB, url, token string, body any, want int) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", url, res.StatusCode, rb, want)
	}
	var out map[string]any
	_ = json.Unmarshal(rb, &out)
	return out
}

func scrape(t testing.TB, admin string) string {
	t.Helper()
	res, err := http.Get(admin + "/metrics")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
