package delivery_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// clock is a settable test clock.
type clock struct{ t atomic.Pointer[time.Time] }

func (c *clock) Now() time.Time  { return *c.t.Load() }
func (c *clock) Set(t time.Time) { c.t.Store(&t) }

// healthLog passes the worker's health changes on to the real cache and
// keeps a copy of each. The database alone cannot tell one write of
// failing_since from two: it keeps the first start of a run.
type healthLog struct {
	*delivery.HookCache
	mu       sync.Mutex
	marks    []*time.Time
	disables []string
}

func (h *healthLog) MarkFailing(ctx context.Context, id string, t *time.Time) error {
	h.mu.Lock()
	h.marks = append(h.marks, t)
	h.mu.Unlock()
	return h.HookCache.MarkFailing(ctx, id, t)
}

func (h *healthLog) Disable(ctx context.Context, id, reason string) error {
	h.mu.Lock()
	h.disables = append(h.disables, reason)
	h.mu.Unlock()
	return h.HookCache.Disable(ctx, id, reason)
}

func (h *healthLog) counts() (marks []*time.Time, disables int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*time.Time(nil), h.marks...), len(h.disables)
}

// graceFixture is one webhook and a worker on a clock the test sets:
// real SQLite, embedded NATS and an HTTP endpoint that answers what the
// test says. The test hands the worker one job at a time.
type graceFixture struct {
	t      *testing.T
	db     *store.DB
	clock  *clock
	health *healthLog
	hook   *fluxhook.Webhook
	worker *delivery.Worker
	pub    *events.Publisher
	jobs   jetstream.Consumer
	status atomic.Int32 // the endpoint's next answer
}

