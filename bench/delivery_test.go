package bench

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// What BenchmarkDelivery runs. Everything stays on 127.0.0.1.
const (
	// The ceiling: senders signing and POSTing as fast as they can to
	// the same kind of receiver the pipeline delivers to.
	ceilingSenders = 64
	ceilingWarm    = 500 * time.Millisecond
	ceilingMeasure = 3 * time.Second

	// The pipeline scenarios: webhooks subscribed to "*", each on an
	// endpoint of its own; events published through POST /events with
	// client keys (100,000 a minute each, so several).
	loadWebhooks   = 20
	hangingHooks   = 2 // 10% of loadWebhooks
	deadHooks      = loadWebhooks / 2
	clientKeys     = 8
	loadPublishers = 32
	// backlogCap bounds the deliveries accepted but not yet arrived when
	// publishing as fast as possible: the publishers wait above it, so
	// the figure is what the pipeline sustains, not how fast the API
	// can pile events up in the stream. It is well above what the
	// dispatcher and worker hold in flight (16 events × 20 webhooks,
	// 64 attempts), so it does not starve them; it also bounds the
	// unpaced latency (about backlogCap ÷ throughput).
	backlogCap = 2000
	// oneToOneWebhooks is one_to_one's webhooks, each on an endpoint of
	// its own (a loopback port each), each event going to one of them.
	oneToOneWebhooks = 1000
	// oneToOnePublishers is one_to_one's concurrent publishers: many
	// tenants' services, each waiting for its 202 (which waits for the
	// fsync of the pack holding its event), so that the publishers'
	// own round trips do not set the events a second.
	oneToOnePublishers = 128
	// ingestMeasure is ingest's window: the API accepting as fast as it
	// can, with no backlog cap, for a few seconds.
	ingestMeasure = 5 * time.Second
	// ingestBatch events a request, from ingestBatchPublishers, in
	// ingest_batch.
	ingestBatch           = 100
	ingestBatchPublishers = 4
	// loneRate is lone's events a second: each alone in the pipeline.
	loneRate      = 20
	pacedRate     = 1000 // events a second, each to one webhook
	pacedWebhooks = 1
	pacedPublish  = 16
	pacedWarm     = 2 * time.Second
	pacedMeasure  = 5 * time.Second
	// sustained and hanging run for the same time: the hanging
	// endpoints' throughput is compared with sustained's, and a store
	// that syncs every write slows down over the first seconds of a run
	// (sustained 2,930 → 2,450 deliveries/s from the first 5 s to the
	// next), so windows of different lengths would compare different
	// phases.
	loadWarm = 3 * time.Second
	// loadMeasure is longer than paced's to show the trend: the
	// hanging endpoints' jobs pile up while the healthy ones flow.
	// FLUXHOOK_BENCH_LOAD_SECONDS sets another length for both (a run of
	// minutes shows where the pile-up leads).
	loadMeasure = 15 * time.Second
	// deliveryTimeout is how long an attempt to a hanging endpoint holds
	// a worker: short enough for the run, long enough that several
	// waves of stuck attempts overlap the measurement.
	deliveryTimeout = "5s"
)

// eventData is the payload of every event: with the envelope the
// delivery body is about 300 bytes.
const eventData = `{"order_id":"ord_7Hq2LxP4","customer":{"id":"cus_9Fk3Zr1W","email":"ada@example.com","name":"Ada Lovelace"},"items":[{"sku":"SKU-1234","qty":2,"price":1999},{"sku":"SKU-5678","qty":1,"price":4999}],"total":8997,"currency":"EUR"}`

var eventRequest = []byte(`{"event":"bench.load","data":` + eventData + `}`)

// deliveryBody is what the worker sends for an event (API.md, "Deliveries
// as the receiver sees them"), for the ceiling's senders.
func deliveryBody(id string, t time.Time) []byte {
	b := make([]byte, 0, 384)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","event":"bench.load","timestamp":"`...)
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, `","data":`...)
	b = append(b, eventData...)
	return append(b, '}')
}

