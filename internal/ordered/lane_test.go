package ordered

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// scripted is a Deliverer whose n-th attempt of an event does what the
// script says, through the lane's Scheduler as the worker would: it
// succeeds, fails with a retry, or is given up.
type scripted struct {
	sched  *Scheduler
	script func(eventID string, attempt int) string // "ok", "retry", "dead"

	mu    sync.Mutex
	tries []string // event id and attempt, in the order made
	dead  []string
}

func (s *scripted) Attempt(ctx context.Context, job wire.Job) delivery.Step {
	s.mu.Lock()
	s.tries = append(s.tries, fmt.Sprintf("%s#%d", job.EventID, job.Attempt))
	s.mu.Unlock()
	switch s.script(job.EventID, job.Attempt) {
	case "retry":
		next := job
		next.Attempt++
		if err := s.sched.ScheduleRetry(ctx, next, time.Now().Add(150*time.Millisecond)); err != nil {
			return delivery.Step{Delay: time.Second, Job: job}
		}
		return delivery.Step{Done: true, Outcome: "retry", Job: job}
	case "dead":
		if err := s.sched.PublishDead(ctx, job, "gave up"); err != nil {
			return delivery.Step{Delay: time.Second, Job: job}
		}
		return delivery.Step{Done: true, Outcome: "failed", Job: job}
	}
	return delivery.Step{Done: true, Outcome: "success", Job: job}
}

func (s *scripted) PublishDead(_ context.Context, job wire.Job, _ string) error {
	s.mu.Lock()
	s.dead = append(s.dead, job.EventID)
	s.mu.Unlock()
	return nil
}

func (s *scripted) Delivered(context.Context, []string) (map[string]bool, error) { return nil, nil }

func (s *scripted) got() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tries...), append([]string(nil), s.dead...)
}

func laneJob(webhookID, key string, seq uint64) wire.Job {
	id := fmt.Sprintf("e%d", seq)
	return wire.Job{DeliveryID: wire.DeliveryID(id, time.Unix(1_700_000_000, 0), webhookID), EventID: id, Event: "order.paid",
		WebhookID: webhookID, Attempt: 1, Payload: []byte(`{}`), Order: &wire.Order{Key: key, Seq: seq}}
}

// TestLaneDeliversHeadFirst: with a real queue (SQLite), the lane waits
// for the floor to pass a head's event, delivers a key's jobs in order,
// retries a failing head in place before anything behind it, moves on
// once a head is given up (dead letter), and lets another key flow
// while one waits for its retry.
func TestLaneDeliversHeadFirst(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u := &fluxhook.User{Email: "lane@example.com", Role: fluxhook.RoleDashboardAdmin, PasswordHash: "x"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	w := &fluxhook.Webhook{UserID: u.ID, URL: "https://o.example/", Events: []string{"*"}, IsActive: true, SecretEnc: []byte("s"), Ordering: fluxhook.OrderingFIFO}
	if err := db.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}

	d := &scripted{script: func(id string, attempt int) string {
		switch {
		case id == "e1" && attempt < 3:
			return "retry" // twice, then delivered
		case id == "e3":
			return "dead"
		}
		return "ok"
	}}
	sched := NewScheduler(db, d)
	d.sched = sched
	var floor atomic.Uint64
	floor.Store(0)
	lane := NewLane(db, sched, d, d, func(context.Context) (uint64, error) { return floor.Load(), nil },
		slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry()), Options{Poll: 20 * time.Millisecond})
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- lane.Run(lctx) }()
	t.Cleanup(func() { stop(); <-done })

	// Key a: e1 (retried twice), e3 (given up), e4; key b: e2, e5.
	var jobs []wire.Job
	for seq, key := range map[uint64]string{1: "a", 2: "b", 3: "a", 4: "a", 5: "b"} {
		jobs = append(jobs, laneJob(w.ID, key, seq))
	}
	if err := db.EnqueueOrdered(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if tries, _ := d.got(); len(tries) != 0 {
		t.Fatalf("attempts %v before the floor passed any head, want none", tries)
	}
	floor.Store(5)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, err := db.OrderedBacklog(ctx); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			tries, _ := d.got()
			t.Fatalf("the queue did not drain: attempts so far %v", tries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tries, dead := d.got()
	var a, b []string
	for _, tr := range tries {
		switch tr[:2] {
		case "e1", "e3", "e4":
			a = append(a, tr)
		default:
			b = append(b, tr)
		}
	}
	if got, want := fmt.Sprint(a), "[e1#1 e1#2 e1#3 e3#1 e4#1]"; got != want {
		t.Errorf("key a's attempts %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(b), "[e2#1 e5#1]"; got != want {
		t.Errorf("key b's attempts %s, want %s", got, want)
	}
	if fmt.Sprint(dead) != "[e3]" {
		t.Errorf("dead letters %v, want [e3]", dead)
	}
	// Key b did not wait for key a's retries.
	if last := tries[len(tries)-1]; last == "e5#1" {
		t.Errorf("key b's last job came after all of key a's: %v", tries)
	}
}
