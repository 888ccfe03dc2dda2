package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/jackc/pgx/v5"
)

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end to end: builds the binaries and runs them as processes")
	}
}

// parallelNote: the scenarios that SIGKILL a process or restart NATS spend
// most of their time waiting for JetStream to redeliver what the killed
// worker held, or whose acks were lost with the connection: that happens
// after the DELIVERIES consumer's AckWait (events.DefaultWorkerAckWait,
// 60 s, not configurable from the environment). They run in parallel so
// that the package stays within a few minutes; they share nothing but
// the PostgreSQL server (each has a database of its own) and Redis (keys
// under ids of their own).

// checkSignupEvents signs a user up and in, and waits for user.created and
// auth.login about that user to arrive, verified, with the envelope of
// API.md.
func checkSignupEvents(t *testing.T, s *Stack) {
	t.Helper()
	start := time.Now()
	email := testenv.Unique("user") + "@example.com"
	userID, _ := SignUp(t, s.API.API, email)
	SignIn(t, s.API.API, email)
	about := func(event string) func(Request) bool {
		return func(q Request) bool { return q.Event == event && q.Status == http.StatusOK && q.Data["email"] == email }
	}
	waitForDetail(t, 30*time.Second, func() (bool, string) {
		c, l := len(s.Receiver.Find(about("user.created"))), len(s.Receiver.Find(about("auth.login")))
		return c > 0 && l > 0, fmt.Sprintf("user.created: %d, auth.login: %d; the receiver got %d requests (%s)",
			c, l, s.Receiver.Total(), eventCounts(s.Receiver.DistinctByEvent()))
	}, "user.created and auth.login of the new user arrive at the admin's webhook on \"*\"")
	for _, event := range []string{"user.created", "auth.login"} {
		for _, q := range s.Receiver.Find(about(event)) {
			if want := []string{"data", "event", "id", "timestamp"}; !slices.Equal(q.Keys, want) {
				t.Errorf("%s: body keys %v, want %v (API.md: the seeds' WebhookPayload)", event, q.Keys, want)
			}
			if q.Data["user_id"] != userID {
				t.Errorf("%s: data.user_id %v, want %s", event, q.Data["user_id"], userID)
			}
			if q.WebhookID == "" {
				t.Errorf("%s: no webhook-id header", event)
			}
		}
	}
	t.Logf("sign-up and sign-in events arrived %v after the sign-up", time.Since(start).Round(time.Millisecond))
}

// TestE2ESignupEventsArrive: api, dispatcher and worker as processes; a
// user signs up and in; user.created and auth.login reach the admin's
// webhook on "*", both signatures verified.
func TestE2ESignupEventsArrive(t *testing.T) {
	skipShort(t)
	s := NewStack(t, StackConfig{})
	checkSignupEvents(t, s)
	s.Receiver.checkSignatures(t)
	s.CheckAlive(t)
	s.StopAll(t)
}

