package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ---------------------------------------------------------------------
// Receivers

// receiver is a set of loopback webhook endpoints served by one
// http.Server, each on a listener of its own (a webhook is a host of its
// own to the delivery client's connection pool, as in real life). It
// answers 200 at once, or, for a hanging endpoint, never (it holds the
// request until the client gives up). It counts what arrives and, inside
// the measurement window, how long each body's "timestamp" is behind the
// arrival.
type receiver struct {
	srv       *http.Server
	urls      []string
	hanging   []bool
	dead      []bool // refuse connections: nothing listens on their ports
	closing   chan struct{}
	closeOnce sync.Once

	total   []atomic.Int64 // arrivals per endpoint, ever (hanging ones included)
	healthy atomic.Int64   // arrivals at answering endpoints, ever

	win atomic.Pointer[window]

	// Verification of the first delivery at each endpoint against its
	// secret, and duplicate detection by webhook-id.
	secrets  []atomic.Pointer[string]
	verified []atomic.Bool
	badSigs  atomic.Int64
	badTimes atomic.Int64
	dedupe   bool
	seenMu   sync.Mutex
	seen     map[string]struct{}
	dups     atomic.Int64

	bufs sync.Pool
}

// window collects the arrivals between from and to (unix nanoseconds).
type window struct {
	from, to int64
	count    atomic.Int64
	slices   []atomic.Int64 // arrivals per sliceLen, to show a trend
	mu       sync.Mutex
	lat      []time.Duration
}

// sliceLen is the length of the slices a window is cut into.
const sliceLen = 5 * time.Second

func newReceiver(tb testing.TB, endpoints, hanging, dead int, dedupe bool) *receiver {
	tb.Helper()
	r := &receiver{
		urls:     make([]string, endpoints),
		hanging:  make([]bool, endpoints),
		dead:     make([]bool, endpoints),
		closing:  make(chan struct{}),
		total:    make([]atomic.Int64, endpoints),
		secrets:  make([]atomic.Pointer[string], endpoints),
		verified: make([]atomic.Bool, endpoints),
		dedupe:   dedupe,
		seen:     map[string]struct{}{},
		bufs:     sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	// The hanging endpoints are spread among the others.
	for i := range hanging {
		r.hanging[(i*endpoints)/hanging] = true
	}
	// The dead endpoints too, one place after each of their share.
	for i := range dead {
		r.dead[((i*endpoints)/dead+1)%endpoints] = true
	}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	for i := range endpoints {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("receiver listen: %v", err)
		}
		r.urls[i] = fmt.Sprintf("http://%s/h/%d", ln.Addr(), i)
		if r.dead[i] {
			// Nothing listens there: connections are refused.
			ln.Close()
			continue
		}
		go func() { _ = r.srv.Serve(ln) }()
	}
	tb.Cleanup(r.close)
	return r
}

