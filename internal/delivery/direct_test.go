package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/retry"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// deferLog passes deferrals on to the real publisher and keeps a copy.
type deferLog struct {
	*events.Publisher
	mu     sync.Mutex
	defers []deferral
}

type deferral struct {
	job wire.Job
	at  time.Time
}

func (d *deferLog) Defer(ctx context.Context, job wire.Job, at time.Time) error {
	d.mu.Lock()
	d.defers = append(d.defers, deferral{job, at})
	d.mu.Unlock()
	return d.Publisher.Defer(ctx, job, at)
}

// direct is one webhook on url and a worker the test hands jobs to
// itself, on real SQLite and an embedded NATS, its deferrals logged.
type direct struct {
	t      *testing.T
	db     *store.DB
	hook   *fluxhook.Webhook
	worker *delivery.Worker
	pub    *events.Publisher
	sched  *deferLog
	cons   jetstream.Consumer
}

func newDirect(t *testing.T, url string, o delivery.Options) *direct {
	t.Helper()
	ctx := context.Background()
	_, js, pub := newJetStream(t)
	cons, err := js.Consumer(ctx, events.StreamDeliveries, events.ConsumerWorker)
	if err != nil {
		t.Fatal(err)
	}
	db, admin := newTestDB(t)
	bus := &cachebus.Local{}
	policy := outbound.Policy{AllowInsecure: true, AllowPrivate: true}
	svc := webhooks.New(db, testBox(), policy, nil, bus, nil)
	hook, _, err := svc.Create(ctx, &fluxhook.Actor{UserID: admin.ID, Role: admin.Role}, webhooks.Input{URL: &url, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	d := &direct{t: t, db: db, hook: hook, pub: pub, sched: &deferLog{Publisher: pub}, cons: cons}
	d.worker = delivery.New(delivery.NewHookCache(svc, bus, nil), outbound.NewClient(policy, outbound.ClientOptions{Timeout: 5 * time.Second}),
		ratelimit.NewLocal(time.Now), &dbRecorder{db: db}, d.sched, slog.New(slog.NewTextHandler(io.Discard, nil)),
		delivery.NewMetrics(prometheus.NewRegistry()), o)
	return d
}

// job is a new job for the webhook.
func (d *direct) job() wire.Job {
	return wire.Job{DeliveryID: store.NewID(), EventID: store.NewID(), Event: "order.paid", WebhookID: d.hook.ID, Attempt: 1,
		Payload: json.RawMessage(`{}`)}
}

// handle stores jobs as one pack, hands it to the worker and returns
// once every job is settled.
func (d *direct) handle(jobs ...wire.Job) {
	d.t.Helper()
	ctx := context.Background()
	if err := d.pub.PublishJobs(ctx, jobs); err != nil {
		d.t.Fatal(err)
	}
	batch, err := d.cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		d.t.Fatal(err)
	}
	for msg := range batch.Messages() {
		d.worker.Handle(ctx, msg)
	}
	d.worker.Wait()
}

// TestParkedJobWaitsItsRetryScheduleToo: once a dead endpoint's circuit
// is open, a job parked for the n-th time comes back no sooner than the
// retry schedule's n-th wait, and carries the count; so a job of an
// endpoint down for days is read and written about as often as its
// retries would be, not every minute.
func TestParkedJobWaitsItsRetryScheduleToo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/hook"
	ln.Close() // nothing listens: connections are refused
	now := time.Now().UTC().Truncate(time.Second)
	d := newDirect(t, url, delivery.Options{
		Schedule: retry.Schedule{Delays: []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour}},
		Now:      func() time.Time { return now },
	})
	sched := d.sched

	// Five attempts find nobody listening: the circuit opens. Each is a
	// failed attempt with its retry scheduled, not a deferral.
	for range 5 {
		d.handle(d.job())
	}
	if len(sched.defers) != 0 {
		t.Fatalf("%d jobs deferred while the circuit was closed, want 0", len(sched.defers))
	}
	for _, tc := range []struct {
		parked int
		wait   time.Duration
	}{
		{0, time.Hour},      // the first parking: the schedule's first wait, far above the circuit's 5 s
		{1, 6 * time.Hour},  // the second
		{7, 24 * time.Hour}, // beyond the schedule: its last wait
	} {
		before := len(sched.defers)
		job := d.job()
		job.Parked = tc.parked
		d.handle(job)
		if len(sched.defers) != before+1 {
			t.Fatalf("parked %d times before: %d deferrals, want 1", tc.parked, len(sched.defers)-before)
		}
		d := sched.defers[before]
		if d.job.Parked != tc.parked+1 {
			t.Errorf("parked %d times before: the deferred job says %d, want %d", tc.parked, d.job.Parked, tc.parked+1)
		}
		if got := d.at.Sub(now); got < tc.wait || got > tc.wait+time.Second {
			t.Errorf("parked %d times before: back in %v, want %v", tc.parked, got, tc.wait)
		}
		if d.job.Attempt != 1 {
			t.Errorf("a parked job used up an attempt: attempt %d", d.job.Attempt)
		}
	}
}