// TestE2ERetriesThenSucceeds: the receiver fails the first two attempts;
// the third succeeds. Exactly three requests with one webhook-id, about a
// retry delay apart, and a delivery log that says retrying, retrying,
// delivered with attempts 1, 2, 3.
func TestE2ERetriesThenSucceeds(t *testing.T) {
	skipShort(t)
	s := NewStack(t, StackConfig{RetrySchedule: "1s,1s,1s"})
	s.Receiver.FailFirst(2)
	id := newIDs(1)[0]
	if st, out := Publish(t, s.API.API, s.Key, "e2e.retry", id, map[string]any{"e2e": id}); st != http.StatusAccepted {
		t.Fatalf("POST /api/v1/events: %d %v, want 202", st, out)
	}
	mine := func(q Request) bool { return q.Tag == id }
	waitForDetail(t, 30*time.Second, func() (bool, string) {
		reqs := s.Receiver.Find(mine)
		return len(reqs) >= 3, fmt.Sprintf("%d requests so far", len(reqs))
	}, "three attempts of the event reach the receiver")
	time.Sleep(2500 * time.Millisecond) // a fourth would come within a retry delay
	reqs := s.Receiver.Find(mine)
	if len(reqs) != 3 {
		t.Fatalf("%d requests for the event, want exactly 3", len(reqs))
	}
	for i, q := range reqs {
		if q.WebhookID == "" || q.WebhookID != reqs[0].WebhookID {
			t.Errorf("attempt %d: webhook-id %q, want the first attempt's %q", i+1, q.WebhookID, reqs[0].WebhookID)
		}
		if want := []int{500, 500, 200}[i]; q.Status != want {
			t.Errorf("attempt %d: the receiver answered %d, want %d", i+1, q.Status, want)
		}
		if i > 0 {
			if gap := q.At.Sub(reqs[i-1].At); gap < 700*time.Millisecond || gap > 10*time.Second {
				t.Errorf("attempt %d came %v after attempt %d; the schedule says 1s (±20%%)", i+1, gap, i)
			}
		}
	}

	var log []Delivery
	waitForDetail(t, 30*time.Second, func() (bool, string) {
		log = nil
		for _, d := range Deliveries(t, s.API.API, s.AdminToken, s.WebhookID, 100) {
			if d.EventID == id || d.EventID == reqs[0].EventID || d.DeliveryID == reqs[0].WebhookID {
				log = append(log, d)
			}
		}
		return len(log) >= 3, fmt.Sprintf("%d records for the event", len(log))
	}, "the delivery log records the three attempts")
	sort.Slice(log, func(i, j int) bool { return log[i].Attempt < log[j].Attempt })
	if len(log) != 3 {
		t.Fatalf("%d delivery records for the event, want 3: %+v", len(log), log)
	}
	for i, d := range log {
		wantStatus := []string{"retrying", "retrying", "delivered"}[i]
		if d.Attempt != i+1 || d.Status != wantStatus {
			t.Errorf("record %d: attempt %d status %q, want attempt %d %q", i, d.Attempt, d.Status, i+1, wantStatus)
		}
		if wantCode := []int{500, 500, 200}[i]; d.StatusCode == nil || *d.StatusCode != wantCode {
			t.Errorf("record %d: status_code %v, want %d", i, d.StatusCode, wantCode)
		}
		if d.Status == "retrying" && d.NextAttemptAt == nil {
			t.Errorf("record %d: retrying without next_attempt_at", i)
		}
		if d.Status == "delivered" && d.DeliveredAt == nil {
			t.Errorf("record %d: delivered without delivered_at", i)
		}
		if d.Event != "e2e.retry" {
			t.Errorf("record %d: event %q, want e2e.retry", i, d.Event)
		}
	}
	s.Receiver.checkSignatures(t)
	s.CheckAlive(t)
	s.StopAll(t)
}

// killScenario publishes n events concurrently while victim is killed
// with SIGKILL after a third of them and started again; every event must
// arrive at least once.
func killScenario(t *testing.T, s *Stack, victim *Proc, n int) *Publisher {
	t.Helper()
	ids := newIDs(n)
	pub := s.Publisher("e2e.load")
	start := time.Now()
	done := runPublisher(pub, ids)
	waitAccepted(t, pub, done, int64(n/3), 2*time.Minute)
	accepted, delivered := pub.Accepted.Load(), s.Receiver.DeliveredCount()
	victim.Kill()
	killed := time.Now()
	time.Sleep(300 * time.Millisecond)
	victim.Restart()
	t.Logf("SIGKILLed %s after %v with %d events accepted and %d delivered; ready again %v later",
		victim.Name, killed.Sub(start).Round(time.Millisecond), accepted, delivered, time.Since(killed).Round(time.Millisecond))
	waitPublished(t, pub, done, 3*time.Minute)
	published := time.Since(start)
	took := waitDelivered(t, s.Receiver, ids, 2*time.Minute)
	total := time.Since(start)
	t.Logf("%d events: published in %v (%.0f/s), the last delivered %v later; %v in all; %d duplicates; %d requests; publish answers %v",
		n, published.Round(time.Millisecond), float64(n)/published.Seconds(), took.Round(time.Millisecond),
		total.Round(time.Millisecond), s.Receiver.Duplicates(), s.Receiver.Total(), pub.Summary())
	t.Logf("arrivals after the kill: %s", arrivalProfile(s.Receiver, ids, killed))
	s.Receiver.checkSignatures(t)
	return pub
}

