package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/dispatch"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/retry"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/webhooks"
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// dbRecorder records each attempt with its own insert: the batching
// recorder has tests of its own, and this keeps the pipeline test about
// the pipeline. A test can hold the records back, as a database restart
// does.
type dbRecorder struct {
	db      *store.DB
	mu      sync.RWMutex // held (exclusively) while records are held back
	waiting atomic.Int64
}

func (r *dbRecorder) Record(ctx context.Context, a *fluxhook.Attempt) error {
	r.waiting.Add(1)
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.waiting.Add(-1)
	return r.db.InsertAttempts(ctx, []*fluxhook.Attempt{a})
}

func (r *dbRecorder) Delivered(ctx context.Context, ids []string) (map[string]bool, error) {
	return r.db.Delivered(ctx, ids)
}

// newTestDB opens a migrated SQLite store holding one dashboard admin.
func newTestDB(t *testing.T) (*store.DB, *fluxhook.User) {
	t.Helper()
	return openTestDB(t, "sqlite://"+filepath.Join(t.TempDir(), "db"))
}

// openTestDB opens and migrates the store at url and adds one dashboard
// admin.
func openTestDB(t *testing.T, url string) (*store.DB, *fluxhook.User) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	admin := &fluxhook.User{Email: "admin@example.com", Role: fluxhook.RoleDashboardAdmin, PasswordHash: "x"}
	if err := db.CreateUser(ctx, admin); err != nil {
		t.Fatal(err)
	}
	return db, admin
}

func testBox() *secretbox.Box {
	box, _ := secretbox.New(bytes.Repeat([]byte{1}, 32))
	return box
}

// hold keeps records from being written until the returned release is
// called (or the test ends), as a database restart does.
func (r *dbRecorder) hold(t *testing.T) (release func()) {
	r.mu.Lock()
	release = sync.OnceFunc(r.mu.Unlock)
	t.Cleanup(release)
	return release
}

// pipeline is a dispatcher and a worker on an embedded NATS server and a
// SQLite store, as the all-in-one runs them.
type pipeline struct {
	t       *testing.T
	db      *store.DB
	pub     *events.Publisher
	hooks   *webhooks.Service
	js      jetstream.JetStream
	admin   *fluxhook.Actor
	bus     cachebus.Bus
	rec     *dbRecorder
	counter atomic.Int64
}

