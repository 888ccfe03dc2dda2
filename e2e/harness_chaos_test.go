package e2e

// The chaos runner's harness (chaos_test.go, soak_test.go): the
// production layout — api x2, dispatcher, worker x2 — on a three-node
// NATS cluster with R3 streams, a private PostgreSQL and a private Redis,
// all started by the test on free loopback ports so that it can kill,
// stop and freeze them without touching any server of the machine's own.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ---------------------------------------------------------------------
// ChaosCluster: three nats-server processes, each of which can be
// killed, frozen and started again in place.

// ChaosNode is one server of a ChaosCluster.
type ChaosNode struct {
	t       testing.TB
	Name    string
	bin     string
	conf    string
	Monitor string // http://127.0.0.1:PORT of the monitoring endpoint
	Log     *lockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// ChaosCluster is three JetStream servers clustered on loopback,
// configured as production runs them (deploy/nats, scripts/nats-cluster.sh:
// file storage, sync_interval always), with monitoring ports so that the
// test can ask each whether its JetStream is healthy.
type ChaosCluster struct {
	t     testing.TB
	URL   string // the three client URLs, comma-separated
	Nodes []*ChaosNode
}

// StartChaosCluster starts the cluster and waits until every server
// answers /healthz. maxFileStore, when positive, is each server's
// JetStream file storage limit in bytes (jetstream.max_file_store).
func StartChaosCluster(t testing.TB, maxFileStore int64) *ChaosCluster {
	t.Helper()
	bin := filepath.Join(binaries(t), "nats-server")
	dir := t.TempDir()
	c := &ChaosCluster{t: t}
	var clientAddrs, routeAddrs, monAddrs []string
	for range 3 {
		clientAddrs = append(clientAddrs, testenv.FreeAddr(t))
		routeAddrs = append(routeAddrs, testenv.FreeAddr(t))
		monAddrs = append(monAddrs, testenv.FreeAddr(t))
	}
	limit := ""
	if maxFileStore > 0 {
		limit = fmt.Sprintf(", max_file_store: %d", maxFileStore)
	}
	var urls []string
	for i := range 3 {
		var routes []string
		for j, r := range routeAddrs {
			if j != i {
				routes = append(routes, fmt.Sprintf("%q", "nats-route://"+r))
			}
		}
		n := &ChaosNode{t: t, Name: fmt.Sprintf("n%d", i+1), bin: bin, Log: &lockedBuffer{}, Monitor: "http://" + monAddrs[i]}
		n.conf = filepath.Join(dir, n.Name+".conf")
		conf := fmt.Sprintf("server_name: %s\nlisten: %s\nhttp: %s\njetstream { store_dir: %q, sync_interval: always%s }\n"+
			"cluster { name: fluxhook-chaos, listen: %s, routes: [%s] }\n",
			n.Name, clientAddrs[i], monAddrs[i], filepath.Join(dir, n.Name), limit, routeAddrs[i], strings.Join(routes, ", "))
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, n)
		urls = append(urls, "nats://"+clientAddrs[i])
	}
	c.URL = strings.Join(urls, ",")
	t.Cleanup(func() {
		for _, n := range c.Nodes {
			n.Signal(syscall.SIGCONT) // a server left frozen by a failed scenario
			n.Kill()
			if t.Failed() {
				t.Logf("nats-server %s output (last 2 KiB):\n%s", n.Name, n.Log.Tail(2<<10))
			}
			keepLog(t, "nats-"+n.Name, n.Log)
		}
	})
	for _, n := range c.Nodes {
		n.Start()
	}
	c.WaitHealthy(60 * time.Second)
	return c
}

// Start starts the server (again) with its configuration and store.
func (n *ChaosNode) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done != nil {
		select {
		case <-n.done:
		default:
			n.t.Fatalf("nats-server %s is already running", n.Name)
		}
	}
	fmt.Fprintf(n.Log, "\n----- %s: start at %s -----\n", n.Name, time.Now().Format("15:04:05.000"))
	cmd := exec.Command(n.bin, "-c", n.conf)
	cmd.Env = baseEnviron()
	cmd.Stdout, cmd.Stderr = n.Log, n.Log
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
}