// TestE2EWorkerKilledLosesNothing: the worker is SIGKILLed a third of the
// way through publishing 5,000 events and restarted; every event arrives
// (duplicates allowed, counted) and every signature verifies.
func TestE2EWorkerKilledLosesNothing(t *testing.T) {
	skipShort(t)
	t.Parallel() // see parallelNote
	n := envInt("FLUXHOOK_E2E_EVENTS", 5000)
	s := NewStack(t, StackConfig{})
	pub := killScenario(t, s, s.Worker, n)
	if sum := pub.Summary(); len(sum) != 1 || sum["202"] == 0 {
		t.Errorf("publish answers %v: killing the worker must not disturb the api", sum)
	}
	s.CheckAlive(t)
	s.StopAll(t)
}

// TestE2ENATSRestart: the NATS server is restarted (5 s down) a third of
// the way through publishing; api, dispatcher and worker are left alone
// and must recover by themselves. Every event answered 202 arrives; no
// 202 is answered while NATS is down (503 then, retried by the publisher
// with the same id afterwards).
func TestE2ENATSRestart(t *testing.T) {
	skipShort(t)
	t.Parallel() // see parallelNote
	n := envInt("FLUXHOOK_E2E_RESTART_EVENTS", 5000)
	s := NewStack(t, StackConfig{})
	ids := newIDs(n)
	pub := s.Publisher("e2e.nats")
	start := time.Now()
	done := runPublisher(pub, ids)
	waitAccepted(t, pub, done, int64(n/3), 2*time.Minute)
	accepted := pub.Accepted.Load()
	out := s.NATS.Restart(5 * time.Second)
	t.Logf("NATS stopped %v into the run (%d accepted), down %v", out.Down.Sub(start).Round(time.Millisecond), accepted, out.Up.Sub(out.Down).Round(time.Millisecond))
	waitPublished(t, pub, done, 3*time.Minute)
	published := time.Since(start)
	took := waitDelivered(t, s.Receiver, ids, 2*time.Minute)

	var during503, noRetryAfter, transport int
	for _, r := range pub.Responses() {
		switch {
		case r.Status == http.StatusAccepted && out.Contains(r.Start, r.End):
			t.Errorf("event %s was answered 202 at %s, while NATS was down (%s to %s): nothing can have stored it",
				r.ID, r.End.Format("15:04:05.000"), out.Down.Format("15:04:05.000"), out.Up.Format("15:04:05.000"))
		case r.Status == http.StatusServiceUnavailable:
			during503++
			if r.RetryAfter == "" {
				noRetryAfter++
			}
		case r.Status == 0:
			transport++
		}
	}
	if transport > 0 {
		t.Errorf("%d publish requests failed at the transport level; the api was not restarted", transport)
	}
	if noRetryAfter > 0 {
		t.Errorf("%d of %d 503 answers lack Retry-After", noRetryAfter, during503)
	}
	for _, p := range s.Procs() {
		waitFor(t, 30*time.Second, p.Ready, p.Name+" is ready again after the NATS restart, without being restarted")
	}
	t.Logf("%d events published in %v, all delivered %v later; %d answers 503 while NATS was down; %d duplicates; answers %v",
		n, published.Round(time.Millisecond), took.Round(time.Millisecond), during503, s.Receiver.Duplicates(), pub.Summary())
	t.Logf("arrivals after NATS was back: %s", arrivalProfile(s.Receiver, ids, out.Up))
	if during503 == 0 {
		t.Logf("note: no publish was answered 503: requests made while NATS was down waited for it to come back")
	}
	s.Receiver.checkSignatures(t)
	s.CheckAlive(t)
	s.StopAll(t)
}

// probe is one DB-backed API call made during the PostgreSQL scenario.
type probe struct {
	Start, End time.Time
	Status     int
	RetryAfter string
	Err        string
}