// newJetStream starts an embedded NATS server with Fluxhook's streams and
// consumers and returns a connection, its JetStream and a publisher.
func newJetStream(t *testing.T) (*nats.Conn, jetstream.JetStream, *events.Publisher) {
	t.Helper()
	ctx := context.Background()
	srv, err := events.StartEmbedded(events.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := events.ConnectEmbedded(srv, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	if err := events.EnsureStreams(ctx, js, events.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureConsumers(ctx, js, events.ConsumersConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := events.NewPublisher(nc, events.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, pub
}

func newPipeline(t *testing.T, concurrency int, timeout time.Duration, opts ...func(*delivery.Options)) *pipeline {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	nc, js, pub := newJetStream(t)
	db, admin := newTestDB(t)
	box := testBox()
	bus, _ := cachebus.NewNATS(nc)
	policy := outbound.Policy{AllowInsecure: true, AllowPrivate: true}
	hooks := webhooks.New(db, box, policy, nil, bus, nil)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()

	subs := dispatch.NewSubscriptions(db)
	bus.Subscribe(cachebus.Webhook, subs.Invalidate)
	if err := subs.Load(ctx); err != nil {
		t.Fatal(err)
	}
	d := dispatch.New(subs, pub, logger, dispatch.NewMetrics(reg, subs))
	o := delivery.Options{Schedule: retry.Schedule{Delays: []time.Duration{time.Second, time.Second}}, PerWebhookInFlight: 4, Concurrency: concurrency}
	for _, f := range opts {
		f(&o)
	}
	if o.AckWait > 0 {
		// The consumer's ack wait is the one the worker must beat.
		if err := events.EnsureConsumers(ctx, js, events.ConsumersConfig{WorkerAckWait: o.AckWait}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &dbRecorder{db: db}
	w := delivery.New(delivery.NewHookCache(hooks, bus, nil), outbound.NewClient(policy, outbound.ClientOptions{Timeout: timeout}),
		ratelimit.NewLocal(time.Now), rec, pub, logger, delivery.NewMetrics(reg), o)
	evCons, _ := js.Consumer(ctx, events.StreamEvents, events.ConsumerDispatcher)
	jobCons, _ := js.Consumer(ctx, events.StreamDeliveries, events.ConsumerWorker)
	var wg sync.WaitGroup
	for _, run := range []func(){
		func() { _ = subs.Run(ctx) },
		func() { _ = events.Consume(ctx, evCons, 4, d.Handle) },
		func() { _ = events.Consume(ctx, jobCons, concurrency, w.Handle); w.Wait() },
	} {
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &pipeline{t: t, db: db, pub: pub, hooks: hooks, js: js, admin: &fluxhook.Actor{UserID: admin.ID, Role: admin.Role}, bus: bus, rec: rec}
}

// webhook subscribes url to every event, signed with secret.
func (p *pipeline) webhook(url, secret string) *fluxhook.Webhook {
	p.t.Helper()
	w, _, err := p.hooks.Create(context.Background(), p.admin, webhooks.Input{URL: &url, Events: []string{"*"}, Secret: &secret})
	if err != nil {
		p.t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the subscription cache reloads after a change
	return w
}

func (p *pipeline) publish(name string, data any) string {
	p.t.Helper()
	b, _ := json.Marshal(data)
	id := store.NewID()
	if _, err := p.pub.PublishEvent(context.Background(), fluxhook.Event{ID: id, Event: name, Timestamp: time.Now().UTC(), Data: b}); err != nil {
		p.t.Fatal(err)
	}
	return id
}

// workerInfo is the worker consumer's state at the server.
func (p *pipeline) workerInfo() *jetstream.ConsumerInfo {
	p.t.Helper()
	c, err := p.js.Consumer(context.Background(), events.StreamDeliveries, events.ConsumerWorker)
	if err != nil {
		p.t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	return info
}

// jobsInStream counts the jobs in the messages DELIVERIES holds: the
// jobs not yet acked (or waiting as retries).
func (p *pipeline) jobsInStream() int {
	p.t.Helper()
	ctx := context.Background()
	s, err := p.js.Stream(ctx, events.StreamDeliveries)
	if err != nil {
		p.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	n := 0
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue // removed (acked) in the meantime, or a gap
		}
		jobs, err := wire.DecodePack(m.Data)
		if err != nil {
			p.t.Fatalf("message %d: %v", seq, err)
		}
		n += len(jobs)
	}
	return n
}

func (p *pipeline) attempts(webhookID string) []*fluxhook.Attempt {
	p.t.Helper()
	as, err := p.db.Attempts(context.Background(), webhookID, 1000)
	if err != nil {
		p.t.Fatal(err)
	}
	return as
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver verifies both signatures the way the seeds' Express handler
// does and answers with the status plan returns for each request.
type receiver struct {
	*httptest.Server
	secret   string
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	badSigs  int
	plan     func(n int) int // status for the n-th request (from 1)
}

func newReceiver(t *testing.T, secret string, plan func(n int) int) *receiver {
	r := &receiver{secret: secret, plan: plan}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		canon, err := jsjson.Canonical(body) // JSON.stringify(req.body) after express.json()
		ok := err == nil && bytes.Equal(canon, body) && signing.VerifyFluxbase(secret, canon, req.Header.Get("X-Fluxbase-Signature")) &&
			signing.Verify(secret, req.Header, body, 0, time.Now()) == nil
		r.mu.Lock()
		if !ok {
			r.badSigs++
		}
		r.requests = append(r.requests, req)
		r.bodies = append(r.bodies, body)
		n := len(r.requests)
		r.mu.Unlock()
		w.WriteHeader(r.plan(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func TestDeliveredSignedAndLogged(t *testing.T) {
	p := newPipeline(t, 8, 5*time.Second)
	secret := signing.NewSecret()
	rcv := newReceiver(t, secret, func(int) int { return 200 })
	hook := p.webhook(rcv.URL, secret)
	id := p.publish("order.paid", map[string]any{"amount": 1.0, "note": "<b>&</b>\u2028"})
	waitFor(t, 10*time.Second, "the delivery", func() bool { return rcv.count() == 1 && len(p.attempts(hook.ID)) == 1 })
	if rcv.badSigs != 0 {
		t.Fatal("signature verification failed at the receiver")
	}
	var got map[string]any
	_ = json.Unmarshal(rcv.bodies[0], &got)
	if got["id"] != id || got["event"] != "order.paid" || got["data"].(map[string]any)["amount"] != 1.0 {
		t.Fatalf("body %s", rcv.bodies[0])
	}
	a := p.attempts(hook.ID)[0]
	if a.Status != fluxhook.DeliveryDelivered || a.Attempt != 1 || a.StatusCode == nil || *a.StatusCode != 200 || a.DeliveredAt == nil ||
		a.DeliveryID != rcv.requests[0].Header.Get("Webhook-Id") {
		t.Fatalf("attempt %+v", a)
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	p := newPipeline(t, 8, 5*time.Second)
	secret := signing.NewSecret()
	rcv := newReceiver(t, secret, func(n int) int {
		if n <= 2 {
			return 503
		}
		return 204
	})
	hook := p.webhook(rcv.URL, secret)
	p.publish("order.paid", map[string]any{"n": 1})
	waitFor(t, 15*time.Second, "three attempts", func() bool { return len(p.attempts(hook.ID)) == 3 })
	as := p.attempts(hook.ID) // newest first
	want := []string{fluxhook.DeliveryDelivered, fluxhook.DeliveryRetrying, fluxhook.DeliveryRetrying}
	for i, a := range as {
		if a.Status != want[i] || a.Attempt != 3-i || a.DeliveryID != as[0].DeliveryID {
			t.Fatalf("attempt %d: %+v", i, a)
		}
	}
	if as[1].NextAttemptAt == nil || as[1].Error == nil {
		t.Fatalf("a retrying attempt says when and why: %+v", as[1])
	}
	ids := map[string]bool{}
	for _, r := range rcv.requests {
		ids[r.Header.Get("Webhook-Id")] = true
	}
	if rcv.count() != 3 || len(ids) != 1 || rcv.badSigs != 0 {
		t.Fatalf("%d requests with %d webhook-ids, %d bad signatures", rcv.count(), len(ids), rcv.badSigs)
	}
}

func TestGiveUpGoneAndRejected(t *testing.T) {
	p := newPipeline(t, 8, 5*time.Second)
	secret := signing.NewSecret()
	always500 := newReceiver(t, secret, func(int) int { return 500 })
	gone := newReceiver(t, secret, func(int) int { return 410 })
	rejects := newReceiver(t, secret, func(int) int { return 400 })
	h500, h410, h400 := p.webhook(always500.URL, secret), p.webhook(gone.URL, secret), p.webhook(rejects.URL, secret)
	p.publish("order.paid", map[string]any{})

	// Two retries in the schedule: three attempts, then failed for good.
	waitFor(t, 15*time.Second, "the 500 endpoint to be given up", func() bool {
		as := p.attempts(h500.ID)
		return len(as) == 3 && as[0].Status == fluxhook.DeliveryFailed
	})
	// 410 stops at once and disables the webhook.
	waitFor(t, 10*time.Second, "the 410 webhook to be disabled", func() bool {
		w, err := p.db.Webhook(context.Background(), h410.ID)
		return err == nil && !w.IsActive && w.DisabledReason != nil
	})
	if as := p.attempts(h410.ID); len(as) != 1 || as[0].Status != fluxhook.DeliveryFailed {
		t.Fatalf("410 attempts: %+v", as)
	}
	// 400 is retried like every non-2xx but 410: three attempts, then failed for good.
	waitFor(t, 15*time.Second, "the 400 endpoint to be given up", func() bool {
		as := p.attempts(h400.ID)
		return len(as) == 3 && as[0].Status == fluxhook.DeliveryFailed
	})
	if n := rejects.count(); n != 3 {
		t.Fatalf("the 400 endpoint got %d requests, want 3", n)
	}
	// Every given-up delivery is in the dead letters.
	waitFor(t, 15*time.Second, "3 dead letters", func() bool {
		s, err := p.js.Stream(context.Background(), events.StreamDeadLetters)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 3
	})
	// A disabled webhook receives nothing more.
	p.publish("order.paid", map[string]any{})
	time.Sleep(time.Second)
	if gone.count() != 1 {
		t.Fatalf("a disabled webhook got %d requests", gone.count())
	}
}

// TestHangingEndpointDoesNotStallHealthyOnes: a webhook whose endpoint
// never answers takes at most its cap of workers; the healthy webhook's
// deliveries go through meanwhile. Once it has timed out its other jobs
// are parked without attempts (an open circuit) rather than each failing
// on its own, and none is lost: when the endpoint answers again, every
// job reaches it.
func TestHangingEndpointDoesNotStallHealthyOnes(t *testing.T) {
	p := newPipeline(t, 16, 3*time.Second)
	secret := signing.NewSecret()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	released := sync.OnceFunc(func() { close(release) })
	t.Cleanup(func() { released(); hang.Close() })
	healthy := newReceiver(t, secret, func(int) int { return 200 })
	hung := p.webhook(hang.URL, secret)
	p.webhook(healthy.URL, secret)
	start := time.Now()
	for i := range 50 {
		p.publish("order.paid", map[string]any{"i": i})
	}
	waitFor(t, 10*time.Second, "50 healthy deliveries while the other endpoint hangs", func() bool { return healthy.count() == 50 })
	t.Logf("50 healthy deliveries in %v beside a hanging endpoint", time.Since(start).Round(time.Millisecond))
	time.Sleep(5*time.Second - time.Since(start))
	if n := len(p.attempts(hung.ID)); n > 8 {
		t.Fatalf("%d attempts recorded for the hanging endpoint in 5 s; want at most 8 (its cap of 4, then one at a time): the rest wait parked", n)
	}
	for _, a := range p.attempts(hung.ID) {
		if a.Error == nil || *a.Error != "timeout" {
			t.Errorf("an attempt that hung for the whole timeout is logged with error %v, want \"timeout\"", a.Error)
		}
	}
	released()
	waitFor(t, 40*time.Second, "every job delivered once the endpoint answers", func() bool {
		delivered := map[string]bool{}
		for _, a := range p.attempts(hung.ID) {
			if a.Status == fluxhook.DeliveryDelivered {
				delivered[a.DeliveryID] = true
			}
		}
		return len(delivered) == 50
	})
}

// TestFailingWebhookIsDisabled: a webhook that keeps failing without a
// single success for longer than DisableAfter is turned off, with a
// reason, and receives nothing more.
func TestFailingWebhookIsDisabled(t *testing.T) {
	p := newPipeline(t, 8, 5*time.Second, func(o *delivery.Options) {
		o.Schedule.Delays = []time.Duration{time.Second, time.Second, time.Second, time.Second}
		o.DisableAfter = 1500 * time.Millisecond
		o.FailingGrace = time.Millisecond
	})
	secret := signing.NewSecret()
	rcv := newReceiver(t, secret, func(int) int { return 503 })
	hook := p.webhook(rcv.URL, secret)
	p.publish("order.paid", map[string]any{})
	waitFor(t, 15*time.Second, "the failing webhook to be disabled", func() bool {
		w, err := p.db.Webhook(context.Background(), hook.ID)
		return err == nil && !w.IsActive && w.DisabledReason != nil
	})
	w, _ := p.db.Webhook(context.Background(), hook.ID)
	if w.FailingSince == nil || !strings.Contains(*w.DisabledReason, "without a single success") {
		t.Fatalf("disabled webhook: reason %q, failing since %v", *w.DisabledReason, w.FailingSince)
	}
	n := rcv.count()
	time.Sleep(2500 * time.Millisecond) // a retry is still scheduled: it must not reach the endpoint
	if rcv.count() != n {
		t.Fatalf("a disabled webhook got %d more requests", rcv.count()-n)
	}
}

// TestRecordsWaitingDoNotHoldHandlers: while attempt records cannot be
// written (a database restart), two attempt slots go on delivering —
// twenty deliveries reach the endpoint — and no job is acked; once
// records can be written, every attempt is recorded once and nothing is
// sent again.
func TestRecordsWaitingDoNotHoldHandlers(t *testing.T) {
	p := newPipeline(t, 2, 3*time.Second)
	secret := signing.NewSecret()
	rcv := newReceiver(t, secret, func(int) int { return 200 })
	hook := p.webhook(rcv.URL, secret)
	release := p.rec.hold(t)
	for i := range 20 {
		p.publish("order.paid", map[string]any{"i": i})
	}
	waitFor(t, 10*time.Second, "20 deliveries by 2 handlers while records wait", func() bool { return rcv.count() == 20 })
	// The receiver counts a request before it answers: the last records
	// queue a moment later.
	waitFor(t, 10*time.Second, "20 records waiting", func() bool { return p.rec.waiting.Load() == 20 })
	if n := p.jobsInStream(); n != 20 {
		t.Fatalf("DELIVERIES holds %d jobs while their records wait, want 20 (none acked before its record)", n)
	}
	release()
	waitFor(t, 10*time.Second, "20 attempts recorded", func() bool { return len(p.attempts(hook.ID)) == 20 })
	waitFor(t, 10*time.Second, "every job acked", func() bool { return p.jobsInStream() == 0 })
	if rcv.count() != 20 {
		t.Fatalf("the endpoint got %d requests, want 20", rcv.count())
	}
}

// TestFinishingIsBounded: with records held back, a worker goes on
// delivering only up to its cap of attempts storing their outcome plus
// one per attempt slot, then waits; nothing is lost once records flow.
func TestFinishingIsBounded(t *testing.T) {
	p := newPipeline(t, 2, 3*time.Second, func(o *delivery.Options) { o.MaxFinishing = 1 })
	secret := signing.NewSecret()
	rcv := newReceiver(t, secret, func(int) int { return 200 })
	hook := p.webhook(rcv.URL, secret)
	release := p.rec.hold(t)
	for i := range 10 {
		p.publish("order.paid", map[string]any{"i": i})
	}
	// One attempt storing its outcome, and each of the two attempt slots
	// holding an attempt that waits to store its own: three requests,
	// then nothing.
	waitFor(t, 10*time.Second, "3 deliveries", func() bool { return rcv.count() >= 3 })
	time.Sleep(500 * time.Millisecond)
	if n := rcv.count(); n != 3 {
		t.Fatalf("%d requests while records were held, want 3 (1 storing its outcome + 2 slots waiting to)", n)
	}
	release()
	waitFor(t, 10*time.Second, "10 attempts recorded", func() bool { return len(p.attempts(hook.ID)) == 10 })
}

// TestResponseBodyKept: the delivery log keeps what the endpoint
// answered, up to outbound.MaxResponseBody, and says when it cut more.
func TestResponseBodyKept(t *testing.T) {
	p := newPipeline(t, 8, 5*time.Second)
	secret := signing.NewSecret()
	long := bytes.Repeat([]byte("0123456789abcdef"), outbound.MaxResponseBody/16+1000) // 16,000 bytes too many
	short := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) }))
	t.Cleanup(short.Close)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(long)
	}))
	t.Cleanup(big.Close)
	hShort, hBig := p.webhook(short.URL, secret), p.webhook(big.URL, secret)
	p.publish("order.paid", map[string]any{})
	waitFor(t, 10*time.Second, "both attempts", func() bool { return len(p.attempts(hShort.ID)) == 1 && len(p.attempts(hBig.ID)) >= 1 })

	if a := p.attempts(hShort.ID)[0]; a.ResponseBody == nil || *a.ResponseBody != `{"ok":true}` {
		t.Fatalf("short body stored as %v", a.ResponseBody)
	}
	bigs := p.attempts(hBig.ID) // newest first; the 400 is retried
	a := bigs[len(bigs)-1]
	if a.Status != fluxhook.DeliveryRetrying || a.StatusCode == nil || *a.StatusCode != http.StatusBadRequest || a.ResponseBody == nil {
		t.Fatalf("attempt %+v", a)
	}
	want := string(long[:outbound.MaxResponseBody]) + delivery.TruncatedNote
	if got := *a.ResponseBody; got != want {
		t.Fatalf("long body stored with %d bytes, ending %q; want the first %d and the note", len(got), got[max(0, len(got)-120):], outbound.MaxResponseBody)
	}
}

// TestSlowAttemptIsNotRedelivered: an attempt that outlasts the
// consumer's ack wait is not handed to another handler meanwhile: the
// worker keeps telling JetStream the job is in progress.
func TestSlowAttemptIsNotRedelivered(t *testing.T) {
	const ackWait = time.Second
	p := newPipeline(t, 4, 10*time.Second, func(o *delivery.Options) { o.AckWait = ackWait })
	var requests atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		time.Sleep(3*ackWait + ackWait/2)
	}))
	t.Cleanup(slow.Close)
	hook := p.webhook(slow.URL, signing.NewSecret())
	p.publish("order.paid", map[string]any{})
	waitFor(t, 15*time.Second, "the slow attempt's record", func() bool { return len(p.attempts(hook.ID)) == 1 })
	time.Sleep(ackWait + ackWait/2) // a redelivered job would have reached the endpoint by now
	info := p.workerInfo()
	if n := requests.Load(); n != 1 || info.NumRedelivered != 0 || len(p.attempts(hook.ID)) != 1 {
		t.Fatalf("%d requests, %d redelivered, %d attempts: the job went to another handler while its attempt was under way",
			n, info.NumRedelivered, len(p.attempts(hook.ID)))
	}
}

// TestPackedEventsAndJobsAreDeliveredOnce: events published together
// without idempotency keys share EVENTS messages, their jobs share
// DELIVERIES messages, and every event reaches every webhook once, with
// a webhook-id of its own.
func TestPackedEventsAndJobsAreDeliveredOnce(t *testing.T) {
	p := newPipeline(t, 8, 5*time.Second)
	const hooks, n = 3, 200
	var rcvs []*receiver
	for range hooks {
		secret := signing.NewSecret()
		r := newReceiver(t, secret, func(int) int { return 200 })
		p.webhook(r.URL, secret)
		rcvs = append(rcvs, r)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, _ := json.Marshal(map[string]any{"i": i})
			if err := p.pub.PackEvent(ctx, fluxhook.Event{ID: store.NewID(), Event: "order.paid", Timestamp: time.Now().UTC(), Data: b}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "every event at every webhook", func() bool {
		for _, r := range rcvs {
			if r.count() < n {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	for i, r := range rcvs {
		r.mu.Lock()
		ids := map[string]bool{}
		for _, req := range r.requests {
			ids[req.Header.Get("Webhook-Id")] = true
		}
		count, bad := len(r.requests), r.badSigs
		r.mu.Unlock()
		if count != n || len(ids) != n || bad != 0 {
			t.Errorf("webhook %d: %d requests, %d webhook-ids, %d bad signatures; want %d, %d, 0", i, count, len(ids), bad, n, n)
		}
	}
	s, err := p.js.Stream(ctx, events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent publishers share messages: fewer messages than events.
	// (A lone publisher's event would go alone; 200 at once cannot all.)
	if info.State.LastSeq >= n {
		t.Errorf("EVENTS stored %d messages for %d events published at once; want them packed", info.State.LastSeq, n)
	}
	t.Logf("%d events in %d EVENTS messages", n, info.State.LastSeq)
}

// TestDeadEndpointIsParkedNotHammered: an endpoint that refuses
// connections gets a few attempts, then its circuit opens and its other
// jobs wait without attempts (no attempt used up, no record, no
// scheduled retry each); once it listens again a probe finds it, and
// every job reaches it.
func TestDeadEndpointIsParkedNotHammered(t *testing.T) {
	p := newPipeline(t, 16, 3*time.Second)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connections are refused
	secret := signing.NewSecret()
	hook := p.webhook("http://"+addr+"/hook", secret)
	const n = 40
	for i := range n {
		p.publish("order.paid", map[string]any{"i": i})
	}
	time.Sleep(1500 * time.Millisecond)
	if got := len(p.attempts(hook.ID)); got > 12 {
		t.Fatalf("%d attempts recorded for %d jobs to a dead endpoint; want the circuit to park most of them", got, n)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	waitFor(t, 40*time.Second, "every job delivered once the endpoint listens", func() bool {
		delivered := map[string]bool{}
		for _, a := range p.attempts(hook.ID) {
			if a.Status == fluxhook.DeliveryDelivered {
				delivered[a.DeliveryID] = true
			}
		}
		return len(delivered) == n
	})
}