// close stops serving; hanging requests end.
func (r *receiver) close() {
	r.closeOnce.Do(func() {
		close(r.closing)
		_ = r.srv.Close()
	})
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(req.Body)
	now := time.Now()
	defer r.bufs.Put(buf)
	i, perr := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/h/"))
	if err != nil || perr != nil || i < 0 || i >= len(r.urls) {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.total[i].Add(1)
	if r.hanging[i] {
		select {
		case <-req.Context().Done():
		case <-r.closing:
		}
		return
	}
	r.healthy.Add(1)
	body := buf.Bytes()
	if r.dedupe {
		id := req.Header.Get(signing.HeaderID)
		r.seenMu.Lock()
		if _, ok := r.seen[id]; ok {
			r.dups.Add(1)
		} else {
			r.seen[id] = struct{}{}
		}
		r.seenMu.Unlock()
	}
	if s := r.secrets[i].Load(); s != nil && !r.verified[i].Load() && r.verified[i].CompareAndSwap(false, true) {
		if !signing.VerifyFluxbase(*s, body, req.Header.Get(signing.HeaderFluxbase)) || signing.Verify(*s, req.Header, body, 0, now) != nil {
			r.badSigs.Add(1)
		}
	}
	if win := r.win.Load(); win != nil {
		if n := now.UnixNano(); n >= win.from && n < win.to {
			win.count.Add(1)
			win.slices[(n-win.from)/int64(sliceLen)].Add(1)
			if ts, ok := bodyTimestamp(body); ok {
				win.mu.Lock()
				win.lat = append(win.lat, now.Sub(ts))
				win.mu.Unlock()
			} else {
				r.badTimes.Add(1)
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

// measure opens a window from now+warm for d and returns it.
func (r *receiver) measure(warm, d time.Duration) *window {
	from := time.Now().Add(warm)
	w := &window{from: from.UnixNano(), to: from.Add(d).UnixNano(), lat: make([]time.Duration, 0, 1<<16),
		slices: make([]atomic.Int64, (d+sliceLen-1)/sliceLen)}
	r.win.Store(w)
	return w
}

// received reports whether every answering endpoint has had at least n
// deliveries.
func (r *receiver) received(n int64) bool {
	for i := range r.total {
		if !r.hanging[i] && !r.dead[i] && r.total[i].Load() < n {
			return false
		}
	}
	return true
}

func (r *receiver) healthyCount() int {
	n := 0
	for i, h := range r.hanging {
		if !h && !r.dead[i] {
			n++
		}
	}
	return n
}

var timestampField = []byte(`"timestamp":"`)

// bodyTimestamp finds the delivery body's "timestamp" (the event's time,
// set by the API when it accepted the event; milliseconds, as JavaScript's
// toISOString writes it) without decoding the whole body.
func bodyTimestamp(body []byte) (time.Time, bool) {
	i := bytes.Index(body, timestampField)
	if i < 0 {
		return time.Time{}, false
	}
	rest := body[i+len(timestampField):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}

// trend is the arrivals a second in each slice of the window (the last
// one may be shorter).
func (w *window) trend() []float64 {
	var t []float64
	for i := range w.slices {
		d := min(sliceLen, time.Duration(w.to-w.from)-time.Duration(i)*sliceLen)
		t = append(t, float64(w.slices[i].Load())/d.Seconds())
	}
	return t
}

type percentiles struct{ p50, p99, max time.Duration }

func (w *window) percentiles() percentiles {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lat) == 0 {
		return percentiles{}
	}
	slices.Sort(w.lat)
	at := func(q float64) time.Duration { return w.lat[min(len(w.lat)-1, int(q*float64(len(w.lat))))] }
	return percentiles{p50: at(0.50), p99: at(0.99), max: w.lat[len(w.lat)-1]}
}

// ---------------------------------------------------------------------
// The all-in-one binary

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// TestMain removes the binary built for the benchmarks.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildPath != "" {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
	os.Exit(code)
}

// fluxhookBinary builds ./cmd/fluxhook once per test binary (or takes
// FLUXHOOK_BENCH_BINARY, e.g. a build with profiling hooks).
func fluxhookBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("FLUXHOOK_BENCH_BINARY"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fluxhook-bench-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "fluxhook")
		gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			gobin = p
		}
		cmd := exec.Command(gobin, "build", "-o", buildPath, "./cmd/fluxhook")
		cmd.Dir = ".." // the module root, from bench/
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/fluxhook: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return buildPath
}

const (
	adminEmail    = "bench@fluxhook.local"
	adminPassword = "bench-password-correct-horse"
)

// instance is a running all-in-one process.
type instance struct {
	api    string // http://host:port/api/v1
	admin  string // http://host:port
	nats   string // nats://host:port, the embedded server
	cmd    *exec.Cmd
	exited chan struct{}
	logs   *os.File
	http   *http.Client
	token  string
	once   sync.Once
}

// startFluxhook starts the all-in-one with its data in a temporary
// directory, on SQLite (dbURL "") or the database given, waits until it
// is ready and signs in as the dashboard admin.
func startFluxhook(tb testing.TB, dbURL string, extra map[string]string) *instance {
	tb.Helper()
	bin := fluxhookBinary(tb)
	dir := tb.TempDir()
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(dir, "fluxhook.db")
	}
	httpAddr, adminAddr, natsAddr := testenv.FreeAddr(tb), testenv.FreeAddr(tb), testenv.FreeAddr(tb)
	env := map[string]string{
		"FLUXHOOK_DATA_DIR":               filepath.Join(dir, "data"),
		"FLUXHOOK_DATABASE_URL":           dbURL,
		"FLUXHOOK_HTTP_ADDR":              httpAddr,
		"FLUXHOOK_ADMIN_ADDR":             adminAddr,
		"FLUXHOOK_PUBLIC_URL":             "http://" + httpAddr,
		"FLUXHOOK_ALLOW_PRIVATE_TARGETS":  "true",
		"FLUXHOOK_ALLOW_INSECURE_TARGETS": "true",
		"FLUXHOOK_LOG_LEVEL":              "warn",
		"FLUXHOOK_AUTH_RATE_LIMIT":        "100000",
		"FLUXHOOK_ADMIN_EMAIL":            adminEmail,
		"FLUXHOOK_ADMIN_PASSWORD":         adminPassword,
		"FLUXHOOK_SHUTDOWN_TIMEOUT":       "5s",
		// The embedded NATS on a loopback port, so that the benchmark can
		// read the consumers' state.
		"FLUXHOOK_NATS_LISTEN": natsAddr,
	}
	if v := os.Getenv("FLUXHOOK_BENCH_NATS_SYNC_INTERVAL"); v != "" {
		// Measure the embedded JetStream syncing every interval instead of
		// every write (see FLUXHOOK_NATS_SYNC_INTERVAL).
		env["FLUXHOOK_NATS_SYNC_INTERVAL"] = v
	}
	natsURL := "nats://" + natsAddr
	if v := os.Getenv("FLUXHOOK_BENCH_NATS_URL"); v != "" {
		// An external NATS instead of the embedded one, e.g. the
		// three-node cluster of scripts/nats-cluster.sh with
		// FLUXHOOK_BENCH_STREAM_REPLICAS=3: the production layout.
		delete(env, "FLUXHOOK_NATS_LISTEN")
		env["FLUXHOOK_NATS_URL"] = v
		env["FLUXHOOK_STREAM_REPLICAS"] = cmp.Or(os.Getenv("FLUXHOOK_BENCH_STREAM_REPLICAS"), "1")
		natsURL = v
	}
	for k, v := range extra {
		env[k] = v
	}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		// Nothing of the caller's configuration leaks in (a
		// FLUXHOOK_DATABASE_URL or FLUXHOOK_NATS_URL would change what is
		// measured) but a profiling build's FLUXHOOK_PPROF_ADDR
		// (cmd/fluxhook/pprof.go).
		if !strings.HasPrefix(kv, "FLUXHOOK_") || strings.HasPrefix(kv, "FLUXHOOK_PPROF_ADDR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs, err := os.Create(filepath.Join(dir, "fluxhook.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start fluxhook: %v", err)
	}
	in := &instance{
		api:    "http://" + httpAddr + "/api/v1",
		nats:   natsURL,
		admin:  "http://" + adminAddr,
		cmd:    cmd,
		exited: make(chan struct{}),
		logs:   logs,
		http:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, Proxy: nil}, Timeout: 30 * time.Second},
	}
	go func() { _ = cmd.Wait(); close(in.exited) }()
	tb.Cleanup(func() { in.stop(tb) })

	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := in.http.Get(in.admin + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-in.exited:
			tb.Fatalf("fluxhook exited before it was ready (%v):\n%s", cmd.ProcessState, in.logTail())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("fluxhook not ready within 60 s:\n%s", in.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	in.mustCall(tb, "POST", "/admin/login", "", map[string]any{"email": adminEmail, "password": adminPassword}, 200, &login)
	in.token = login.AccessToken
	return in
}

// stop ends the process with SIGTERM (SIGKILL after 10 s) and reports
// a slow or failed shutdown.
func (in *instance) stop(tb testing.TB) {
	in.once.Do(func() { in.doStop(tb) })
}

func (in *instance) doStop(tb testing.TB) {
	select {
	case <-in.exited:
	default:
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
		case <-time.After(10 * time.Second):
			tb.Logf("fluxhook did not stop within 10 s of SIGTERM; killed")
			_ = in.cmd.Process.Kill()
			<-in.exited
		}
	}
	if st := in.cmd.ProcessState; st != nil && !st.Success() && !st.Exited() {
		tb.Logf("fluxhook ended: %v", st)
	}
	if tb.Failed() {
		tb.Logf("fluxhook log (tail):\n%s", in.logTail())
	}
	in.logs.Close()
}