// TestE2EPostgresRestart: a private PostgreSQL is restarted (5 s down)
// while events are published and delivered. Deliveries go on during the
// outage (the receiver fails each first attempt, so retries fall inside
// it); DB-backed API calls answer 503 with Retry-After meanwhile, never a
// 4xx; afterwards every delivery the receiver accepted has its attempts
// recorded.
func TestE2EPostgresRestart(t *testing.T) {
	skipShort(t)
	pg := StartPostgres(t)
	n := envInt("FLUXHOOK_E2E_PG_EVENTS", 1000)
	s := NewStack(t, StackConfig{DatabaseURL: pg.URL, RetrySchedule: "2s,1s,1s"})
	s.Receiver.FailFirst(1)
	ids := newIDs(n)
	pub := s.Publisher("e2e.pg")
	pub.Concurrency, pub.Interval = 8, 10*time.Millisecond // about 100 events/s, so the run spans the outage

	// DB-backed calls all along: list the admin's webhooks.
	var (
		probeMu sync.Mutex
		probes  []probe
	)
	stopProbes := make(chan struct{})
	probesDone := make(chan struct{})
	go func() {
		defer close(probesDone)
		c := &http.Client{Timeout: 30 * time.Second}
		for {
			select {
			case <-stopProbes:
				return
			case <-time.After(100 * time.Millisecond):
			}
			p := probe{Start: time.Now()}
			st, h, _, err := doJSON(context.Background(), c, "GET", s.API.API+"/webhooks", nil, bearer(s.AdminToken))
			p.End, p.Status = time.Now(), st
			if err != nil {
				p.Err = err.Error()
			} else {
				p.RetryAfter = h.Get("Retry-After")
			}
			probeMu.Lock()
			probes = append(probes, p)
			probeMu.Unlock()
		}
	}()
	defer func() {
		select {
		case <-stopProbes:
		default:
			close(stopProbes)
		}
		<-probesDone
	}()

	start := time.Now()
	done := runPublisher(pub, ids)
	waitAccepted(t, pub, done, int64(n/4), 2*time.Minute)
	accepted := pub.Accepted.Load()
	out := pg.Restart(5 * time.Second)
	t.Logf("PostgreSQL stopped %v into the run (%d accepted; %d more while it was down), down %v", out.Down.Sub(start).Round(time.Millisecond),
		accepted, pub.Accepted.Load()-accepted, out.Up.Sub(out.Down).Round(time.Millisecond))
	waitPublished(t, pub, done, 3*time.Minute)
	took := waitDelivered(t, s.Receiver, ids, 2*time.Minute)
	close(stopProbes)
	<-probesDone

	during := s.Receiver.Find(func(q Request) bool { return q.At.After(out.Down) && q.At.Before(out.Up) })
	if len(during) == 0 {
		t.Errorf("no delivery reached the receiver while PostgreSQL was down: the worker must keep delivering while records wait")
	}
	var answered503, waitedOut int
	for _, p := range probes {
		switch {
		case p.Err != "":
			t.Errorf("GET /webhooks at %s: %s", p.Start.Format("15:04:05.000"), p.Err)
		case p.Status >= 400 && p.Status < 500:
			t.Errorf("GET /webhooks at %s answered %d: a database outage must never be a 4xx", p.Start.Format("15:04:05.000"), p.Status)
		case out.Contains(p.Start, p.End):
			if p.Status != http.StatusServiceUnavailable || p.RetryAfter == "" {
				t.Errorf("GET /webhooks during the outage answered %d (Retry-After %q), want 503 with Retry-After", p.Status, p.RetryAfter)
			} else {
				answered503++
			}
		case p.Start.After(out.Down) && p.Start.Before(out.Up):
			waitedOut++
		}
	}
	if answered503 == 0 {
		t.Errorf("no DB-backed call was answered while PostgreSQL was down (%d waited until it was back): the API must answer 503 with Retry-After meanwhile", waitedOut)
	}
	var pub503 int
	for _, r := range pub.Responses() {
		switch {
		case r.Status == 0:
			t.Errorf("POST /events at %s: %s", r.Start.Format("15:04:05.000"), r.Err)
		case r.Status == http.StatusServiceUnavailable:
			pub503++
			if r.RetryAfter == "" {
				t.Errorf("POST /events answered 503 without Retry-After")
			}
		}
	}

	// Every delivery the receiver accepted has its attempts on record.
	delivered := deliveredByReceiver(s.Receiver, ids)
	ctx := testenv.Context(t, 2*time.Minute)
	var recorded, attempts int
	waitForDetail(t, 60*time.Second, func() (bool, string) {
		ok, err := recordedDelivered(ctx, pg.URL, s.WebhookID)
		if err != nil {
			return false, err.Error()
		}
		missing := 0
		for id := range delivered {
			if !ok[id] {
				missing++
			}
		}
		recorded = len(delivered) - missing
		if attempts, err = countAttempts(ctx, pg.URL, s.WebhookID); err != nil {
			return false, err.Error()
		}
		return missing == 0 && attempts >= s.Receiver.Total(), fmt.Sprintf("%d of %d delivered deliveries recorded as delivered; %d attempts recorded, the receiver got %d requests",
			recorded, len(delivered), attempts, s.Receiver.Total())
	}, "every attempt the receiver saw is recorded")
	if got, want := len(Deliveries(t, s.API.API, s.AdminToken, s.WebhookID, 1000)), min(1000, s.Receiver.Total()); got < want {
		t.Errorf("GET deliveries?limit=1000 lists %d records, want at least %d", got, want)
	}
	t.Logf("%d events, all delivered %v after publishing ended; %d requests reached the receiver during the outage; probes: %d answered 503 during it, %d waited it out; publish answers %v; %d attempts recorded",
		n, took.Round(time.Millisecond), len(during), answered503, waitedOut, pub.Summary(), attempts)
	s.Receiver.checkSignatures(t)
	s.CheckAlive(t)
	s.StopAll(t)
}

