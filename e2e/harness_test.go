package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// ---------------------------------------------------------------------
// Binaries: built once per test run, removed by TestMain.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goTool returns the go command: the one on PATH, or the official
// tarball's, which is not always on PATH.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	return "go"
}

// moduleRoot is the directory of go.mod, found with `go env GOMOD`.
func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(mod), nil
}

// binaries builds api, dispatcher, worker, fluxhook and nats-server (from
// the nats-server module pinned in go.mod) into one temporary directory,
// once per test run, and returns it.
//
// FLUXHOOK_E2E_BINDIR names a directory holding these five binaries
// already built (for example by CI, or from a snapshot of the tree while
// it is being edited); it is used as is and not removed.
func binaries(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("FLUXHOOK_E2E_BINDIR"); dir != "" {
		for _, b := range []string{"api", "dispatcher", "worker", "fluxhook", "nats-server"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				t.Fatalf("FLUXHOOK_E2E_BINDIR: %v", err)
			}
		}
		return dir
	}
	buildOnce.Do(func() {
		start := time.Now()
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "fluxhook-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		builds := [][]string{
			{"build", "-o", dir + string(os.PathSeparator), "./cmd/..."},
			{"build", "-o", filepath.Join(dir, "nats-server"), "github.com/nats-io/nats-server/v2"},
		}
		errs := make([]error, len(builds))
		var wg sync.WaitGroup
		for i, args := range builds {
			wg.Go(func() {
				cmd := exec.Command(goTool(), args...)
				cmd.Dir = root
				if out, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			})
		}
		wg.Wait()
		if buildErr = errors.Join(errs...); buildErr == nil {
			fmt.Fprintf(os.Stderr, "e2e: built the binaries in %v\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if buildErr != nil {
		t.Fatalf("build the binaries: %v", buildErr)
	}
	return binDir
}

// ---------------------------------------------------------------------
// Logs.

// lockedBuffer collects a process's output; it keeps the last few MiB.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

const maxLog = 4 << 20

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > maxLog {
		l.b = append(l.b[:0:0], l.b[len(l.b)-maxLog/2:]...)
	}
	return len(p), nil
}

// Tail returns the last n bytes.
func (l *lockedBuffer) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.b) > n {
		return "…" + string(l.b[len(l.b)-n:])
	}
	return string(l.b)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// ---------------------------------------------------------------------
// Waiting.

// waitFor polls cond every 50 ms until it holds, failing the test with
// msg after timeout.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool, msg string) {
	t.Helper()
	waitForDetail(t, timeout, func() (bool, string) { return cond(), "" }, msg)
}

// waitForDetail is waitFor with a condition that also says where it
// stands, for the failure message.
func waitForDetail(t testing.TB, timeout time.Duration, cond func() (bool, string), msg string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if detail != "" {
				t.Fatalf("timed out after %v: %s (%s)", timeout, msg, detail)
			}
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// envInt reads a count override from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// baseEnviron is this process's environment without FLUXHOOK_*
// variables, so that a developer's shell cannot change what the tests
// start.
func baseEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLUXHOOK_") {
			env = append(env, kv)
		}
	}
	return env
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// ---------------------------------------------------------------------
// Proc: one Fluxhook binary as a process.

// Proc is a Fluxhook binary (api, dispatcher, worker or fluxhook) running
// as a process with FLUXHOOK_* variables. Restarts keep its addresses, so
// URLs stay valid. Its output is shown (the last 8 KiB) when the test
// fails.
type Proc struct {
	t         testing.TB
	Name      string
	HTTPAddr  string
	AdminAddr string
	API       string // base URL of /api/v1 (meaningful for api and fluxhook)
	Admin     string // base URL of the admin port
	Log       *lockedBuffer

	bin  string
	env  []string
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	runs int
}

// StartProc starts the named binary with env (on top of fresh
// FLUXHOOK_HTTP_ADDR and FLUXHOOK_ADMIN_ADDR) and waits until its /readyz
// answers 200.
func StartProc(t testing.TB, name string, env map[string]string) *Proc {
	t.Helper()
	p := newProc(t, name, env)
	p.start()
	p.WaitReady(60 * time.Second)
	return p
}

// newProc is StartProc without the start and the wait, so that several
// can be started at once and waited for together (startup_test.go).
func newProc(t testing.TB, name string, env map[string]string) *Proc {
	t.Helper()
	p := &Proc{t: t, Name: name, bin: filepath.Join(binaries(t), name), Log: &lockedBuffer{},
		HTTPAddr: testenv.FreeAddr(t), AdminAddr: testenv.FreeAddr(t), dir: t.TempDir()}
	p.API = "http://" + p.HTTPAddr + "/api/v1"
	p.Admin = "http://" + p.AdminAddr
	p.env = append(baseEnviron(), "FLUXHOOK_HTTP_ADDR="+p.HTTPAddr, "FLUXHOOK_ADMIN_ADDR="+p.AdminAddr)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p.env = append(p.env, k+"="+env[k])
	}
	t.Cleanup(func() {
		if p.Alive() {
			p.signal(syscall.SIGKILL)
			<-p.exited()
		}
		if t.Failed() {
			t.Logf("%s output (last 8 KiB):\n%s", p.Name, p.Log.Tail(8<<10))
		}
		keepLog(t, p.Name, p.Log)
	})
	return p
}