func (in *instance) logTail() string {
	b, _ := os.ReadFile(in.logs.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// warnings returns the process's log lines at warn level or above, at
// most n of them, with how many there were.
func (in *instance) warnings(n int) ([]string, int) {
	f, err := os.Open(in.logs.Name())
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	var lines []string
	total := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.Contains(l, "FLUXHOOK_SMTP_URL is not set") {
			continue // expected here: no mail is sent
		}
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			total++
			if len(lines) < n {
				lines = append(lines, l)
			}
		}
	}
	return lines, total
}

// call sends a JSON request to the API; auth is a bearer token or, with
// a "fbk_" prefix, a client key.
func (in *instance) call(ctx context.Context, method, path, auth string, body any, out any) (int, error) {
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(v)
	default:
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, in.api+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	switch {
	case strings.HasPrefix(auth, "fbk_"):
		req.Header.Set("X-Client-Key", auth)
	case auth != "":
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := in.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
	}
	return res.StatusCode, nil
}

func (in *instance) mustCall(tb testing.TB, method, path, auth string, body any, want int, out any) {
	tb.Helper()
	code, err := in.call(context.Background(), method, path, auth, body, out)
	if code != want {
		tb.Fatalf("%s %s: want %d, got %d: %v", method, path, want, code, err)
	}
}