// BenchmarkDelivery measures, in one run:
//
//   - ceiling: this machine's throughput of signed HTTP POSTs over
//     loopback (signing.Sign and outbound.NewClient, the worker's own
//     code, 64 senders, keep-alive) to 20 receivers;
//   - <db>/paced: the all-in-one fluxhook binary as a process, 1,000
//     events a second through POST /events to one webhook: latency from
//     the event's timestamp to its arrival, p50 and p99;
//   - <db>/sustained: the same with 20 webhooks on "*", publishing as
//     fast as the pipeline delivers (closed loop, backlogCap): deliveries
//     a second at the receivers, the ratio to the ceiling, latency;
//   - <db>/one_to_one: 1,000 webhooks, each on a loopback port of its
//     own and subscribed to an event name of its own, each event to one
//     of them in turn, as fast as delivered: the multi-tenant shape;
//   - <db>/paced_1to1: paced's 1,000 events a second spread over
//     one_to_one's 1,000 webhooks, and <db>/lone: 20 events a second, one
//     at a time: latency, p50, p99 and the longest;
//   - <db>/ingest: one_to_one with publishers that never wait for the
//     pipeline: the events a second the API accepts beside it,
//     <db>/ingest_only the same with events no webhook subscribes to (the
//     API's own capacity on these cores, the dispatcher still reading
//     each event), and <db>/ingest_batch the same as ingest through POST
//     /events/batch, ingestBatch events a request;
//   - <db>/dead: as sustained with 10 of the 20 endpoints refusing
//     connections: the 10 healthy ones' deliveries a second, and their
//     ratio to <db>/dead_alone's, the same 10 webhooks alone;
//   - <db>/hanging: as sustained with 2 of the 20 endpoints never
//     answering (until FLUXHOOK_DELIVERY_TIMEOUT): the 18 healthy ones'
//     deliveries a second, and their ratio to sustained's.
//
// <db> is sqlite, and postgres when FLUXHOOK_TEST_POSTGRES_URL is set.
//
// These are throughput measurements, not per-operation benchmarks: each
// scenario runs once for a fixed wall time whatever b.N is (a repeat
// with a larger b.N reports the first run's figures again), and ns/op
// is suppressed. The figures also appear in a table at the end.
func BenchmarkDelivery(b *testing.B) {
	if testing.Short() {
		b.Skip("the delivery benchmark runs for minutes; not under -short")
	}
	fluxhookBinary(b) // built before anything is timed
	dbs := []string{"sqlite"}
	if os.Getenv("FLUXHOOK_TEST_POSTGRES_URL") != "" {
		dbs = append(dbs, "postgres")
	}
	if embeddedSyncAlways() {
		b.Run("disk", func(b *testing.B) {
			d := disk(b)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(d.appends, "synced_appends/s")
		})
	}
	b.Run("ceiling", func(b *testing.B) {
		c := ceiling(b)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(c.posts, "posts/s")
		b.ReportMetric(ms(c.lat.p50), "p50_ms")
		b.ReportMetric(ms(c.lat.p99), "p99_ms")
	})
	for _, db := range dbs {
		b.Run(db, func(b *testing.B) {
			b.Run("paced", func(b *testing.B) {
				r := paced(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.events, "events/s")
				b.ReportMetric(r.deliveries, "deliveries/s")
				b.ReportMetric(ms(r.lat.p50), "p50_ms")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
			})
			b.Run("sustained", func(b *testing.B) {
				r, c := sustained(b, db), ceiling(b)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.deliveries, "deliveries/s")
				b.ReportMetric(c.posts, "ceiling_posts/s")
				b.ReportMetric(100*r.deliveries/c.posts, "%_of_ceiling")
				b.ReportMetric(r.cpuPerDelivery(), "fluxhook_cpu_µs/delivery")
				b.ReportMetric(r.writesPerDelivery, "js_writes/delivery")
				b.ReportMetric(ms(r.lat.p50), "p50_ms")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
			})
			b.Run("one_to_one", func(b *testing.B) {
				r, c := oneToOne(b, db), ceiling(b)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.events, "events/s")
				b.ReportMetric(r.deliveries, "deliveries/s")
				b.ReportMetric(100*r.deliveries/c.posts, "%_of_ceiling")
				b.ReportMetric(r.cpuPerDelivery(), "fluxhook_cpu_µs/delivery")
				b.ReportMetric(r.writesPerDelivery, "js_writes/delivery")
				b.ReportMetric(ms(r.lat.p50), "p50_ms")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
			})
			b.Run("paced_1to1", func(b *testing.B) {
				r := pacedOneToOne(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.deliveries, "deliveries/s")
				b.ReportMetric(ms(r.lat.p50), "p50_ms")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
			})
			b.Run("lone", func(b *testing.B) {
				r := lone(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(ms(r.lat.p50), "p50_ms")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
				b.ReportMetric(ms(r.lat.max), "max_ms")
			})
			b.Run("ingest", func(b *testing.B) {
				r := ingest(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.events, "events/s")
				b.ReportMetric(r.deliveries, "deliveries/s")
			})
			b.Run("ingest_only", func(b *testing.B) {
				r := ingestOnly(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.events, "events/s")
				b.ReportMetric(r.cpuPerEvent(), "fluxhook_cpu_µs/event")
			})
			b.Run("ingest_batch", func(b *testing.B) {
				r := ingestBatched(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.events, "events/s")
				b.ReportMetric(r.deliveries, "deliveries/s")
			})
			b.Run("dead", func(b *testing.B) {
				r, base := deadEndpoints(b, db), deadAlone(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.deliveries, "healthy_deliveries/s")
				b.ReportMetric(base.deliveries, "alone_deliveries/s")
				b.ReportMetric(100*r.deliveries/base.deliveries, "%_of_alone")
				b.ReportMetric(r.writesPerDelivery, "js_writes/delivery")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
			})
			b.Run("hanging", func(b *testing.B) {
				r, base := hanging(b, db), sustained(b, db)
				logOnce(b, r.detail())
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(r.deliveries, "healthy_deliveries/s")
				b.ReportMetric(base.deliveries, "baseline_deliveries/s")
				b.ReportMetric(100*perEndpointShare(r, base), "%_of_baseline_per_endpoint")
				b.ReportMetric(ms(r.lat.p99), "p99_ms")
			})
		})
	}
	b.Run("summary", func(b *testing.B) {
		b.ReportMetric(0, "ns/op")
		// Straight to stdout: the testing package keeps only the first
		// ten lines of a benchmark's log, and the table is longer.
		printOnce(b, report(dbs))
	})
}