func newGraceFixture(t *testing.T, o delivery.Options) *graceFixture {
	t.Helper()
	ctx := context.Background()
	_, js, pub := newJetStream(t)
	jobs, err := js.Consumer(ctx, events.StreamDeliveries, events.ConsumerWorker)
	if err != nil {
		t.Fatal(err)
	}

	f := &graceFixture{t: t, clock: &clock{}, pub: pub, jobs: jobs}
	f.status.Store(http.StatusOK)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(f.status.Load()))
	}))
	t.Cleanup(endpoint.Close)

	db, admin := newTestDB(t)
	bus := &cachebus.Local{}
	policy := outbound.Policy{AllowInsecure: true, AllowPrivate: true}
	svc := webhooks.New(db, testBox(), policy, nil, bus, nil)
	url := endpoint.URL
	f.hook, _, err = svc.Create(ctx, &fluxhook.Actor{UserID: admin.ID, Role: admin.Role}, webhooks.Input{URL: &url, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	f.db = db
	f.health = &healthLog{HookCache: delivery.NewHookCache(svc, bus, nil)}

	// Retries wait an hour of the test's clock, which starts now and only
	// moves forward: none comes back while the test hands out its jobs.
	o.Schedule = retry.Schedule{Delays: []time.Duration{time.Hour}}
	f.clock.Set(time.Now().UTC().Truncate(time.Second))
	o.Now = f.clock.Now
	f.worker = delivery.New(f.health, outbound.NewClient(policy, outbound.ClientOptions{Timeout: 5 * time.Second}),
		ratelimit.NewLocal(time.Now), &dbRecorder{db: db}, pub, slog.New(slog.NewTextHandler(io.Discard, nil)),
		delivery.NewMetrics(prometheus.NewRegistry()), o)
	return f
}

// attempt makes one delivery attempt at the given time, the endpoint
// answering status, and returns once it is recorded and its next step
// (retry, health bookkeeping) is done.
func (f *graceFixture) attempt(at time.Time, status int) {
	f.t.Helper()
	ctx := context.Background()
	f.clock.Set(at)
	f.status.Store(int32(status))
	eventID := store.NewID()
	job := wire.Job{DeliveryID: store.NewID(), EventID: eventID, Event: "order.paid", WebhookID: f.hook.ID, Attempt: 1,
		Payload: json.RawMessage(`{}`)}
	if err := f.pub.PublishJobs(ctx, []wire.Job{job}); err != nil {
		f.t.Fatal(err)
	}
	batch, err := f.jobs.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		f.t.Fatal(err)
	}
	var got int
	for msg := range batch.Messages() {
		f.worker.Handle(ctx, msg)
		got++
	}
	if got != 1 {
		f.t.Fatalf("fetched %d jobs, want 1 (%v)", got, batch.Error())
	}
	f.worker.Wait()

	// The attempt was made and recorded as the endpoint's answer says:
	// otherwise the health bookkeeping below saw nothing.
	as, err := f.db.Attempts(ctx, f.hook.ID, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	want := fluxhook.DeliveryRetrying
	if status < 300 {
		want = fluxhook.DeliveryDelivered
	}
	if len(as) != 1 || as[0].DeliveryID != job.DeliveryID || as[0].Status != want {
		f.t.Fatalf("latest attempt %+v, want delivery %s %s", as, job.DeliveryID, want)
	}
}

// TestFailingGrace: a run of failures is written down as the webhook's
// failing_since only once it has lasted FailingGrace, and then with the
// time of the failure that passed the grace; a success inside the grace
// ends the run, so the next failure starts a new grace; DisableAfter
// counts from failing_since, not from the run's first failure.
func TestFailingGrace(t *testing.T) {
	const (
		fail = http.StatusServiceUnavailable
		ok   = http.StatusOK
	)
	type step struct {
		at     time.Duration // since the first attempt
		status int           // the endpoint's answer
		// marks: this attempt writes failing_since, with its own time.
		marks bool
		// disables: this attempt turns the webhook off.
		disables bool
	}
	const grace, disableAfter = 10 * time.Minute, time.Hour
	for _, tt := range []struct {
		name  string
		grace time.Duration // Options.FailingGrace
		steps []step
	}{
		{"failures inside the grace write nothing, the one that passes it writes its own time", grace, []step{
			{at: 0, status: fail},
			{at: grace / 2, status: fail},
			{at: grace - time.Second, status: fail},
			{at: grace, status: fail, marks: true},
			// Once written, later failures of the run write nothing more.
			{at: grace + time.Second, status: fail},
			{at: 2 * grace, status: fail},
		}},
		{"a success inside the grace ends the run", grace, []step{
			{at: 0, status: fail},
			{at: grace / 2, status: ok},
			// More than a grace after the first failure, but the first
			// of a new run: its grace starts here.
			{at: grace + time.Second, status: fail},
			{at: 2 * grace, status: fail},
			{at: 2*grace + time.Second, status: fail, marks: true},
		}},
		{"DisableAfter counts from failing_since", grace, []step{
			{at: 0, status: fail},
			{at: grace, status: fail, marks: true},
			// DisableAfter past failing_since, and more than that past the
			// first failure: still on.
			{at: grace + disableAfter, status: fail},
			{at: grace + disableAfter + time.Second, status: fail, disables: true},
		}},
		{"the default grace is a minute", 0, []step{
			{at: 0, status: fail},
			{at: time.Minute - time.Second, status: fail},
			{at: time.Minute, status: fail, marks: true},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newGraceFixture(t, delivery.Options{FailingGrace: tt.grace, DisableAfter: disableAfter})
			start := f.clock.Now()
			var wantMarks, wantDisables int
			for _, s := range tt.steps {
				at := start.Add(s.at)
				f.attempt(at, s.status)
				if s.marks {
					wantMarks++
				}
				if s.disables {
					wantDisables++
				}
				marks, disables := f.health.counts()
				if len(marks) != wantMarks || disables != wantDisables {
					t.Fatalf("after a %d at +%v: %d writes of failing_since (%v) and %d disables, want %d and %d",
						s.status, s.at, len(marks), marks, disables, wantMarks, wantDisables)
				}
				if s.marks && (marks[len(marks)-1] == nil || !marks[len(marks)-1].Equal(at)) {
					t.Fatalf("after a %d at +%v: failing_since written as %v, want the time of this failure %v", s.status, s.at, marks[len(marks)-1], at)
				}
				w, err := f.db.Webhook(context.Background(), f.hook.ID)
				if err != nil {
					t.Fatal(err)
				}
				if wantMarks == 0 && w.FailingSince != nil {
					t.Fatalf("after a %d at +%v: failing_since %v in the database, want none", s.status, s.at, w.FailingSince)
				}
				if s.marks && (w.FailingSince == nil || !w.FailingSince.Equal(at)) {
					t.Fatalf("after a %d at +%v: failing_since %v in the database, want %v", s.status, s.at, w.FailingSince, at)
				}
				if w.IsActive != (wantDisables == 0) {
					t.Fatalf("after a %d at +%v: webhook active = %v, want %v", s.status, s.at, w.IsActive, wantDisables == 0)
				}
			}
		})
	}
}