// keepLog writes a process's whole output to FLUXHOOK_E2E_KEEP_LOGS/<test>-<name>.log
// when that is set (passing runs too): a fault that shows only
// sometimes, such as a pause in chaos, is read from every process's own
// account of it. Logs of processes of the same name in one test are
// appended.
func keepLog(t testing.TB, name string, l *lockedBuffer) {
	dir := os.Getenv("FLUXHOOK_E2E_KEEP_LOGS")
	if dir == "" {
		return
	}
	file := filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-"+name+".log")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err == nil {
		_, err = f.WriteString(l.String())
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Logf("keep %s's log: %v", name, err)
	}
}

func (p *Proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	if p.runs > 1 {
		fmt.Fprintf(p.Log, "\n----- %s: start %d at %s -----\n", p.Name, p.runs, time.Now().Format("15:04:05.000"))
	}
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Dir = p.dir
	cmd.Stdout = p.Log
	cmd.Stderr = p.Log
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// exited is closed when the current run has ended (at once if the
// process never started).
func (p *Proc) exited() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return p.done
}

func (p *Proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Alive reports whether the process is running.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited():
		return false
	default:
		return true
	}
}

// ExitErr is how the last run ended (nil while running or after exit 0).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// WaitReady waits until /readyz answers 200, failing at once (with the
// output) if the process exits first.
func (p *Proc) WaitReady(timeout time.Duration) {
	p.t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		select {
		case <-p.exited():
			p.t.Fatalf("%s exited before it was ready: %v\n%s", p.Name, p.ExitErr(), p.Log.Tail(8<<10))
		default:
		}
		res, err := c.Get(p.Admin + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
			last = res.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: /readyz did not answer 200 within %v (last: %s)\n%s", p.Name, timeout, last, p.Log.Tail(8<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ready reports whether /readyz answers 200 now.
func (p *Proc) Ready() bool {
	c := &http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(p.Admin + "/readyz")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == 200
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	p.t.Helper()
	if !p.Alive() {
		p.t.Fatalf("%s is not running (it exited with %v)", p.Name, p.ExitErr())
	}
	p.signal(syscall.SIGKILL)
	<-p.exited()
}

// Stop sends SIGTERM and waits; the process must exit with status 0
// within 40 s.
func (p *Proc) Stop() {
	p.t.Helper()
	if !p.Alive() {
		p.t.Errorf("%s had already exited (%v) when it was to be stopped", p.Name, p.ExitErr())
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited():
	case <-time.After(40 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.exited()
		p.t.Errorf("%s did not stop within 40 s of SIGTERM", p.Name)
		return
	}
	if err := p.ExitErr(); err != nil {
		p.t.Errorf("%s exited with %v after SIGTERM, want status 0", p.Name, err)
	}
}

// Restart starts the process again on the same addresses (stopping it
// first if it still runs) and waits until it is ready.
func (p *Proc) Restart() {
	p.t.Helper()
	if p.Alive() {
		p.Stop()
	}
	p.start()
	p.WaitReady(60 * time.Second)
}

// ---------------------------------------------------------------------
// NATSServer: nats-server built from the pinned module, as a process.

// NATSServer is a JetStream-enabled nats-server process on a fixed
// loopback port and store directory, so that it can be restarted in
// place.
type NATSServer struct {
	t    testing.TB
	bin  string
	Port int
	Dir  string
	URL  string
	Log  *lockedBuffer

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartNATS starts nats-server -js on a free port and waits until it
// accepts clients.
func StartNATS(t testing.TB) *NATSServer {
	t.Helper()
	n := &NATSServer{t: t, bin: filepath.Join(binaries(t), "nats-server"), Port: portOf(testenv.FreeAddr(t)),
		Dir: t.TempDir(), Log: &lockedBuffer{}}
	n.URL = fmt.Sprintf("nats://127.0.0.1:%d", n.Port)
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("nats-server output (last 4 KiB):\n%s", n.Log.Tail(4<<10))
		}
	})
	n.start()
	return n
}

func (n *NATSServer) start() {
	n.t.Helper()
	cmd := exec.Command(n.bin, "-js", "-sd", n.Dir, "-p", strconv.Itoa(n.Port), "-a", "127.0.0.1")
	cmd.Env = baseEnviron()
	cmd.Stdout, cmd.Stderr = n.Log, n.Log
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start nats-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()

	addr := fmt.Sprintf("127.0.0.1:%d", n.Port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			n.t.Fatalf("nats-server exited at start:\n%s", n.Log.Tail(4<<10))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "INFO ") {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nats-server on %s did not accept clients within 30 s:\n%s", addr, n.Log.Tail(4<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (SIGKILL after 30 s).
func (n *NATSServer) stop() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		n.t.Errorf("nats-server did not stop within 30 s of SIGTERM")
	}
	n.mu.Lock()
	n.cmd = nil
	n.mu.Unlock()
}

func (n *NATSServer) kill() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

// Outage is when a dependency was down: from the moment it had stopped
// to the moment it was started again.
type Outage struct{ Down, Up time.Time }

// Contains reports whether [from, to] lies within the outage.
func (o Outage) Contains(from, to time.Time) bool { return from.After(o.Down) && to.Before(o.Up) }

// Restart stops the server with SIGTERM, waits pause, and starts it again
// on the same port and store directory.
func (n *NATSServer) Restart(pause time.Duration) Outage {
	n.t.Helper()
	n.stop()
	o := Outage{Down: time.Now()}
	time.Sleep(pause)
	o.Up = time.Now()
	n.start()
	return o
}

// Stop stops the server (SIGTERM).
func (n *NATSServer) Stop() { n.stop() }

// ---------------------------------------------------------------------
// Postgres: a private PostgreSQL server the test may restart.

// Postgres is a PostgreSQL server of the test's own, started from the
// installed binaries (initdb, pg_ctl) with its data in a temporary
// directory, as the postgres user when the tests run as root (initdb and
// postgres refuse to run as root; scripts/test-services.sh does the same
// with setpriv).
type Postgres struct {
	t    testing.TB
	bin  string
	Dir  string
	Data string
	Port int
	URL  string // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable

	cred *syscall.Credential
}

// pgBinDir finds the newest /usr/lib/postgresql/*/bin with initdb, or
// initdb on PATH.
func pgBinDir() (string, bool) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))), 64)
		vj, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))), 64)
		return vi < vj
	})
	if len(dirs) > 0 {
		return filepath.Dir(dirs[len(dirs)-1]), true
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), true
	}
	return "", false
}