// ---------------------------------------------------------------------
// Each measurement runs once per test binary.

var memo = struct {
	sync.Mutex
	m map[string]any
}{m: map[string]any{}}

func once[T any](key string, f func() T) T {
	memo.Lock()
	v, ok := memo.m[key]
	memo.Unlock()
	if ok {
		return v.(T)
	}
	r := f()
	memo.Lock()
	memo.m[key] = r
	memo.Unlock()
	return r
}

func lookup[T any](key string) (T, bool) {
	memo.Lock()
	defer memo.Unlock()
	v, ok := memo.m[key].(T)
	return v, ok
}

// logOnce logs msg the first time the benchmark named b.Name() runs: a
// benchmark that ran faster than -benchtime is run again with a larger
// b.N, and the figures, measured once, need saying once.
func logOnce(b *testing.B, msg string) {
	if firstTime("logged " + b.Name()) {
		b.Log(msg)
	}
}

// printOnce is logOnce to stdout, for what is longer than the ten lines
// the testing package keeps of a benchmark's log.
func printOnce(b *testing.B, msg string) {
	if firstTime("printed " + b.Name()) {
		fmt.Printf("--- %s\n%s\n", b.Name(), msg)
	}
}

// firstTime reports whether key is asked about for the first time.
func firstTime(key string) bool {
	memo.Lock()
	defer memo.Unlock()
	if memo.m[key] != nil {
		return false
	}
	memo.m[key] = true
	return true
}

// embeddedSyncAlways reports whether the runs use the all-in-one's
// embedded JetStream with its default of syncing every write.
func embeddedSyncAlways() bool {
	v := os.Getenv("FLUXHOOK_BENCH_NATS_SYNC_INTERVAL")
	return os.Getenv("FLUXHOOK_BENCH_NATS_URL") == "" && (v == "" || v == "always")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ---------------------------------------------------------------------
// The ceiling

type ceilingResult struct {
	posts float64
	lat   percentiles // send to arrival
	cpu   cpuUse
	errs  string
}

func ceiling(b *testing.B) ceilingResult {
	return once("ceiling", func() ceilingResult { return measureCeiling(b) })
}

func measureCeiling(b *testing.B) ceilingResult {
	rcv := newReceiver(b, loadWebhooks, 0, 0, false)
	defer rcv.close()
	client := outbound.NewClient(outbound.Policy{AllowInsecure: true, AllowPrivate: true}, outbound.ClientOptions{Timeout: 10 * time.Second, UserAgent: "Fluxhook/bench",
		MaxIdleConnsPerHost: delivery.DefaultPerWebhookInFlight}) // as the worker's
	secrets := []string{signing.NewSecret()}
	var errs errorsSeen
	ctx, cancel := context.WithCancel(context.Background())
	win := rcv.measure(ceilingWarm, ceilingMeasure)
	var wg sync.WaitGroup
	for i := range ceilingSenders {
		url := rcv.urls[i%len(rcv.urls)]
		wg.Go(func() {
			for ctx.Err() == nil {
				now := time.Now()
				id := store.NewID()
				body := deliveryBody(id, now)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					errs.add(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				signing.Sign(req.Header, secrets, id, now, body)
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.add(err)
					}
					continue
				}
				_, _, _ = outbound.ReadBody(res.Body, outbound.MaxResponseBody)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs.add(fmt.Errorf("receiver answered %s", res.Status))
				}
			}
		})
	}
	time.Sleep(ceilingWarm)
	c0 := sampleCPU(os.Getpid())
	time.Sleep(ceilingMeasure)
	c1 := sampleCPU(os.Getpid())
	cancel()
	wg.Wait()
	cpu := cpuBetween(c0, c1)
	cpu.fluxhook = 0 // there is no fluxhook here: the bench is everything
	return ceilingResult{posts: float64(win.count.Load()) / ceilingMeasure.Seconds(), lat: win.percentiles(), cpu: cpu, errs: errs.String()}
}