// TestE2ERedisStopped: the test's own Redis is stopped a third of the way
// through; deliveries go on unchanged, the api's client-key limiter fails
// open and counts it.
func TestE2ERedisStopped(t *testing.T) {
	skipShort(t)
	redisURL, stopRedis := testenv.StartRedis(t)
	n := envInt("FLUXHOOK_E2E_REDIS_EVENTS", 2000)
	// A per-webhook limit far above the load makes the worker consult
	// Redis on every delivery without ever deferring one.
	s := NewStack(t, StackConfig{RedisURL: redisURL, WebhookRate: 10000})
	ids := newIDs(n)
	pub := s.Publisher("e2e.redis")
	pub.Concurrency = 16
	start := time.Now()
	done := runPublisher(pub, ids)
	waitAccepted(t, pub, done, int64(n/3), 2*time.Minute)
	const failOpen = `fluxhook_ratelimit_decisions_total{decision="fail_open",limiter="client_key"}`
	before := metric(t, s.API.Admin, failOpen)
	stopRedis()
	stopped := time.Now()
	t.Logf("Redis stopped %v into the run (%d accepted, %d delivered)", stopped.Sub(start).Round(time.Millisecond), pub.Accepted.Load(), s.Receiver.DeliveredCount())
	waitPublished(t, pub, done, 3*time.Minute)
	took := waitDelivered(t, s.Receiver, ids, 2*time.Minute)
	after := metric(t, s.API.Admin, failOpen)
	if after <= before {
		t.Errorf("the api's %s went from %v to %v with Redis stopped; it must count the fail-open decisions", failOpen, before, after)
	}
	if sum := pub.Summary(); len(sum) != 1 || sum["202"] == 0 {
		t.Errorf("publish answers %v: with Redis stopped every publish must still be accepted at once", sum)
	}
	afterStop := s.Receiver.Find(func(q Request) bool { return q.At.After(stopped) })
	for _, q := range afterStop {
		if q.Status != http.StatusOK {
			t.Errorf("a delivery after Redis stopped was answered %d", q.Status)
			break
		}
	}
	t.Logf("%d events, delivered %v after publishing ended (%v in all); %d deliveries after Redis stopped; api fail-open %v -> %v; worker: %v",
		n, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), len(afterStop), before, after,
		metricLines(t, s.Worker.Admin, "fluxhook_ratelimit_decisions_total"))
	s.Receiver.checkSignatures(t)
	s.CheckAlive(t)
	s.StopAll(t)
}

