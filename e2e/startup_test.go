package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// TestE2EStartTogetherOnACluster is #17: two replicas of each of api,
// dispatcher and worker, streams R3, started at the same instant against
// a three-server NATS cluster (as scripts/nats-cluster.sh and
// deploy/nats run it: file storage, sync_interval always). Every one of
// them gets ready, and the pipeline delivers. Before, they all exited
// after 30 s: the server never answered the replicas' racing
// create-or-update requests of the same R3 stream.
func TestE2EStartTogetherOnACluster(t *testing.T) {
	skipShort(t)
	t.Parallel() // mostly waiting; see parallelNote
	cluster := NewNATSCluster(t)
	cluster.Start()
	cluster.WaitMetaLeader()
	procs := launchReplicas(t, cluster)
	waitAllReady(t, procs, 30*time.Second, "started together on a running cluster")
	checkDelivers(t, procs)
}

// TestE2EStartBeforeTheCluster: the same six processes started 10 s
// before their NATS cluster. They wait for it, alive and unready (503,
// saying why), rather than exit for Kubernetes to restart them; once the
// cluster is up they all get ready.
func TestE2EStartBeforeTheCluster(t *testing.T) {
	skipShort(t)
	t.Parallel() // mostly waiting; see parallelNote
	cluster := NewNATSCluster(t)
	procs := launchReplicas(t, cluster)
	time.Sleep(10 * time.Second)
	for _, p := range procs {
		if !p.Alive() {
			t.Fatalf("%s exited while NATS was not there (%v): it must wait", p.Name, p.ExitErr())
		}
		status, body := getBody(t, p.Admin+"/healthz")
		if status != http.StatusOK {
			t.Errorf("%s: /healthz %d while waiting for NATS, want 200 (alive)", p.Name, status)
		}
		status, body = getBody(t, p.Admin+"/readyz")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, "waiting for NATS") {
			t.Errorf("%s: /readyz %d %s while NATS is not there, want 503 saying it waits for NATS", p.Name, status, body)
		}
	}
	cluster.Start()
	waitAllReady(t, procs, 45*time.Second, "started 10 s before the cluster, once the cluster is up")
	checkDelivers(t, procs)
}

// launchReplicas starts two of each binary on cluster at the same
// instant, with a fresh database, without waiting for any.
func launchReplicas(t *testing.T, cluster *NATSCluster) []*Proc {
	t.Helper()
	binaries(t)
	env := commonEnv("")
	env["FLUXHOOK_DATABASE_URL"] = testenv.PostgresURL(t)
	env["FLUXHOOK_REDIS_URL"] = testenv.RedisURL(t)
	env["FLUXHOOK_NATS_URL"] = cluster.URL
	env["FLUXHOOK_STREAM_REPLICAS"] = "3"
	var procs []*Proc
	for _, name := range []string{"api", "dispatcher", "worker", "api", "dispatcher", "worker"} {
		procs = append(procs, newProc(t, name, env))
	}
	for _, p := range procs {
		p.start()
	}
	return procs
}

// waitAllReady waits until every process answers /readyz 200, failing at
// once if one exits, and logs how long each took.
func waitAllReady(t *testing.T, procs []*Proc, bound time.Duration, what string) {
	t.Helper()
	start := time.Now()
	readyAt := make([]time.Duration, len(procs))
	waitForDetail(t, bound, func() (bool, string) {
		var waiting []string
		for i, p := range procs {
			if !p.Alive() {
				t.Fatalf("%s exited (%v) instead of getting ready (%s):\n%s", p.Name, p.ExitErr(), what, p.Log.Tail(8<<10))
			}
			if readyAt[i] == 0 {
				if !p.Ready() {
					_, body := getBody(t, p.Admin+"/readyz")
					waiting = append(waiting, fmt.Sprintf("%s %d: %s", p.Name, i, strings.TrimSpace(body)))
					continue
				}
				readyAt[i] = time.Since(start)
			}
		}
		return len(waiting) == 0, strings.Join(waiting, "; ")
	}, "all six processes ready ("+what+")")
	var took []string
	for i, p := range procs {
		took = append(took, fmt.Sprintf("%s %v", p.Name, readyAt[i].Round(time.Millisecond)))
	}
	t.Logf("ready (%s): %s", what, strings.Join(took, ", "))
}