// ---------------------------------------------------------------------
// The pipeline

type scenario struct {
	db       string // sqlite or postgres
	webhooks int
	hanging  int
	dead     int // endpoints refusing connections
	// oneToOne subscribes each webhook to an event name of its own and
	// sends each event to one of them, in turn: the multi-tenant shape.
	oneToOne bool
	rate     float64 // events a second; 0: as fast as delivered (backlogCap)
	uncapped bool    // with rate 0: as fast as accepted, no backlogCap
	batch    int     // events per request through POST /events/batch; 0: POST /events
	// unmatched publishes, once the webhooks are warm, events no webhook
	// subscribes to: the API and the dispatcher's read with no delivery.
	unmatched  bool
	publishers int
	warm       time.Duration
	measure    time.Duration
}

type loadResult struct {
	sc         scenario
	deliveries float64 // a second, at the answering endpoints, in the window
	events     float64 // accepted (202) a second, in the window
	lat        percentiles
	cpu        cpuUse
	dups       int64
	badSigs    int64
	hangArrive int64 // attempts that reached the hanging endpoints, whole run
	pubErrs    string
	missed     int64  // paced: events the publishers could not send on time
	where      string // from the process's metrics
	consumers  string // JetStream consumers' state at the end of the window
	trend      []float64
	accepted   int64 // events accepted in the whole run
	// writesPerDelivery is JetStream's writes (messages stored and
	// removed, EVENTS and DELIVERIES) per delivery in the window.
	writesPerDelivery float64
	warnings          []string
	nWarnings         int
}

// cpuPerDelivery is the fluxhook process's CPU time per delivery, in
// microseconds: what an optimisation changes, whatever else shares the
// machine during the run.
func (r loadResult) cpuPerDelivery() float64 {
	if r.deliveries <= 0 {
		return 0
	}
	return r.cpu.fluxhook * 1e6 / r.deliveries
}

func (r loadResult) cpuPerEvent() float64 {
	if r.events <= 0 {
		return 0
	}
	return r.cpu.fluxhook * 1e6 / r.events
}

func paced(b *testing.B, db string) loadResult {
	return once(db+"/paced", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: pacedWebhooks, rate: pacedRate, publishers: pacedPublish, warm: pacedWarm, measure: pacedMeasure})
	})
}

func sustained(b *testing.B, db string) loadResult {
	return once(db+"/sustained", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: loadWebhooks, publishers: loadPublishers, warm: loadWarm, measure: loadDuration(b)})
	})
}

func oneToOne(b *testing.B, db string) loadResult {
	return once(db+"/one_to_one", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: oneToOneWebhooks, oneToOne: true, publishers: oneToOnePublishers, warm: loadWarm, measure: loadDuration(b)})
	})
}

// pacedOneToOne is paced's rate spread over one_to_one's 1,000
// webhooks: the latency of the multi-tenant shape at a steady load.
func pacedOneToOne(b *testing.B, db string) loadResult {
	return once(db+"/paced_1to1", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: oneToOneWebhooks, oneToOne: true, rate: pacedRate, publishers: pacedPublish, warm: pacedWarm, measure: pacedMeasure})
	})
}

// lone is one event at a time (loneRate a second, one publisher) to one
// of 1,000 webhooks: an event's latency with nothing to share a pack or
// a fsync with.
func lone(b *testing.B, db string) loadResult {
	return once(db+"/lone", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: oneToOneWebhooks, oneToOne: true, rate: loneRate, publishers: 1, warm: time.Second, measure: pacedMeasure})
	})
}

