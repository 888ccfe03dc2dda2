package events

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

func TestCheckServerVersion(t *testing.T) {
	tests := []struct {
		version string
		ok      bool
	}{
		{"2.9.25", false},
		{"2.11.9", false},
		{"2.12.0-RC.1", false},
		{"2.12.0-beta.1", false},
		{"1.99.99", false},
		{"2.12.0", true},
		{"v2.12.0", true},
		{"2.12.1-RC.1", true},
		{"2.12.0+build.7", true},
		{"2.15.2", true},
		{"3.0.0", true},
		{"", false},
		{"garbage", false},
		{"2.12", false},
		{"2.12.x", false},
		{"2.12.0-", false},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			err := CheckServerVersion(tt.version)
			if tt.ok {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrServerTooOld) {
				t.Errorf("error %v does not match ErrServerTooOld", err)
			}
			if !strings.Contains(err.Error(), "needs 2.12.0 or newer") {
				t.Errorf("error %q does not say what is needed", err)
			}
		})
	}
	want := "NATS server 2.9.25 is too old: Fluxhook needs 2.12.0 or newer (message schedules"
	if err := CheckServerVersion("2.9.25"); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message = %v, want it to start %q", err, want)
	}
}

func TestConnect(t *testing.T) {
	s := testenv.NATS(t)
	ctx := testenv.Context(t, 10*time.Second)

	nc, err := Connect(ctx, s.ClientURL(), "fluxhook-test", nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	if got := nc.ConnectedServerVersion(); got != server.VERSION {
		t.Errorf("ConnectedServerVersion = %q, want %q", got, server.VERSION)
	}
	if err := CheckServerVersion(nc.ConnectedServerVersion()); err != nil {
		t.Errorf("test server refused: %v", err)
	}
	// The name identifies the process in the server's connection list.
	conns, err := s.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(conns.Conns) != 1 || conns.Conns[0].Name != "fluxhook-test" {
		t.Errorf("server sees connections %+v, want one named fluxhook-test", conns.Conns)
	}

}

func TestConnectReconnectsAfterServerRestart(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	s := startServer(t, opts)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := testenv.Context(t, 10*time.Second)
	nc, err := Connect(ctx, s.ClientURL(), "fluxhook-test", logger)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()

	reconnected := make(chan struct{}, 1)
	nc.SetReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} })
	s.Shutdown()
	s.WaitForShutdown()
	startServer(t, opts)
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect within 10s of the server's restart")
	}
	if err := nc.Publish("after.restart", nil); err != nil {
		t.Errorf("publish after reconnect: %v", err)
	}
	if !strings.Contains(logs.String(), "NATS disconnected") {
		t.Errorf("disconnection not logged; logs:\n%s", logs.String())
	}
}