// TestJobsDispatchedAgainAreNotSentAgain: jobs of an event dispatched a
// second time (wire.Job.Again) are looked up among the delivered before
// they are sent: the one delivered already is not sent again, the one
// that was not is. Without the flag there is no lookup (a first
// delivery costs none), and a repeat is sent.
func TestJobsDispatchedAgainAreNotSentAgain(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	t.Cleanup(endpoint.Close)
	d := newDirect(t, endpoint.URL, delivery.Options{Schedule: retry.Schedule{Delays: []time.Duration{time.Hour}}})
	sent := func(j wire.Job) int {
		mu.Lock()
		defer mu.Unlock()
		return got[j.DeliveryID]
	}

	first, missed := d.job(), d.job()
	d.handle(first)
	if n := sent(first); n != 1 {
		t.Fatalf("the first job was sent %d times, want 1", n)
	}
	firstAgain, missedAgain := first, missed
	firstAgain.Again, missedAgain.Again = true, true
	d.handle(firstAgain, missedAgain)
	if n := sent(first); n != 1 {
		t.Errorf("a job delivered already, dispatched again, was sent %d times in all, want 1", n)
	}
	if n := sent(missed); n != 1 {
		t.Errorf("a job dispatched again that had not been delivered was sent %d times, want 1", n)
	}
	d.handle(first) // not flagged: no lookup, so it goes out again
	if n := sent(first); n != 2 {
		t.Errorf("an unflagged repeat was sent %d times in all, want 2 (no lookup without the flag)", n)
	}
}

// TestExhaustedDeliveryIsAnnounced: a delivery whose last attempt fails
// is announced with a delivery.exhausted event for the webhook's owner;
// one of an operational event is not (a dead endpoint subscribed to them
// would be sent one about each it missed, for ever).
func TestExhaustedDeliveryIsAnnounced(t *testing.T) {
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(endpoint.Close)
	var mu sync.Mutex
	var announced []fluxhook.Event
	d := newDirect(t, endpoint.URL, delivery.Options{
		Schedule: retry.Schedule{Delays: []time.Duration{time.Hour}},
		Announce: func(_ context.Context, e fluxhook.Event) error {
			mu.Lock()
			defer mu.Unlock()
			announced = append(announced, e)
			return nil
		},
	})
	last := d.job()
	last.Attempt = 2 // the schedule has one retry: this is the last attempt
	last.FirstAttemptAt = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	ops := d.job()
	ops.Attempt, ops.Event = 2, fluxhook.EventWebhookDisabled
	d.handle(last, ops)

	mu.Lock()
	defer mu.Unlock()
	if len(announced) != 1 {
		t.Fatalf("%d events announced, want 1: %+v", len(announced), announced)
	}
	e := announced[0]
	if e.Event != fluxhook.EventDeliveryExhausted || e.UserID != d.hook.UserID || e.ID == "" || e.Timestamp.IsZero() {
		t.Fatalf("announced %+v, want a delivery.exhausted for the owner %s", e, d.hook.UserID)
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data, &data); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{
		"webhook_id": d.hook.ID, "url": d.hook.URL, "delivery_id": last.DeliveryID, "event_id": last.EventID, "event": last.Event,
		"attempts": float64(2), "last_status": float64(500), "first_attempt_at": last.FirstAttemptAt.Format(time.RFC3339Nano),
	} {
		if data[k] != v {
			t.Errorf("data[%q] = %v, want %v (%s)", k, data[k], v, e.Data)
		}
	}
	if data["last_error"] == "" || data["last_error"] == nil {
		t.Errorf("no last_error in %s", e.Data)
	}
}
