package replay_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/replay"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/store/storetest"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// jobLog records the jobs a runner queues; block, when set, holds every
// call after the first n until the call's context ends.
type jobLog struct {
	mu    sync.Mutex
	jobs  []wire.Job
	calls int
	block int // 0: never
	first time.Time
}

func (l *jobLog) PublishJobs(ctx context.Context, jobs []wire.Job) error {
	l.mu.Lock()
	l.calls++
	if l.block > 0 && l.calls > l.block {
		l.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	if l.first.IsZero() {
		l.first = time.Now()
	}
	l.jobs = append(l.jobs, jobs...)
	l.mu.Unlock()
	return nil
}

func (l *jobLog) got() []wire.Job {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.jobs)
}

type fixture struct {
	db     *store.DB
	js     jetstream.JetStream
	hook   *fluxhook.Webhook
	events []fluxhook.Event // of the window, oldest first; the last is not subscribed
	since  time.Time
	until  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := testenv.Context(t, 20*time.Second)
	db, _, _ := storetest.Open(t, "sqlite", time.Now)
	nc, err := nats.Connect(testenv.NATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := events.EnsureStreams(ctx, js, events.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := events.NewPublisher(nc, events.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owner := storetest.Actor(t, db, "owner@example.com", fluxhook.RoleUser)
	hook := &fluxhook.Webhook{UserID: owner.UserID, URL: "https://example.com/h", Events: []string{"order.*"}, IsActive: true, SecretEnc: []byte("x")}
	if err := db.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, js: js, hook: hook}
	publish := func(name, user string) fluxhook.Event {
		e := fluxhook.Event{ID: wire.NewID(), Event: name, Timestamp: time.Now().UTC(), Data: []byte(`{}`), UserID: user}
		if _, err := pub.PublishEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	publish("order.paid", owner.UserID) // before the window
	time.Sleep(10 * time.Millisecond)
	f.since = time.Now().UTC()
	for range 6 {
		f.events = append(f.events, publish("order.paid", owner.UserID))
	}
	publish("order.paid", "another-tenant") // in the window, not this owner's
	publish("user.created", owner.UserID)   // in the window, not subscribed
	f.until = time.Now().UTC()
	time.Sleep(10 * time.Millisecond)
	publish("order.paid", owner.UserID) // after the window

	// Event 0 was delivered at its first attempt, event 1 failed after 3.
	at := time.Now()
	d0, d1 := f.deliveryID(0), f.deliveryID(1)
	if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{
		{DeliveryID: d0, WebhookID: hook.ID, EventID: f.events[0].ID, Event: "order.paid", Payload: []byte(`{}`), Status: fluxhook.DeliveryDelivered, Attempt: 1, CreatedAt: at},
		{DeliveryID: d1, WebhookID: hook.ID, EventID: f.events[1].ID, Event: "order.paid", Payload: []byte(`{}`), Status: fluxhook.DeliveryRetrying, Attempt: 1, CreatedAt: at},
		{DeliveryID: d1, WebhookID: hook.ID, EventID: f.events[1].ID, Event: "order.paid", Payload: []byte(`{}`), Status: fluxhook.DeliveryFailed, Attempt: 3, CreatedAt: at},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) deliveryID(i int) string {
	return wire.DeliveryID(f.events[i].ID, f.events[i].Timestamp, f.hook.ID)
}

func (f *fixture) start(t *testing.T, status *string) *fluxhook.Replay {
	t.Helper()
	r := &fluxhook.Replay{WebhookID: f.hook.ID, Kind: fluxhook.ReplayEvents, Since: &f.since, Until: &f.until, Status: status}
	if err := f.db.CreateReplay(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

// runUntil runs a runner until replay id reaches a final state.
func (f *fixture) runUntil(t *testing.T, id string, jobs replay.JobPublisher, backlog replay.Backlog, o replay.Options) *fluxhook.Replay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := replay.NewRunner(f.db, f.js, jobs, backlog, "runner-"+wire.NewID(), slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		rp, err := f.db.Replay(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !rp.Active() {
			return rp
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("replay %s did not finish", id)
	return nil
}

func ids(jobs []wire.Job) map[string]int {
	out := map[string]int{}
	for _, j := range jobs {
		out[j.DeliveryID] = j.Attempt
	}
	return out
}

// TestRunnerReplaysTheWindowByTheCurrentSubscription: of the window's
// events, exactly those the webhook receives now are queued, each with
// its delivery's id and the attempt after its last; the status option
// keeps those in that state.
func TestRunnerReplaysTheWindowByTheCurrentSubscription(t *testing.T) {
	f := newFixture(t)
	str := func(s string) *string { return &s }
	tests := []struct {
		status *string
		want   map[int]int // event index -> attempt
	}{
		{nil, map[int]int{0: 2, 1: 4, 2: 1, 3: 1, 4: 1, 5: 1}},
		{str(fluxhook.DeliveryFailed), map[int]int{1: 4}},
		{str(fluxhook.DeliveryDelivered), map[int]int{0: 2}},
		{str(fluxhook.ReplayMissed), map[int]int{2: 1, 3: 1, 4: 1, 5: 1}},
	}
	for _, tt := range tests {
		log := &jobLog{}
		r := f.start(t, tt.status)
		done := f.runUntil(t, r.ID, log, nil, replay.Options{Poll: 10 * time.Millisecond})
		want := map[string]int{}
		for i, a := range tt.want {
			want[f.deliveryID(i)] = a
		}
		got := log.got()
		if done.State != fluxhook.ReplayDone || done.EventsScanned != 8 || done.EventsMatched != 6 || done.Queued != int64(len(want)) ||
			len(got) != len(want) {
			t.Fatalf("status %v: replay %+v, %d jobs; want done, 8 scanned, 6 matched, %d queued", tt.status, done, len(got), len(want))
		}
		for id, a := range ids(got) {
			if want[id] != a {
				t.Errorf("status %v: job %s attempt %d; want %v", tt.status, id, a, want)
			}
		}
		for _, j := range got {
			if j.WebhookID != f.hook.ID || j.Again || len(j.Payload) == 0 || j.EventAt.IsZero() {
				t.Errorf("job %+v", j)
			}
		}
	}
}

// TestRunnerResumesAfterItsRunnerDies: a runner that stops half-way
// leaves its replay leased; once the lease lapses another runner takes
// it up from its cursor, and between them every event is queued once.
func TestRunnerResumesAfterItsRunnerDies(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, nil)
	o := replay.Options{Poll: 10 * time.Millisecond, Batch: 2, Lease: 600 * time.Millisecond}
	stuck := &jobLog{block: 1} // the first batch goes, then it hangs
	ctx, cancel := context.WithCancel(context.Background())
	first := replay.NewRunner(f.db, f.js, stuck, nil, "first", slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	// Dies once its first batch is queued and recorded (dying in
	// between would queue that batch again: the same deliveries, which
	// at-least-once allows).
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if rp, err := f.db.Replay(ctx, r.ID); err == nil && rp.Queued == 2 {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the first batch was not queued")
		}
	}
	cancel() // the first runner dies
	<-done
	rest := &jobLog{}
	fin := f.runUntil(t, r.ID, rest, nil, o)
	all := append(stuck.got(), rest.got()...)
	if fin.State != fluxhook.ReplayDone || len(all) != 6 || len(ids(all)) != 6 || fin.Queued != 6 {
		t.Fatalf("after the take-over: %+v; %d jobs for %d deliveries, want 6 once each", fin, len(all), len(ids(all)))
	}
}

// TestRunnerIsPaced: no job is queued while the workers have a backlog,
// and then no faster than the rate.
func TestRunnerIsPaced(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, nil)
	start := time.Now()
	backlog := func(context.Context) (uint64, error) {
		if time.Since(start) < 500*time.Millisecond {
			return 1000, nil
		}
		return 0, nil
	}
	log := &jobLog{}
	// 6 jobs at 4 a second: batches of 4, then 2 a second later.
	fin := f.runUntil(t, r.ID, log, backlog, replay.Options{Poll: 10 * time.Millisecond, Rate: 4})
	if fin.Queued != 6 {
		t.Fatalf("replay %+v", fin)
	}
	if d := log.first.Sub(start); d < 450*time.Millisecond {
		t.Errorf("the first job was queued %v after the start, while the workers had a backlog", d)
	}
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Errorf("6 jobs at 4 a second took %v", d)
	}
}

// TestRunnerPlacesAnOrderedWebhooksEvents: replayed to a FIFO webhook,
// each event carries its ordering key and its place in EVENTS (the
// message's sequence and its position in it), as the dispatcher places
// live ones, so the ordered lane queues it in acceptance order; the
// jobs of an unordered webhook carry none.
func TestRunnerPlacesAnOrderedWebhooksEvents(t *testing.T) {
	f := newFixture(t)
	f.hook.Ordering = fluxhook.OrderingFIFO
	if err := f.db.UpdateWebhook(context.Background(), f.hook); err != nil {
		t.Fatal(err)
	}
	log := &jobLog{}
	r := f.start(t, nil)
	if done := f.runUntil(t, r.ID, log, nil, replay.Options{Poll: 10 * time.Millisecond}); done.State != fluxhook.ReplayDone {
		t.Fatalf("replay %+v", done)
	}
	got := log.got()
	if len(got) != len(f.events) {
		t.Fatalf("%d jobs, want %d", len(got), len(f.events))
	}
	byID := map[string]wire.Job{}
	for _, j := range got {
		byID[j.DeliveryID] = j
	}
	var last uint64
	for i := range f.events {
		j, ok := byID[f.deliveryID(i)]
		if !ok || j.Order == nil {
			t.Fatalf("event %d: job %+v, want one with its place in EVENTS", i, j)
		}
		if j.Order.Key != f.events[i].OrderingKey || j.Order.Index != 0 || j.Order.Seq <= last {
			t.Fatalf("event %d: order %+v after sequence %d; want its own key, position 0 and a later sequence", i, *j.Order, last)
		}
		last = j.Order.Seq
	}

	f.hook.Ordering = ""
	if err := f.db.UpdateWebhook(context.Background(), f.hook); err != nil {
		t.Fatal(err)
	}
	log = &jobLog{}
	r = f.start(t, nil)
	f.runUntil(t, r.ID, log, nil, replay.Options{Poll: 10 * time.Millisecond})
	for _, j := range log.got() {
		if j.Order != nil {
			t.Fatalf("unordered webhook's job %s carries an order %+v", j.DeliveryID, *j.Order)
		}
	}
}
