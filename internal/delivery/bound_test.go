package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// TestJobsInHandAreBounded: a full pack of jobs (wire.MaxPackJobs) that can only be put
// back (here the webhook cannot be loaded; in the soak, parked jobs of a
// hanging endpoint coming due together), with their deferrals slow to
// store, never has more than MaxFinishing deferrals under way and
// Concurrency jobs waiting for their turn: the rest of the pack waits in
// the message, not as goroutines. Before, every job gave its attempt
// slot back and waited for its deferral on a goroutine of its own: 256
// here, ~14,000 and ~260 MiB per worker in the soak.
func TestJobsInHandAreBounded(t *testing.T) {
	const jobs, concurrency, finishing = wire.MaxPackJobs, 4, 8
	sched := &slowScheduler{release: make(chan struct{})}
	w := New(unloadable{}, http.DefaultClient, nil, nopRecorder{}, sched, slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewMetrics(prometheus.NewRegistry()), Options{Concurrency: concurrency, MaxFinishing: finishing})

	encoded := make([][]byte, jobs)
	for i := range encoded {
		var err error
		encoded[i], err = wire.EncodeJob(wire.Job{DeliveryID: fmt.Sprintf("d%d", i), EventID: fmt.Sprintf("e%d", i), Event: "order.paid", WebhookID: "w1", Attempt: 1, Payload: []byte(`{"i":1}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	msg := &packMsg{data: wire.AppendPack(nil, encoded...)}
	base := runtime.NumGoroutine()
	handled := make(chan struct{})
	go func() { w.Handle(context.Background(), msg); close(handled) }()

	deadline := time.Now().Add(10 * time.Second)
	for sched.inFlight.Load() < finishing && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// Give a pile-up time to show: the bound holds whatever the timing.
	time.Sleep(200 * time.Millisecond)
	if n := sched.maxInFlight.Load(); n != finishing {
		t.Fatalf("%d deferrals under way at most, want MaxFinishing (%d)", n, finishing)
	}
	if extra := runtime.NumGoroutine() - base; extra > concurrency+finishing+4 {
		t.Fatalf("%d goroutines for the pack, want at most %d (attempt slots + finishing slots + Handle)", extra, concurrency+finishing+4)
	}
	select {
	case <-handled:
		t.Fatal("Handle returned with most of the pack not started")
	default:
	}

	close(sched.release)
	select {
	case <-handled:
	case <-time.After(30 * time.Second):
		t.Fatal("Handle did not return once deferrals were stored")
	}
	w.Wait()
	if n := sched.done.Load(); n != jobs {
		t.Fatalf("%d jobs deferred, want %d", n, jobs)
	}
	if n := msg.acks.Load(); n != 1 {
		t.Fatalf("message acked %d times, want once", n)
	}
}

type unloadable struct{}

func (unloadable) Get(context.Context, string) (*fluxhook.Webhook, []string, error) {
	return nil, nil, errors.New("database unavailable")
}
func (unloadable) MarkFailing(context.Context, string, *time.Time) error { return nil }
func (unloadable) Disable(context.Context, string, string) error         { return nil }

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, *fluxhook.Attempt) error { return nil }
func (nopRecorder) Delivered(context.Context, []string) (map[string]bool, error) {
	return nil, nil
}

// slowScheduler stores deferrals only once released, counting how many
// wait at once.
type slowScheduler struct {
	release     chan struct{}
	mu          sync.Mutex
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	done        atomic.Int64
}

func (s *slowScheduler) Defer(ctx context.Context, _ wire.Job, _ time.Time) error {
	n := s.inFlight.Add(1)
	s.mu.Lock()
	if n > s.maxInFlight.Load() {
		s.maxInFlight.Store(n)
	}
	s.mu.Unlock()
	defer s.inFlight.Add(-1)
	select {
	case <-s.release:
		s.done.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (s *slowScheduler) ScheduleRetry(context.Context, wire.Job, time.Time) error { return nil }
func (s *slowScheduler) PublishDead(context.Context, wire.Job, string) error      { return nil }

// packMsg is a JetStream message holding a pack, delivered once.
type packMsg struct {
	data []byte
	acks atomic.Int64
}

var _ jetstream.Msg = (*packMsg)(nil)

func (m *packMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: 1}, nil
}
func (m *packMsg) Data() []byte                     { return m.data }
func (m *packMsg) Headers() nats.Header             { return nil }
func (m *packMsg) Subject() string                  { return "fluxhook.jobs.pack" }
func (m *packMsg) Reply() string                    { return "" }
func (m *packMsg) Ack() error                       { m.acks.Add(1); return nil }
func (m *packMsg) DoubleAck(context.Context) error  { m.acks.Add(1); return nil }
func (m *packMsg) Nak() error                       { return nil }
func (m *packMsg) NakWithDelay(time.Duration) error { return nil }
func (m *packMsg) InProgress() error                { return nil }
func (m *packMsg) Term() error                      { return nil }
func (m *packMsg) TermWithReason(string) error      { return nil }