// createWebhook subscribes url to every event and returns its secret.
func (in *instance) createWebhook(tb testing.TB, url string, events []string) string {
	tb.Helper()
	var hook struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	in.mustCall(tb, "POST", "/webhooks", in.token, map[string]any{"url": url, "events": events, "description": "bench"}, 201, &hook)
	if hook.Secret == "" {
		tb.Fatalf("POST /webhooks: no secret in the answer")
	}
	return hook.Secret
}

// createKeys makes n client keys that may publish events, each allowed
// the most the API allows (100,000 a minute).
func (in *instance) createKeys(tb testing.TB, n int) []string {
	tb.Helper()
	keys := make([]string, n)
	for i := range keys {
		var k struct {
			Key string `json:"key"`
		}
		in.mustCall(tb, "POST", "/client-keys", in.token, map[string]any{"name": fmt.Sprintf("bench %d", i), "scopes": []string{"write:events"}, "rate_limit_per_minute": 100000}, 201, &k)
		keys[i] = k.Key
	}
	return keys
}

// ---------------------------------------------------------------------
// CPU accounting (Linux /proc; zero elsewhere)

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

type cpuSample struct {
	at          time.Time
	proc, self  float64 // seconds of CPU
	busy, total float64 // machine-wide ticks
	ok          bool
}

func procCPU(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + s) / clockTicks, true
}

func machineCPU() (busy, total float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, false
	}
	var idle float64
	for i, s := range f[1:] {
		if i >= 8 { // guest time is already counted in user
			break
		}
		v, _ := strconv.ParseFloat(s, 64)
		total += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return total - idle, total, true
}

func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now()}
	var ok1, ok2, ok3 bool
	s.proc, ok1 = procCPU(fmt.Sprintf("/proc/%d/stat", pid))
	s.self, ok2 = procCPU("/proc/self/stat")
	s.busy, s.total, ok3 = machineCPU()
	s.ok = ok1 && ok2 && ok3
	return s
}

// cpuUse is CPU in cores over an interval: the fluxhook process, this
// test process (publishers and receivers), and everything else on the
// machine (the database server, and whatever else runs).
type cpuUse struct{ fluxhook, bench, other, idle float64 }

func cpuBetween(a, b cpuSample) cpuUse {
	if !a.ok || !b.ok {
		return cpuUse{}
	}
	secs := b.at.Sub(a.at).Seconds()
	cores := float64(runtime.NumCPU())
	u := cpuUse{fluxhook: (b.proc - a.proc) / secs, bench: (b.self - a.self) / secs}
	if dt := b.total - a.total; dt > 0 {
		busy := (b.busy - a.busy) / dt * cores
		u.idle = cores - busy
		u.other = max(0, busy-u.fluxhook-u.bench)
	}
	return u
}

func (u cpuUse) String() string {
	return fmt.Sprintf("fluxhook %.2f, bench %.2f, other %.2f, idle %.2f", u.fluxhook, u.bench, u.other, u.idle)
}