// ingest is one_to_one with the publishers never waiting for the
// pipeline: how many events a second the API accepts (stored, 202) while
// the dispatcher and worker run beside it.
func ingest(b *testing.B, db string) loadResult {
	return once(db+"/ingest", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: oneToOneWebhooks, oneToOne: true, uncapped: true, publishers: oneToOnePublishers, warm: time.Second, measure: ingestMeasure})
	})
}

// ingestOnly is ingest with events no webhook subscribes to: what the
// API accepts, one event a request, when the two cores are not also
// delivering (the dispatcher still reads and matches each event).
func ingestOnly(b *testing.B, db string) loadResult {
	return once(db+"/ingest_only", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: oneToOneWebhooks, oneToOne: true, uncapped: true, unmatched: true, publishers: oneToOnePublishers, warm: time.Second, measure: ingestMeasure})
	})
}

// ingestBatched is ingest through POST /events/batch, ingestBatch
// events a request, from fewer publishers: what a client that batches
// gets accepted.
func ingestBatched(b *testing.B, db string) loadResult {
	return once(db+"/ingest_batch", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: oneToOneWebhooks, oneToOne: true, uncapped: true, batch: ingestBatch, publishers: ingestBatchPublishers, warm: time.Second, measure: ingestMeasure})
	})
}

func deadEndpoints(b *testing.B, db string) loadResult {
	return once(db+"/dead", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: loadWebhooks, dead: deadHooks, publishers: loadPublishers, warm: loadWarm, measure: loadDuration(b)})
	})
}

// deadAlone is dead's healthy webhooks alone: its baseline.
func deadAlone(b *testing.B, db string) loadResult {
	return once(db+"/dead_alone", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: loadWebhooks - deadHooks, publishers: loadPublishers, warm: loadWarm, measure: loadDuration(b)})
	})
}

func hanging(b *testing.B, db string) loadResult {
	return once(db+"/hanging", func() loadResult {
		return runLoad(b, scenario{db: db, webhooks: loadWebhooks, hanging: hangingHooks, publishers: loadPublishers, warm: loadWarm, measure: loadDuration(b)})
	})
}

// loadDuration is sustained's and hanging's measuring time: loadMeasure,
// or FLUXHOOK_BENCH_LOAD_SECONDS.
func loadDuration(b *testing.B) time.Duration {
	v := os.Getenv("FLUXHOOK_BENCH_LOAD_SECONDS")
	if v == "" {
		return loadMeasure
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("FLUXHOOK_BENCH_LOAD_SECONDS=%q: want a number of seconds", v)
	}
	return time.Duration(n) * time.Second
}

// batchBody is a POST /events/batch body of n of bodies, from the
// from-th on, in turn.
func batchBody(bodies [][]byte, from, n int) []byte {
	out := append(make([]byte, 0, n*(len(bodies[0])+1)+16), `{"events":[`...)
	for i := range n {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, bodies[(from+i)%len(bodies)]...)
	}
	return append(out, "]}"...)
}