// TestE2EAllInOne: cmd/fluxhook alone (embedded NATS, SQLite): sign-up
// events arrive, then the whole process is SIGKILLed a third of the way
// through a run and started again on the same data; every event the
// publisher got 202 for (it retries, with the same id, what the kill
// interrupted) arrives.
func TestE2EAllInOne(t *testing.T) {
	skipShort(t)
	t.Parallel() // see parallelNote
	n := envInt("FLUXHOOK_E2E_AIO_EVENTS", 5000)
	s := NewAllInOne(t, "")
	checkSignupEvents(t, s)
	killScenario(t, s, s.API, n)
	s.CheckAlive(t)
	s.StopAll(t)
}

// TestE2EWorkerStopsWhileDatabaseIsDown: a worker told to stop while
// PostgreSQL is down and its attempt records wait does not wait for the
// database for ever: it exits (status 0) within FLUXHOOK_SHUTDOWN_TIMEOUT
// plus the recorder's 10 s drain, handing the unrecorded jobs back; once
// the database and a worker are back, every delivery has its attempt
// recorded.
func TestE2EWorkerStopsWhileDatabaseIsDown(t *testing.T) {
	skipShort(t)
	pg := StartPostgres(t)
	s := NewStack(t, StackConfig{DatabaseURL: pg.URL, Env: map[string]string{"FLUXHOOK_SHUTDOWN_TIMEOUT": "1s"}})
	ids := newIDs(50)
	pub := s.Publisher("e2e.pgstop")
	pub.Concurrency = 4
	waitPublished(t, pub, runPublisher(pub, ids), time.Minute)
	waitDelivered(t, s.Receiver, ids, time.Minute)

	pg.Stop()
	outage := newIDs(50)
	pub = s.Publisher("e2e.pgstop")
	pub.Concurrency = 4
	waitPublished(t, pub, runPublisher(pub, outage), time.Minute)
	waitDelivered(t, s.Receiver, outage, time.Minute) // delivered; their records wait
	start := time.Now()
	s.Worker.Stop() // fails the test unless it exits with status 0 within 40 s
	took := time.Since(start)
	if limit := 1*time.Second + 10*time.Second + 14*time.Second; took > limit {
		t.Errorf("the worker took %v to stop with the database down, want under %v (shutdown timeout + drain + slack)", took.Round(time.Millisecond), limit)
	}

	pg.Start()
	s.Worker.Restart()
	ctx := testenv.Context(t, 2*time.Minute)
	want := deliveredByReceiver(s.Receiver, append(ids, outage...))
	if len(want) != len(ids)+len(outage) {
		t.Fatalf("%d deliveries seen, want %d", len(want), len(ids)+len(outage))
	}
	waitForDetail(t, 90*time.Second, func() (bool, string) {
		got, err := recordedDelivered(ctx, pg.URL, s.WebhookID)
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for id := range want {
			if got[id] {
				n++
			}
		}
		return n == len(want), fmt.Sprintf("%d of %d deliveries have a delivered attempt recorded", n, len(want))
	}, "every delivery recorded once the database and a worker are back")
	t.Logf("worker stopped %v after SIGTERM with the database down", took.Round(time.Millisecond))
	s.CheckAlive(t)
	s.StopAll(t)
}

// deliveredByReceiver returns the delivery ids (webhook-id) the receiver
// accepted for the events tagged with tags (a warm-up's stragglers are
// not counted).
func deliveredByReceiver(rcv *Receiver, tags []string) map[string]bool {
	want := make(map[string]bool, len(tags))
	for _, tag := range tags {
		want[tag] = true
	}
	ids := map[string]bool{}
	for _, q := range rcv.Requests() {
		if tag, _ := q.Data["e2e"].(string); q.Status == http.StatusOK && want[tag] {
			ids[q.WebhookID] = true
		}
	}
	return ids
}

// recordedDelivered returns the ids of the webhook's deliveries that have
// a delivered attempt on record in the PostgreSQL at url.
func recordedDelivered(ctx context.Context, url, webhookID string) (map[string]bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT DISTINCT delivery_id::text FROM delivery_attempts WHERE webhook_id = $1 AND status = 'delivered'`, webhookID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// countAttempts counts the webhook's attempts on record in the PostgreSQL
// at url.
func countAttempts(ctx context.Context, url, webhookID string) (int, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM delivery_attempts WHERE webhook_id = $1`, webhookID).Scan(&n)
	return n, err
}