// checkDelivers sets a tenant up through the first api and waits for an
// event to be delivered (setupTenant's warm-up), then stops every
// process, each of which must exit 0.
func checkDelivers(t *testing.T, procs []*Proc) {
	t.Helper()
	s := &Stack{API: procs[0], Dispatcher: procs[1], Worker: procs[2], Receiver: NewReceiver(t, webhookSecret)}
	s.setupTenant(t, 0)
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { p.stopQuietly(t) })
	}
	wg.Wait()
}

// stopQuietly is Stop for a process stopped from another goroutine than
// the test's: it reports with Errorf only.
func (p *Proc) stopQuietly(t testing.TB) {
	if !p.Alive() {
		t.Errorf("%s had already exited (%v) when it was to be stopped", p.Name, p.ExitErr())
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited():
	case <-time.After(40 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.exited()
		t.Errorf("%s did not stop within 40 s of SIGTERM", p.Name)
		return
	}
	if err := p.ExitErr(); err != nil {
		t.Errorf("%s exited with %v after SIGTERM, want status 0", p.Name, err)
	}
}

func getBody(t testing.TB, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// ---------------------------------------------------------------------
// NATSCluster: three nats-server processes built from the pinned
// module, clustered on loopback.

// NATSCluster is three JetStream servers clustered on loopback and
// configured as production runs them (deploy/nats, scripts/nats-cluster.sh):
// file storage, sync_interval always. Its ports are fixed when it is
// made, so that processes can be given its URL before it starts.
type NATSCluster struct {
	t     testing.TB
	URL   string // the three client URLs, comma-separated
	nodes []*clusterNode
}

type clusterNode struct {
	name, conf string
	log        *lockedBuffer
	cmd        *exec.Cmd
	done       chan struct{}
}

// NewNATSCluster writes the three servers' configuration on free ports;
// Start starts them.
func NewNATSCluster(t testing.TB) *NATSCluster {
	t.Helper()
	bin := filepath.Join(binaries(t), "nats-server")
	dir := t.TempDir()
	c := &NATSCluster{t: t}
	var clientAddrs, routeAddrs []string
	for range 3 {
		clientAddrs = append(clientAddrs, testenv.FreeAddr(t))
		routeAddrs = append(routeAddrs, testenv.FreeAddr(t))
	}
	var urls []string
	for i := range 3 {
		var routes []string
		for j, r := range routeAddrs {
			if j != i {
				routes = append(routes, fmt.Sprintf("%q", "nats-route://"+r))
			}
		}
		n := &clusterNode{name: fmt.Sprintf("n%d", i+1), log: &lockedBuffer{}}
		n.conf = filepath.Join(dir, n.name+".conf")
		conf := fmt.Sprintf("server_name: %s\nlisten: %s\njetstream { store_dir: %q, sync_interval: always }\n"+
			"cluster { name: fluxhook-e2e, listen: %s, routes: [%s] }\n",
			n.name, clientAddrs[i], filepath.Join(dir, n.name), routeAddrs[i], strings.Join(routes, ", "))
		if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command(bin, "-c", n.conf)
		c.nodes = append(c.nodes, n)
		urls = append(urls, "nats://"+clientAddrs[i])
	}
	c.URL = strings.Join(urls, ",")
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.done != nil {
				_ = n.cmd.Process.Kill()
				<-n.done
			}
			if t.Failed() {
				t.Logf("nats-server %s output (last 2 KiB):\n%s", n.name, n.log.Tail(2<<10))
			}
		}
	})
	return c
}

// Start starts the three servers at once.
func (c *NATSCluster) Start() {
	c.t.Helper()
	for _, n := range c.nodes {
		n.cmd.Env = baseEnviron()
		n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
		if err := n.cmd.Start(); err != nil {
			c.t.Fatalf("start nats-server %s: %v", n.name, err)
		}
		n.done = make(chan struct{})
		go func() { _ = n.cmd.Wait(); close(n.done) }()
	}
}

// WaitMetaLeader waits until the cluster has elected a JetStream meta
// leader, as scripts/nats-cluster.sh start does before it returns.
func (c *NATSCluster) WaitMetaLeader() {
	c.t.Helper()
	start := time.Now()
	waitFor(c.t, 30*time.Second, func() bool {
		for _, n := range c.nodes {
			if strings.Contains(n.log.String(), "JetStream cluster new metadata leader") {
				return true
			}
		}
		return false
	}, "the NATS cluster elects a JetStream meta leader")
	c.t.Logf("NATS cluster has a meta leader %v after its start", time.Since(start).Round(time.Millisecond))
}