// Kill sends SIGKILL and waits until the server is gone.
func (n *ChaosNode) Kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Signal sends sig (SIGSTOP and SIGCONT freeze and thaw it).
func (n *ChaosNode) Signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// Healthy reports whether the server's /healthz answers 200: JetStream
// is up and its streams and consumers are current.
func (n *ChaosNode) Healthy() bool {
	c := &http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(n.Monitor + "/healthz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// WaitHealthy waits until every server answers /healthz 200.
func (c *ChaosCluster) WaitHealthy(timeout time.Duration) {
	c.t.Helper()
	waitForDetail(c.t, timeout, func() (bool, string) {
		var sick []string
		for _, n := range c.Nodes {
			if !n.Healthy() {
				sick = append(sick, n.Name)
			}
		}
		return len(sick) == 0, "not healthy: " + strings.Join(sick, ", ")
	}, "every NATS server answers /healthz 200")
}

// Node returns the node called name (n1, n2, n3), or nil.
func (c *ChaosCluster) Node(name string) *ChaosNode {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// connect opens a client connection to the cluster for the test's own
// questions (stream leaders, sizes, the filler stream).
func (c *ChaosCluster) connect(ctx context.Context) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.URL, nats.Timeout(3*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// StreamLeader returns the node leading the named stream (nil when the
// question could not be answered).
func (c *ChaosCluster) StreamLeader(stream string) *ChaosNode {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := c.connect(ctx)
	if err != nil {
		return nil
	}
	defer nc.Close()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return nil
	}
	return c.Node(info.Cluster.Leader)
}

// StreamSizes returns the bytes and messages of every stream.
func (c *ChaosCluster) StreamSizes() (map[string][2]uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, js, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	out := map[string][2]uint64{}
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		out[info.Config.Name] = [2]uint64{info.State.Bytes, info.State.Msgs}
	}
	return out, l.Err()
}

// ---------------------------------------------------------------------
// ChaosRedis: a private redis-server that can be stopped and started
// again on the same port.

// ChaosRedis is a redis-server of the test's own.
type ChaosRedis struct {
	t    testing.TB
	bin  string
	dir  string
	Port string
	URL  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartChaosRedis starts a private redis-server on a free port.
func StartChaosRedis(t testing.TB) *ChaosRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server (for a Redis the chaos runner can stop)")
	}
	r := &ChaosRedis{t: t, bin: bin, dir: t.TempDir()}
	_, r.Port, _ = net.SplitHostPort(testenv.FreeAddr(t))
	r.URL = "redis://127.0.0.1:" + r.Port + "/0"
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// Start starts the server and waits until it answers PING.
func (r *ChaosRedis) Start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, "--port", r.Port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", r.dir)
	cmd.Env = baseEnviron()
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	addr := "127.0.0.1:" + r.Port
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not answer PING within 20 s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s).
func (r *ChaosRedis) Stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// ---------------------------------------------------------------------
// Freezing PostgreSQL: SIGSTOP its postmaster and every backend, so that
// connections hang as behind a network partition (new ones are accepted
// by the kernel and then wait), instead of being refused.

// pids returns the postmaster's pid and its children's.
func (p *Postgres) pids() []int {
	b, err := os.ReadFile(filepath.Join(p.Data, "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil
	}
	out := []int{pm}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut after ")".
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			f := strings.Fields(s[i+1:])
			if len(f) > 1 {
				if ppid, _ := strconv.Atoi(f[1]); ppid == pm {
					out = append(out, pid)
				}
			}
		}
	}
	return out
}

// Freeze stops every process of the server with SIGSTOP, the postmaster
// first so that it forks no new backend meanwhile.
func (p *Postgres) Freeze() {
	p.t.Helper()
	pids := p.pids()
	if len(pids) == 0 {
		p.t.Fatalf("freeze PostgreSQL: no postmaster.pid")
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
	// Backends forked in the meantime.
	for _, pid := range p.pids() {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
	}
}

// Thaw continues every process of the server.
func (p *Postgres) Thaw() {
	for _, pid := range p.pids() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

// dbSize returns pg_database_size of the database in url.
func dbSize(ctx context.Context, url string) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
	return n, err
}

// ---------------------------------------------------------------------
// Process samples: what each binary's /metrics says about itself.

// ProcSample is one reading of a process's own gauges.
type ProcSample struct {
	RSS        float64 // process_resident_memory_bytes
	Goroutines float64 // go_goroutines
	FDs        float64 // process_open_fds
	HeapInuse  float64 // go_memstats_heap_inuse_bytes
}

// sampleProc reads a process's gauges from its admin port.
func sampleProc(admin string) (ProcSample, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get(admin + "/metrics")
	if err != nil {
		return ProcSample{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return ProcSample{}, err
	}
	var s ProcSample
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			s.RSS = f
		case "go_goroutines":
			s.Goroutines = f
		case "process_open_fds":
			s.FDs = f
		case "go_memstats_heap_inuse_bytes":
			s.HeapInuse = f
		}
	}
	return s, nil
}

// ---------------------------------------------------------------------
// ChaosStack: the production layout and a tenant with healthy webhooks.