// errorsSeen keeps the first few distinct errors of a kind.
type errorsSeen struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (e *errorsSeen) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.first) < 3 && !slices.Contains(e.first, err.Error()) {
		e.first = append(e.first, err.Error())
	}
}

func (e *errorsSeen) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", e.n, strings.Join(e.first, "; "))
}

var errStopped = errors.New("stopped")

// ---------------------------------------------------------------------
// The process's own metrics, to see where the time goes

// metrics is a scrape of /metrics: "name{labels}" → value.
type metrics map[string]float64

func (in *instance) metrics() metrics {
	m := metrics{}
	res, err := in.http.Get(in.admin + "/metrics")
	if err != nil {
		return m
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "fluxhook_") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			m[l[:i]] = v
		}
	}
	return m
}

// sub returns m - o for every series of m.
func (m metrics) sub(o metrics) metrics {
	d := metrics{}
	for k, v := range m {
		d[k] = v - o[k]
	}
	return d
}

// mean is a histogram's mean over the scrape (sum ÷ count).
func (m metrics) mean(name string) float64 {
	if c := m[name+"_count"]; c > 0 {
		return m[name+"_sum"] / c
	}
	return 0
}

// outcomes lists the worker's outcomes that happened, with their counts.
func (m metrics) outcomes() string {
	var parts []string
	for k, v := range m {
		if o, ok := strings.CutPrefix(k, `fluxhook_delivery_attempts_total{outcome="`); ok && v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", strings.TrimSuffix(o, `"}`), v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// summary is a line on where time went, over the window the scrapes
// bracket.
func (m metrics) summary(secs float64) string {
	return fmt.Sprintf("worker outcomes/s: [%s]; mean: dispatch (event→jobs stored) %.1f ms, attempt (POST) %.2f ms, event→delivered %.0f ms, record batch %.1f rows in %.2f ms",
		perSecond(m.outcomes(), secs), 1000*m.mean("fluxhook_dispatch_seconds"), 1000*m.mean("fluxhook_delivery_attempt_duration_seconds"),
		1000*m.mean("fluxhook_event_to_delivery_seconds"), m.mean("fluxhook_attempt_record_batch_size"), 1000*m.mean("fluxhook_attempt_record_flush_seconds"))
}

func perSecond(outcomes string, secs float64) string {
	if outcomes == "" {
		return ""
	}
	parts := strings.Split(outcomes, ", ")
	for i, p := range parts {
		name, n, _ := strings.Cut(p, " ")
		v, _ := strconv.ParseFloat(n, 64)
		parts[i] = fmt.Sprintf("%s %.0f", name, v/secs)
	}
	return strings.Join(parts, ", ")
}

// storedMsgs is how many messages EVENTS and DELIVERIES have stored since
// they were made (their last sequence numbers): with work-queue streams
// each is written once and removed once, so twice the growth between two
// readings is the JetStream writes in between.
func (in *instance) storedMsgs() (uint64, error) {
	nc, err := nats.Connect(in.nats, nats.Name("fluxhook-bench"), nats.Timeout(5*time.Second))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n uint64
	for _, name := range []string{events.StreamEvents, events.StreamDeliveries} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			return 0, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return 0, err
		}
		n += info.State.LastSeq
	}
	return n, nil
}

// consumers reads the dispatcher's and the worker's JetStream consumer
// state from the embedded server.
func (in *instance) consumers() string {
	nc, err := nats.Connect(in.nats, nats.Name("fluxhook-bench"), nats.Timeout(5*time.Second))
	if err != nil {
		return "consumers: " + err.Error()
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "consumers: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var parts []string
	for _, c := range []struct{ stream, name string }{{events.StreamEvents, events.ConsumerDispatcher}, {events.StreamDeliveries, events.ConsumerWorker}} {
		cons, err := js.Consumer(ctx, c.stream, c.name)
		if err != nil {
			parts = append(parts, c.name+": "+err.Error())
			continue
		}
		info, err := cons.Info(ctx)
		if err != nil {
			parts = append(parts, c.name+": "+err.Error())
			continue
		}
		parts = append(parts, fmt.Sprintf("%s pending %d, ack pending %d of %d, redelivered %d", c.name, info.NumPending, info.NumAckPending, info.Config.MaxAckPending, info.NumRedelivered))
	}
	return "consumers at the end: " + strings.Join(parts, "; ")
}