func TestConnectDeadServer(t *testing.T) {
	url := "nats://127.0.0.1:" + strconv.Itoa(freePort(t))

	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"shorter than one retry", 300 * time.Millisecond},
		{"several retries", 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			nc, err := Connect(ctx, url, "fluxhook-test", nil)
			took := time.Since(start)
			if err == nil {
				nc.Close()
				t.Fatal("Connect succeeded")
			}
			if took > tt.timeout+500*time.Millisecond {
				t.Errorf("Connect took %s with a %s deadline", took, tt.timeout)
			}
			msg := err.Error()
			for _, want := range []string{"connect to NATS at " + url, nats.ErrNoServers.Error()} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestConnectWaitsForLateServer(t *testing.T) {
	// Start the server a moment after Connect begins, as when pods start
	// before NATS is up.
	port := freePort(t)
	opts := &server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	late := make(chan *server.Server, 1)
	time.AfterFunc(1500*time.Millisecond, func() {
		s, err := server.NewServer(opts)
		if err != nil {
			late <- nil
			return
		}
		go s.Start()
		late <- s
	})
	t.Cleanup(func() {
		if s := <-late; s != nil {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})

	ctx := testenv.Context(t, 10*time.Second)
	nc, err := Connect(ctx, "nats://127.0.0.1:"+strconv.Itoa(port), "fluxhook-test", nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	nc.Close()
}

func TestConnectRefusesBadCredentialsAtOnce(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, Username: "fluxhook", Password: "right-password", NoLog: true, NoSigs: true}
	s := startServer(t, opts)
	url := strings.Replace(s.ClientURL(), "nats://", "nats://fluxhook:wrong-password@", 1)

	ctx := testenv.Context(t, 10*time.Second)
	start := time.Now()
	_, err := Connect(ctx, url, "fluxhook-test", nil)
	if err == nil {
		t.Fatal("Connect succeeded with a wrong password")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("error %v is not an authorization error", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error %q reveals the password", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %s: an authorization failure should not be retried until the deadline", took)
	}
}

func TestEmbeddedJetStream(t *testing.T) {
	tests := []struct {
		name   string
		listen string
	}{
		{"in process only", ""},
		{"with a TCP listener", "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Listen: tt.listen})
			if err != nil {
				t.Fatalf("StartEmbedded: %v", err)
			}
			t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			if got := s.JetStreamConfig(); got == nil || !got.SyncAlways {
				t.Errorf("JetStream config %+v, want SyncAlways", got)
			}
			if tt.listen == "" && s.Addr() != nil {
				t.Errorf("listening on %v with Listen empty", s.Addr())
			}

			nc, err := ConnectEmbedded(s, "fluxhook-test", nil)
			if err != nil {
				t.Fatalf("ConnectEmbedded: %v", err)
			}
			defer nc.Close()
			publishAndReceive(t, nc)

			if tt.listen != "" {
				ctx := testenv.Context(t, 5*time.Second)
				tcp, err := Connect(ctx, s.ClientURL(), "fluxhook-outside", nil)
				if err != nil {
					t.Fatalf("Connect over TCP: %v", err)
				}
				tcp.Close()
			}
		})
	}
}

// publishAndReceive stores a message in a new stream and reads it back
// through a durable consumer.
func publishAndReceive(t *testing.T, nc *nats.Conn) {
	t.Helper()
	ctx := testenv.Context(t, 10*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>"}})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	ack, err := js.Publish(ctx, "test.hello", []byte("payload"), jetstream.WithMsgID("id-1"))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != "TEST" || ack.Sequence != 1 {
		t.Errorf("PubAck %+v, want stream TEST sequence 1", ack)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("next: %v", err)
	}
	if msg.Subject() != "test.hello" || string(msg.Data()) != "payload" {
		t.Errorf("received %s %q", msg.Subject(), msg.Data())
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Errorf("ack: %v", err)
	}
}

func TestEmbeddedKeepsMessagesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := StartEmbedded(EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ConnectEmbedded(s, "fluxhook-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testenv.Context(t, 10*time.Second)
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "keep", []byte("survives")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	s.Shutdown()
	s.WaitForShutdown()

	s, err = StartEmbedded(EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err = ConnectEmbedded(s, "fluxhook-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	stream, err := js.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	m, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatalf("message after restart: %v", err)
	}
	if string(m.Data) != "survives" {
		t.Errorf("message after restart: %q, want %q", m.Data, "survives")
	}
}

func TestStartEmbeddedErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name   string
		opts   EmbeddedOptions
		wantIn string
	}{
		{"no store dir", EmbeddedOptions{}, "store directory"},
		{"bad listen address", EmbeddedOptions{StoreDir: t.TempDir(), Listen: "nowhere"}, `"nowhere"`},
		{"busy port", EmbeddedOptions{StoreDir: t.TempDir(), Listen: busy.Addr().String()}, "listening"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := StartEmbedded(tt.opts)
			if err == nil {
				s.Shutdown()
				t.Fatal("StartEmbedded succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("failing took %s", took)
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://a:4222", "nats://a:4222"},
		{"nats://user:pw@a:4222, nats://token@b:4222", "nats://xxxxx@a:4222,nats://xxxxx@b:4222"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := redactURLs(tt.in); got != tt.want {
				t.Errorf("redactURLs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// freePort returns a loopback port that nothing listens on.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startServer starts a NATS server with the given options, stopped when
// the test ends; tests that need a fixed port or credentials use it
// instead of testenv.NATS.
func startServer(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// syncBuffer is a bytes.Buffer safe for the connection's handler
// goroutines to write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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