// ChaosStack is api x2, dispatcher, worker x2 on a ChaosCluster, a
// private PostgreSQL and a private Redis, with an admin, a client key and
// two healthy webhooks, each to a Receiver that verifies both signatures.
type ChaosStack struct {
	NATS     *ChaosCluster
	PG       *Postgres
	Redis    *ChaosRedis
	Env      map[string]string
	APIs     []*Proc
	Dispatch *Proc
	Workers  []*Proc

	Healthy    []*Receiver
	HealthyIDs []string // their webhooks
	AdminToken string
	Key        string
}

// ChaosConfig says what NewChaosStack starts.
type ChaosConfig struct {
	MaxFileStore  int64 // per NATS server (0: none)
	RetrySchedule string
	Env           map[string]string
}

// NewChaosStack starts everything and sets the tenant up.
func NewChaosStack(t testing.TB, cfg ChaosConfig) *ChaosStack {
	t.Helper()
	start := time.Now()
	binaries(t)
	s := &ChaosStack{}
	s.NATS = StartChaosCluster(t, cfg.MaxFileStore)
	s.PG = StartPostgres(t)
	s.Redis = StartChaosRedis(t)
	s.Env = commonEnv(cfg.RetrySchedule)
	s.Env["FLUXHOOK_DATABASE_URL"] = s.PG.URL
	s.Env["FLUXHOOK_NATS_URL"] = s.NATS.URL
	s.Env["FLUXHOOK_REDIS_URL"] = s.Redis.URL
	s.Env["FLUXHOOK_STREAM_REPLICAS"] = "3"
	for k, v := range cfg.Env {
		s.Env[k] = v
	}
	first := StartProc(t, "api", s.Env) // migrates the database
	rest := []*Proc{newProc(t, "api", s.Env), newProc(t, "dispatcher", s.Env), newProc(t, "worker", s.Env), newProc(t, "worker", s.Env)}
	for _, p := range rest {
		p.start()
	}
	for _, p := range rest {
		p.WaitReady(90 * time.Second)
	}
	s.APIs = []*Proc{first, rest[0]}
	s.Dispatch = rest[1]
	s.Workers = rest[2:]
	t.Cleanup(func() { s.dumpMetrics(t) })

	s.AdminToken = AdminLogin(t, first.API)
	s.Key = CreateClientKey(t, first.API, s.AdminToken, "write:events")
	for range 2 {
		rcv := NewReceiver(t, webhookSecret)
		s.Healthy = append(s.Healthy, rcv)
		s.HealthyIDs = append(s.HealthyIDs, CreateWebhook(t, first.API, s.AdminToken, WebhookSpec{URL: rcv.URL, Secret: webhookSecret}))
	}
	s.warmUp(t)
	t.Logf("chaos stack up in %v: api %s %s, nats %s, postgres :%d, redis :%s", time.Since(start).Round(time.Millisecond),
		s.APIs[0].API, s.APIs[1].API, s.NATS.URL, s.PG.Port, s.Redis.Port)
	return s
}

// warmUp waits until an event reaches both healthy webhooks (the
// dispatcher learns of new webhooks asynchronously; see Stack.warmUp).
func (s *ChaosStack) warmUp(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		id := newIDs(1)[0]
		if st, out := Publish(t, s.APIs[0].API, s.Key, "chaos.warmup", id, map[string]any{"e2e": id}); st != http.StatusAccepted {
			t.Fatalf("warm-up: POST /events answered %d %v", st, out)
		}
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			ok := true
			for _, r := range s.Healthy {
				ok = ok && len(r.Missing([]string{id})) == 0
			}
			if ok {
				for _, r := range s.Healthy {
					r.Reset()
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no warm-up event reached both healthy webhooks within 60 s")
		}
	}
}

// Procs returns every Fluxhook process.
func (s *ChaosStack) Procs() []*Proc {
	out := append([]*Proc(nil), s.APIs...)
	out = append(out, s.Dispatch)
	return append(out, s.Workers...)
}

// procLabel names a process for tables: api1, api2, dispatcher, worker1…
func (s *ChaosStack) procLabel(p *Proc) string {
	for i, q := range s.APIs {
		if q == p {
			return fmt.Sprintf("api%d", i+1)
		}
	}
	for i, q := range s.Workers {
		if q == p {
			return fmt.Sprintf("worker%d", i+1)
		}
	}
	return p.Name
}

func (s *ChaosStack) dumpMetrics(t testing.TB) {
	if !t.Failed() {
		return
	}
	st := &Stack{API: s.APIs[0], Dispatcher: s.Dispatch, Worker: s.Workers[0]}
	st.dumpMetrics(t)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