// runLoad starts a fresh all-in-one for the scenario, creates its
// webhooks and keys through the API, publishes, and measures at the
// receivers.
func runLoad(b *testing.B, sc scenario) loadResult {
	dbURL := ""
	if sc.db == "postgres" {
		dbURL = testenv.PostgresURL(b)
	}
	rcv := newReceiver(b, sc.webhooks, sc.hanging, sc.dead, true)
	defer rcv.close()
	in := startFluxhook(b, dbURL, map[string]string{"FLUXHOOK_DELIVERY_TIMEOUT": deliveryTimeout})
	defer in.stop(b)
	// Each event's body: the same event to every webhook, or, one to
	// one, an event name of each webhook's own, in turn.
	bodies := [][]byte{eventRequest}
	if sc.oneToOne {
		bodies = make([][]byte, len(rcv.urls))
	}
	for i, u := range rcv.urls {
		events := []string{"*"}
		if sc.oneToOne {
			name := fmt.Sprintf("bench.w%d", i)
			events = []string{name}
			bodies[i] = []byte(`{"event":"` + name + `","data":` + eventData + `}`)
		}
		s := in.createWebhook(b, u, events)
		rcv.secrets[i].Store(&s)
	}
	keys := in.createKeys(b, clientKeys)
	perEvent := int64(rcv.healthyCount()) // deliveries an event makes
	if sc.oneToOne {
		perEvent = 1
	}

	// Publish probes until every answering endpoint has had one: the
	// dispatcher has seen every webhook, and connections are open.
	for deadline := time.Now().Add(30 * time.Second); !rcv.received(1); {
		if time.Now().After(deadline) {
			b.Fatalf("no delivery to every webhook within 30 s of creating them:\n%s", in.logTail())
		}
		for _, body := range bodies {
			if _, err := in.call(context.Background(), "POST", "/events", keys[0], body, nil); err != nil {
				b.Fatalf("publish a probe: %v", err)
			}
		}
		for i := 0; i < 20 && !rcv.received(1); i++ {
			time.Sleep(25 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond) // probes' stragglers
	if sc.unmatched {
		bodies = [][]byte{[]byte(`{"event":"bench.unmatched","data":` + eventData + `}`)}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	win := rcv.measure(sc.warm, sc.measure)
	base := rcv.healthy.Load()
	var accepted, acceptedInWindow, missed atomic.Int64
	var errs errorsSeen
	var next atomic.Int64
	path := "/events"
	if sc.batch > 0 {
		path = "/events/batch"
	}
	// One publisher (one keep-alive connection) per goroutine, each
	// with a client key of the run's in turn.
	var pubs atomic.Int64
	newPub := func() *publisher {
		p, err := newPublisher(in.api, path, keys[int(pubs.Add(1))%len(keys)])
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	publish := func(p *publisher) {
		n := int(next.Add(1))
		// Requests under way when the run ends finish (the publisher's
		// deadline bounds them): cutting them would make the API log a
		// failed publish that is only ours.
		body, events := bodies[n%len(bodies)], int64(1)
		if sc.batch > 0 {
			body, events = batchBody(bodies, n*sc.batch, sc.batch), int64(sc.batch)
		}
		code, msg, err := p.post(body)
		if code == http.StatusAccepted {
			accepted.Add(events)
			if n := time.Now().UnixNano(); n >= win.from && n < win.to {
				acceptedInWindow.Add(events)
			}
			return
		}
		if err == nil {
			err = fmt.Errorf("POST %s: %d: %s", path, code, bytes.TrimSpace(msg))
		}
		errs.add(err)
		time.Sleep(10 * time.Millisecond)
	}
	var wg sync.WaitGroup
	if sc.rate == 0 {
		for range sc.publishers {
			wg.Go(func() {
				p := newPub()
				defer p.close()
				for ctx.Err() == nil {
					if !sc.uncapped && accepted.Load()*perEvent-(rcv.healthy.Load()-base) > backlogCap {
						time.Sleep(time.Millisecond)
						continue
					}
					publish(p)
				}
			})
		}
	} else {
		tokens := make(chan struct{}, int(sc.rate))
		wg.Go(func() {
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			start, issued := time.Now(), 0
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					for due := int(now.Sub(start).Seconds() * sc.rate); issued < due; issued++ {
						select {
						case tokens <- struct{}{}:
						default:
							missed.Add(1)
						}
					}
				}
			}
		})
		for range sc.publishers {
			wg.Go(func() {
				p := newPub()
				defer p.close()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tokens:
						publish(p)
					}
				}
			})
		}
	}
	time.Sleep(sc.warm)
	c0, m0 := sampleCPU(in.cmd.Process.Pid), in.metrics()
	s0, serr0 := in.storedMsgs()
	n0 := win.count.Load()
	time.Sleep(sc.measure)
	c1, m1 := sampleCPU(in.cmd.Process.Pid), in.metrics()
	s1, serr1 := in.storedMsgs()
	n1 := win.count.Load()
	consumers := in.consumers()
	cancel()
	wg.Wait()

	r := loadResult{
		sc:         sc,
		deliveries: float64(win.count.Load()) / sc.measure.Seconds(),
		events:     float64(acceptedInWindow.Load()) / sc.measure.Seconds(),
		lat:        win.percentiles(),
		cpu:        cpuBetween(c0, c1),
		dups:       rcv.dups.Load(),
		badSigs:    rcv.badSigs.Load(),
		pubErrs:    errs.String(),
		missed:     missed.Load(),
		where:      m1.sub(m0).summary(sc.measure.Seconds()),
		consumers:  consumers,
		trend:      win.trend(),
		accepted:   accepted.Load(),
	}
	if serr0 == nil && serr1 == nil && n1 > n0 {
		r.writesPerDelivery = 2 * float64(s1-s0) / float64(n1-n0)
	}
	for i, h := range rcv.hanging {
		if h {
			r.hangArrive += rcv.total[i].Load()
		}
	}
	r.warnings, r.nWarnings = in.warnings(3)
	if r.badSigs > 0 {
		b.Errorf("%s: %d deliveries failed signature verification", sc.db, r.badSigs)
	}
	if n := rcv.badTimes.Load(); n > 0 {
		b.Errorf("%s: %d delivery bodies without a readable timestamp", sc.db, n)
	}
	return r
}