// StartPostgres initialises and starts a private PostgreSQL server.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bin, ok := pgBinDir()
	if !ok {
		testenv.Missing(t, "PostgreSQL server binaries (initdb, pg_ctl) for a server the test can restart")
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			testenv.Missing(t, "PostgreSQL server binary "+b)
		}
	}
	p := &Postgres{t: t, bin: bin}
	tmpRoot := os.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "the postgres system user (to run a private PostgreSQL as root)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		tmpRoot = "/tmp" // reachable by the postgres user, unlike a TMPDIR under /root
	}
	dir, err := os.MkdirTemp(tmpRoot, "fluxhook-e2e-pg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if p.cred != nil {
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	p.Dir, p.Data = dir, filepath.Join(dir, "data")

	start := time.Now()
	if out, err := p.run("initdb", "-D", p.Data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("\n# fluxhook e2e private server\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"+
		"fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n", dir)
	f, err := os.OpenFile(filepath.Join(p.Data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	f.Close()

	t.Cleanup(func() {
		if out, err := p.run("pg_ctl", "-D", p.Data, "-m", "immediate", "-w", "-t", "20", "stop"); err != nil && !strings.Contains(string(out), "Is server running?") {
			t.Logf("stop private PostgreSQL: %v\n%s", err, out)
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(p.Dir, "postgres.log")); err == nil {
				if len(b) > 4<<10 {
					b = b[len(b)-4<<10:]
				}
				t.Logf("private PostgreSQL log (last 4 KiB):\n%s", b)
			}
		}
	})
	var lastErr error
	for range 5 {
		p.Port = portOf(testenv.FreeAddr(t))
		if lastErr = p.start(); lastErr == nil {
			break
		}
		_, _ = p.run("pg_ctl", "-D", p.Data, "-m", "immediate", "-w", "stop")
	}
	if lastErr != nil {
		t.Fatalf("start private PostgreSQL: %v", lastErr)
	}
	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.Port)
	t.Logf("private PostgreSQL on 127.0.0.1:%d (initdb and start took %v)", p.Port, time.Since(start).Round(time.Millisecond))
	return p
}

// run runs one of the server binaries as the data directory's owner.
func (p *Postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.Dir
	cmd.Env = append(baseEnviron(), "LC_ALL=C")
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
		cmd.Env = append(cmd.Env, "HOME="+p.Dir, "USER=postgres", "LOGNAME=postgres")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (p *Postgres) start() error {
	out, err := p.run("pg_ctl", "-D", p.Data, "-l", filepath.Join(p.Dir, "postgres.log"),
		"-o", fmt.Sprintf("-p %d", p.Port), "-w", "-t", "30", "start")
	if err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the server (pg_ctl stop -m fast: clients are disconnected).
func (p *Postgres) Stop() {
	p.t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.Data, "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Start starts a stopped server again on the same port.
func (p *Postgres) Start() {
	p.t.Helper()
	if err := p.start(); err != nil {
		p.t.Fatal(err)
	}
}

// Restart stops the server, waits pause and starts it again.
func (p *Postgres) Restart(pause time.Duration) Outage {
	p.t.Helper()
	p.Stop()
	o := Outage{Down: time.Now()}
	time.Sleep(pause)
	o.Up = time.Now()
	p.Start()
	return o
}