// ---------------------------------------------------------------------
// The table

func report(dbs []string) string {
	var sb strings.Builder
	c, ok := lookup[ceilingResult]("ceiling")
	if ok {
		fmt.Fprintf(&sb, "\nceiling: %.0f signed POSTs/s over loopback (%d senders, %d receivers, %v), send→arrival p50 %.2f ms p99 %.2f ms; CPU cores: %s; errors: %s\n",
			c.posts, ceilingSenders, loadWebhooks, ceilingMeasure, ms(c.lat.p50), ms(c.lat.p99), c.cpu, c.errs)
	}
	fmt.Fprintf(&sb, "\n%-9s %-12s %8s %11s %9s %8s %8s %8s  %s\n", "db", "scenario", "events/s", "deliveries/s", "ratio", "p50 ms", "p99 ms", "max ms", "CPU cores")
	for _, db := range dbs {
		base, haveBase := lookup[loadResult](db + "/sustained")
		alone, haveAlone := lookup[loadResult](db + "/dead_alone")
		for _, name := range []string{"paced", "sustained", "one_to_one", "paced_1to1", "lone", "ingest", "ingest_only", "ingest_batch", "dead_alone", "dead", "hanging"} {
			r, ok := lookup[loadResult](db + "/" + name)
			if !ok {
				continue
			}
			ratio := "-"
			switch {
			case name == "dead" && haveAlone && alone.deliveries > 0:
				ratio = fmt.Sprintf("%.1f%%a", 100*r.deliveries/alone.deliveries)
			case (name == "sustained" || name == "one_to_one") && c.posts > 0:
				ratio = fmt.Sprintf("%.1f%%c", 100*r.deliveries/c.posts)
			case name == "hanging" && haveBase && base.deliveries > 0:
				ratio = fmt.Sprintf("%.1f%%b", 100*perEndpointShare(r, base))
			}
			fmt.Fprintf(&sb, "%-9s %-12s %8.0f %11.0f %9s %8.2f %8.2f %8.1f  %s\n", db, name, r.events, r.deliveries, ratio, ms(r.lat.p50), ms(r.lat.p99), ms(r.lat.max), r.cpu)
		}
	}
	for _, db := range dbs {
		base, okBase := lookup[loadResult](db + "/sustained")
		h, okHang := lookup[loadResult](db + "/hanging")
		if okBase && okHang && base.deliveries > 0 {
			healthy := loadWebhooks - hangingHooks
			each, baseEach := h.deliveries/float64(healthy), base.deliveries/loadWebhooks
			fmt.Fprintf(&sb, "%s/hanging per endpoint: each of the %d healthy endpoints got %.0f deliveries/s, %.1f%% of what each of the %d got in sustained (%.0f/s)\n",
				db, healthy, each, 100*each/baseEach, loadWebhooks, baseEach)
		}
	}
	for _, db := range dbs {
		if r, ok := lookup[loadResult](db + "/sustained"); ok && r.deliveries > 0 {
			fmt.Fprintf(&sb, "%s/sustained: the fluxhook process spent %.0f µs of CPU per delivery (steadier from run to run than the ratio, whose ceiling moves)\n",
				db, r.cpuPerDelivery())
		}
	}
	if d, ok := lookup[diskResult]("disk"); ok && d.appends > 0 {
		fmt.Fprintf(&sb, "disk: %.0f synced appends/s to one file here (%d B, write + fsync). With every JetStream write synced, each message\n"+
			"  stored and each removed costs one; a delivery costs its share of them, which packing jobs (and retries) lowers\n", d.appends, diskAppend)
		for _, db := range dbs {
			if r, ok := lookup[loadResult](db + "/sustained"); ok && r.writesPerDelivery > 0 {
				bound := d.appends / r.writesPerDelivery
				fmt.Fprintf(&sb, "  %s/sustained: %.2f JetStream writes per delivery, so the disk allows about %.0f deliveries/s", db, r.writesPerDelivery, bound)
				if c.posts > 0 {
					fmt.Fprintf(&sb, " (%.0f%% of the ceiling)", 100*bound/c.posts)
				}
				fmt.Fprintf(&sb, "; it reached %.0f%% of that\n", 100*r.deliveries/bound)
			}
		}
	}
	sb.WriteString("\nratio: %c = deliveries/s ÷ ceiling posts/s; %b = each healthy endpoint's deliveries/s in hanging ÷ each endpoint's in sustained (same 20 webhooks, 2 of them hanging);\n" +
		"  %a = dead's 10 healthy endpoints' deliveries/s ÷ dead_alone's (the same 10 without the 10 endpoints refusing connections)\n")
	if url := os.Getenv("FLUXHOOK_BENCH_NATS_URL"); url != "" {
		fmt.Fprintf(&sb, "JetStream: external, %s, streams R%s (FLUXHOOK_BENCH_NATS_URL, FLUXHOOK_BENCH_STREAM_REPLICAS)\n",
			url, cmp.Or(os.Getenv("FLUXHOOK_BENCH_STREAM_REPLICAS"), "1"))
	} else {
		syncMode := os.Getenv("FLUXHOOK_BENCH_NATS_SYNC_INTERVAL")
		if syncMode == "" {
			syncMode = "always (the default: every JetStream write is fsynced)"
		}
		fmt.Fprintf(&sb, "JetStream: embedded, sync %s (FLUXHOOK_BENCH_NATS_SYNC_INTERVAL)\n", syncMode)
	}
	fmt.Fprintf(&sb, "paced_1to1: %d events/s, each to one of %d webhooks; lone: %d events/s, one at a time, to one of %d; ingest: as one_to_one, the %d publishers never waiting for deliveries (events/s is what the API accepted); ingest_only: the same with events no webhook subscribes to (the API and the dispatcher's read, no delivery); ingest_batch: the same through POST /events/batch, %d events a request from %d publishers\n",
		pacedRate, oneToOneWebhooks, loneRate, oneToOneWebhooks, oneToOnePublishers, ingestBatch, ingestBatchPublishers)
	fmt.Fprintf(&sb, "paced: %d events/s to %d webhook; sustained: %d webhooks on \"*\", publishers wait while more than %d deliveries are outstanding; hanging: %d of %d endpoints never answer (FLUXHOOK_DELIVERY_TIMEOUT=%s)\n",
		pacedRate, pacedWebhooks, loadWebhooks, backlogCap, hangingHooks, loadWebhooks, deliveryTimeout)
	sb.WriteString("latency: from the body's timestamp (set by the API on accepting the event, millisecond precision, so up to 1 ms high) to arrival at the receiver\n")
	for _, db := range dbs {
		for _, name := range []string{"paced", "sustained", "one_to_one", "paced_1to1", "lone", "ingest", "ingest_only", "ingest_batch", "dead", "hanging"} {
			if r, ok := lookup[loadResult](db + "/" + name); ok {
				fmt.Fprintf(&sb, "%s/%s: %s", db, name, r.detail())
			}
		}
	}
	return sb.String()
}

// perEndpointShare is what each healthy endpoint of hanging received,
// as a share of what each endpoint received in sustained (base): what
// the healthy endpoints keep of their own throughput beside the hanging
// ones. (Their sum over sustained's sum could never pass 90%: two of the
// twenty endpoints take nothing.)
func perEndpointShare(r, base loadResult) float64 {
	healthy := loadWebhooks - hangingHooks
	return (r.deliveries / float64(healthy)) / (base.deliveries / loadWebhooks)
}

// detail is what else the run showed: errors, the CPU split, and where
// the time went according to the process's own metrics.
func (r loadResult) detail() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "duplicates %d, publish errors %s", r.dups, r.pubErrs)
	if r.sc.rate > 0 {
		fmt.Fprintf(&sb, ", events not sent on time %d", r.missed)
	}
	if r.sc.hanging > 0 {
		fmt.Fprintf(&sb, ", attempts reaching the hanging endpoints %d", r.hangArrive)
	}
	fmt.Fprintf(&sb, ", warnings logged %d, JetStream writes per delivery %.2f\n    CPU cores: %s\n    %s\n    %s\n", r.nWarnings, r.writesPerDelivery, r.cpu, r.where, r.consumers)
	trend := make([]string, len(r.trend))
	for i, v := range r.trend {
		trend[i] = fmt.Sprintf("%.0f", v)
	}
	fmt.Fprintf(&sb, "    deliveries/s by %v slice of the window: %s", sliceLen, strings.Join(trend, " → "))
	if r.sc.hanging > 0 {
		fmt.Fprintf(&sb, "; jobs for the hanging endpoints so far about %d", r.accepted*int64(r.sc.hanging))
	}
	sb.WriteString("\n")
	for _, w := range r.warnings {
		fmt.Fprintf(&sb, "    %s\n", w)
	}
	return sb.String()
}
