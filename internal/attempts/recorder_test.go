package attempts_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/attempts"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/prometheus/client_golang/prometheus"
)

var _ attempts.Store = (*store.DB)(nil)

// fakeStore keeps the Store contract (ids filled in, idempotent on id)
// in memory. It exists because a real database cannot be made to fail
// on the third insert and then recover, or to hold an insert open until
// the test lets it go.
type fakeStore struct {
	mu     sync.Mutex
	rows   map[string]fluxhook.Attempt // by id
	writes map[string]int              // by delivery id: rows written
	sizes  []int                       // per successful insert
	calls  int
	nextID int

	delay time.Duration
	// fail, when set, decides the outcome of call number n (from 1)
	// before anything is written.
	fail func(n int, as []*fluxhook.Attempt) error
	// entered receives each call's number, when set; hold, when set,
	// keeps every call waiting until it is closed.
	entered chan int
	hold    chan struct{}
}

func newFake() *fakeStore {
	return &fakeStore{rows: map[string]fluxhook.Attempt{}, writes: map[string]int{}}
}

func (f *fakeStore) InsertAttempts(ctx context.Context, as []*fluxhook.Attempt) error {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if f.entered != nil {
		f.entered <- n
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.fail != nil {
		if err := f.fail(n, as); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range as {
		if a.ID == "" {
			f.nextID++
			a.ID = fmt.Sprintf("attempt-%d", f.nextID)
		}
		if _, ok := f.rows[a.ID]; ok {
			continue
		}
		f.rows[a.ID] = *a
		f.writes[a.DeliveryID]++
	}
	f.sizes = append(f.sizes, len(as))
	return nil
}

func (f *fakeStore) written(deliveryID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes[deliveryID]
}

func (f *fakeStore) inserts() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.sizes...)
}

func (f *fakeStore) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func newAttempt(webhookID string) *fluxhook.Attempt {
	return &fluxhook.Attempt{DeliveryID: store.NewID(), WebhookID: webhookID, EventID: store.NewID(), Event: "user.created",
		Payload: json.RawMessage(`{"event":"user.created","data":{"id":1}}`), Status: fluxhook.DeliveryDelivered, Attempt: 1}
}

func newAttempts(n int, webhookID string) []*fluxhook.Attempt {
	as := make([]*fluxhook.Attempt, n)
	for i := range as {
		as[i] = newAttempt(webhookID)
	}
	return as
}

// start runs r until the test ends or the returned stop is called; stop
// returns Run's error.
func start(tb testing.TB, r *attempts.Recorder) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("Run did not return within 30s of its context ending")
		}
	})
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// recordAll calls Record for every attempt at once and returns each
// call's error.
func recordAll(ctx context.Context, r *attempts.Recorder, as []*fluxhook.Attempt) []error {
	errs := make([]error, len(as))
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Go(func() { errs[i] = r.Record(ctx, a) })
	}
	wg.Wait()
	return errs
}

// metric reads a counter or gauge, or a histogram's sample count.
func metric(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	tb.Fatalf("metric %s not registered", name)
	return 0
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func unavailable() error {
	return fluxhook.Unavailable("database", errors.New("connection refused"))
}

func TestRecordSharesInsertsBetweenConcurrentCallers(t *testing.T) {
	f := newFake()
	f.delay = 2 * time.Millisecond // a commit takes time, as on a real database
	reg := prometheus.NewRegistry()
	r := attempts.New(f, attempts.Options{}, attempts.NewMetrics(reg))
	start(t, r)

	as := newAttempts(1000, store.NewID())
	for i, err := range recordAll(context.Background(), r, as) {
		if err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	for _, a := range as {
		if n := f.written(a.DeliveryID); n != 1 {
			t.Fatalf("delivery %s written %d times, want once", a.DeliveryID, n)
		}
		if a.ID == "" {
			t.Fatal("Record did not hand back the id the store filled in")
		}
	}
	sizes := f.inserts()
	if len(sizes) >= 100 {
		t.Fatalf("1,000 concurrent records took %d inserts, want fewer than 100 (sizes %v)", len(sizes), sizes)
	}
	t.Logf("1,000 records in %d inserts", len(sizes))
	for name, want := range map[string]float64{
		"fluxhook_attempt_records_written_total": 1000,
		"fluxhook_attempt_record_batch_size":     float64(len(sizes)),
		"fluxhook_attempt_record_flush_seconds":  float64(len(sizes)),
		"fluxhook_attempt_record_errors_total":   0,
		"fluxhook_attempt_records_queued":        0,
	} {
		if got := metric(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestRecordWritesALoneRecordAndGroupsTheQueue: by default a record is written at once when
// nothing is being written, and the records that queue while an insert
// is under way leave together right after it: group commit without a
// fixed wait, so a job's ack (and a killed worker's window of jobs sent
// but not recorded) is as short as the database allows.
func TestRecordWritesALoneRecordAndGroupsTheQueue(t *testing.T) {
	f := newFake()
	f.entered, f.hold = make(chan int, 16), make(chan struct{})
	reg := prometheus.NewRegistry()
	r := attempts.New(f, attempts.Options{}, attempts.NewMetrics(reg))
	start(t, r)
	webhook := store.NewID()
	errs := make(chan error, 11)
	go func() { errs <- r.Record(context.Background(), newAttempt(webhook)) }()
	select {
	case <-f.entered: // the first record's insert began alone
	case <-time.After(10 * time.Second):
		t.Fatal("a lone record was not written: the recorder waits for company")
	}
	for range 10 {
		go func() { errs <- r.Record(context.Background(), newAttempt(webhook)) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, reg, "fluxhook_attempt_records_queued") < 11 {
		if time.Now().After(deadline) {
			t.Fatalf("%v records queued, want 11", metric(t, reg, "fluxhook_attempt_records_queued"))
		}
		time.Sleep(time.Millisecond)
	}
	close(f.hold)
	for range 11 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := f.inserts(); !slices.Equal(got, []int{1, 10}) {
		t.Fatalf("inserts of %v records, want [1 10]: the first alone, the ten that queued meanwhile together", got)
	}
}

func TestRecordFlushesFullBatchesAtOnce(t *testing.T) {
	f := newFake()
	// With a MaxDelay of an hour, only size can make a batch leave.
	r := attempts.New(f, attempts.Options{MaxBatch: 7, MaxDelay: time.Hour}, nil)
	start(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, err := range recordAll(ctx, r, newAttempts(21, store.NewID())) {
		if err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	if sizes := f.inserts(); len(sizes) != 3 || sizes[0] != 7 || sizes[1] != 7 || sizes[2] != 7 {
		t.Fatalf("insert sizes %v, want [7 7 7]", sizes)
	}
}

func TestRecordRetriesUntilTheStoreRecovers(t *testing.T) {
	f := newFake()
	var returned atomic.Int32
	var returnedDuringFailures []int32
	f.fail = func(n int, _ []*fluxhook.Attempt) error {
		if n > 3 {
			return nil
		}
		returnedDuringFailures = append(returnedDuringFailures, returned.Load())
		return unavailable()
	}
	reg := prometheus.NewRegistry()
	r := attempts.New(f, attempts.Options{MaxDelay: 50 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}, attempts.NewMetrics(reg))
	start(t, r)

	as := newAttempts(50, store.NewID())
	errs := make([]error, len(as))
	writtenOnReturn := make([]int, len(as))
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Go(func() {
			errs[i] = r.Record(context.Background(), a)
			writtenOnReturn[i] = f.written(a.DeliveryID)
			returned.Add(1)
		})
	}
	wg.Wait()
	for i := range as {
		if errs[i] != nil {
			t.Fatalf("Record %d: %v", i, errs[i])
		}
		if writtenOnReturn[i] != 1 {
			t.Fatalf("Record %d returned while its record was written %d times", i, writtenOnReturn[i])
		}
	}
	if len(returnedDuringFailures) != 3 {
		t.Fatalf("store failed %d times, want 3", len(returnedDuringFailures))
	}
	for i, n := range returnedDuringFailures {
		if n != 0 {
			t.Fatalf("%d callers had returned by failure %d, want none", n, i+1)
		}
	}
	if got := metric(t, reg, "fluxhook_attempt_record_errors_total"); got != 3 {
		t.Fatalf("errors_total = %v, want 3", got)
	}
	if got := metric(t, reg, "fluxhook_attempt_records_written_total"); got != 50 {
		t.Fatalf("written_total = %v, want 50", got)
	}
}

func TestRunWritesQueuedRecordsBeforeReturning(t *testing.T) {
	f := newFake()
	reg := prometheus.NewRegistry()
	// A MaxDelay of an hour: shutdown must not wait for it.
	r := attempts.New(f, attempts.Options{MaxBatch: 20, MaxDelay: time.Hour}, attempts.NewMetrics(reg))
	as := newAttempts(50, store.NewID())
	done := make(chan []error)
	go func() { done <- recordAll(context.Background(), r, as) }()
	waitFor(t, "50 queued records", func() bool { return metric(t, reg, "fluxhook_attempt_records_queued") == 50 })

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	began := time.Now()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("Run took %v to drain", took)
	}
	// Read before the callers return (they write the ids back into as).
	f.mu.Lock()
	n := len(f.rows)
	f.mu.Unlock()
	if n != 50 {
		t.Fatalf("%d records written before Run returned, want 50", n)
	}
	for i, err := range <-done {
		if err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	for _, a := range as {
		if f.written(a.DeliveryID) != 1 {
			t.Fatalf("delivery %s written %d times, want once", a.DeliveryID, f.written(a.DeliveryID))
		}
	}
	if len(f.inserts()) != 3 {
		t.Fatalf("insert sizes %v, want three batches of at most 20", f.inserts())
	}
	if err := r.Record(context.Background(), newAttempt(store.NewID())); !errors.Is(err, attempts.ErrStopped) {
		t.Fatalf("Record after Run returned: %v, want ErrStopped", err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("a second Run did not fail")
	}
}

func TestRecordContextEndsButRecordIsWritten(t *testing.T) {
	f := newFake()
	f.hold = make(chan struct{})
	f.entered = make(chan int, 10)
	r := attempts.New(f, attempts.Options{MaxDelay: time.Millisecond}, nil)
	stop := start(t, r)

	a := newAttempt(store.NewID())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- r.Record(ctx, a) }()
	<-f.entered // its batch is being written
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Record = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Record did not return when its context ended")
	}
	if a.ID != "" {
		t.Fatal("Record changed the caller's attempt without reporting success")
	}
	close(f.hold)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := f.written(a.DeliveryID); n != 1 {
		t.Fatalf("record written %d times after its caller left, want once", n)
	}
}

func TestRecordBlocksWhileTheQueueIsFull(t *testing.T) {
	f := newFake()
	reg := prometheus.NewRegistry()
	r := attempts.New(f, attempts.Options{QueueSize: 10, MaxDelay: time.Millisecond}, attempts.NewMetrics(reg))
	queued := newAttempts(10, store.NewID())
	first := make(chan []error)
	go func() { first <- recordAll(context.Background(), r, queued) }()
	waitFor(t, "a full queue", func() bool { return metric(t, reg, "fluxhook_attempt_records_queued") == 10 })

	// With nobody draining the queue, the next record waits for room...
	refused := newAttempt(store.NewID())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.Record(ctx, refused); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Record on a full queue = %v, want DeadlineExceeded", err)
	}
	late := newAttempt(store.NewID())
	lateErr := make(chan error, 1)
	go func() { lateErr <- r.Record(context.Background(), late) }()
	select {
	case err := <-lateErr:
		t.Fatalf("Record returned %v with the queue full", err)
	case <-time.After(50 * time.Millisecond):
	}
	if got := metric(t, reg, "fluxhook_attempt_records_queued"); got > 11 {
		t.Fatalf("queued = %v with a capacity of 10 and one caller waiting", got)
	}

	// ...and gets in once the recorder runs.
	start(t, r)
	for i, err := range <-first {
		if err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	if err := <-lateErr; err != nil {
		t.Fatal(err)
	}
	for _, a := range append(queued, late) {
		if f.written(a.DeliveryID) != 1 {
			t.Fatalf("delivery %s not written", a.DeliveryID)
		}
	}
	if f.written(refused.DeliveryID) != 0 {
		t.Fatal("a record that never got into the queue was written")
	}
}

func TestRunGivesUpAfterTheDrainTimeout(t *testing.T) {
	f := newFake()
	f.fail = func(int, []*fluxhook.Attempt) error { return unavailable() }
	reg := prometheus.NewRegistry()
	r := attempts.New(f, attempts.Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, DrainTimeout: 100 * time.Millisecond}, attempts.NewMetrics(reg))
	stop := start(t, r)
	as := newAttempts(5, store.NewID())
	done := make(chan []error)
	go func() { done <- recordAll(context.Background(), r, as) }()
	waitFor(t, "failing inserts", func() bool { return metric(t, reg, "fluxhook_attempt_record_errors_total") >= 3 })

	began := time.Now()
	err := stop()
	if err == nil {
		t.Fatal("Run returned nil with records unwritten")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("Run took %v to give up with a drain timeout of 100ms", took)
	}
	for i, err := range <-done {
		if !errors.Is(err, attempts.ErrStopped) {
			t.Fatalf("Record %d = %v, want ErrStopped", i, err)
		}
	}
	if got := metric(t, reg, "fluxhook_attempt_records_queued"); got != 0 {
		t.Fatalf("queued = %v after Run returned, want 0", got)
	}
}

// openStore opens a migrated store; postgres needs
// FLUXHOOK_TEST_POSTGRES_URL (see testenv).
func openStore(tb testing.TB, driver string) *store.DB {
	tb.Helper()
	url := "sqlite://" + filepath.Join(tb.TempDir(), "fluxhook.db")
	if driver == "postgres" {
		url = testenv.PostgresURL(tb)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

// countingStore counts the inserts that reach a real store.
type countingStore struct {
	attempts.Store
	calls atomic.Int64
}

func (c *countingStore) InsertAttempts(ctx context.Context, as []*fluxhook.Attempt) error {
	c.calls.Add(1)
	return c.Store.InsertAttempts(ctx, as)
}

func TestRecordIntoDatabase(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			db := openStore(t, driver)
			cs := &countingStore{Store: db}
			r := attempts.New(cs, attempts.Options{}, nil)
			start(t, r)
			ctx := context.Background()

			webhook := store.NewID()
			as := newAttempts(1000, webhook)
			for i, err := range recordAll(ctx, r, as) {
				if err != nil {
					t.Fatalf("Record %d: %v", i, err)
				}
			}
			rows, err := db.Attempts(ctx, webhook, 5000)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(as) {
				t.Fatalf("%d rows, want %d", len(rows), len(as))
			}
			byID := map[string]*fluxhook.Attempt{}
			for _, row := range rows {
				byID[row.ID] = row
			}
			for _, a := range as {
				row := byID[a.ID]
				if row == nil || row.DeliveryID != a.DeliveryID || string(row.Payload) != string(a.Payload) || !row.CreatedAt.Equal(a.CreatedAt) {
					t.Fatalf("attempt %+v\nstored as %+v", a, row)
				}
			}
			if n := cs.calls.Load(); n >= 100 {
				t.Fatalf("1,000 concurrent records took %d inserts, want fewer than 100", n)
			} else {
				t.Logf("1,000 records in %d inserts", n)
			}
		})
	}
}

func TestRecordRejectsOnlyTheUnstorableAttempt(t *testing.T) {
	db := openStore(t, "sqlite")
	r := attempts.New(db, attempts.Options{MaxDelay: 50 * time.Millisecond}, nil)
	start(t, r)
	ctx := context.Background()
	webhook := store.NewID()
	as := newAttempts(20, webhook)
	as[7].EventID = "evt_1" // not a UUID: PostgreSQL could never store it
	errs := recordAll(ctx, r, as)
	for i, err := range errs {
		if i == 7 {
			if fluxhook.ErrorKind(err) != fluxhook.KindInvalid {
				t.Fatalf("unstorable attempt: %v, want invalid", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	rows, err := db.Attempts(ctx, webhook, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 19 {
		t.Fatalf("%d rows, want the 19 storable attempts", len(rows))
	}
}

// BenchmarkRecord measures concurrent Record throughput into a real
// database, against every caller inserting its own row. Callers loop
// without pause, so when they are fewer than MaxBatch every batch waits
// out MaxDelay: throughput is then about callers / (MaxDelay + insert
// time), unless MaxBatch is at most the number of callers.
func BenchmarkRecord(b *testing.B) {
	for _, driver := range []string{"sqlite", "postgres"} {
		b.Run(driver, func(b *testing.B) {
			db := openStore(b, driver)
			webhook := store.NewID()
			for _, bc := range []struct {
				name     string
				callers  int
				maxBatch int // 0: no recorder, each caller inserts its own row
			}{
				{"recorder/callers-64", 64, 500},
				{"recorder/callers-64/max-batch-64", 64, 64},
				{"recorder/callers-1024", 1024, 500},
				{"insert-each/callers-64", 64, 0},
			} {
				b.Run(bc.name, func(b *testing.B) {
					cs := &countingStore{Store: db}
					record := func(a *fluxhook.Attempt) error {
						return cs.InsertAttempts(context.Background(), []*fluxhook.Attempt{a})
					}
					if bc.maxBatch > 0 {
						r := attempts.New(cs, attempts.Options{MaxBatch: bc.maxBatch}, nil)
						start(b, r)
						record = func(a *fluxhook.Attempt) error { return r.Record(context.Background(), a) }
					}
					b.SetParallelism(max(1, bc.callers/runtime.GOMAXPROCS(0)))
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := record(newAttempt(webhook)); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
					b.ReportMetric(float64(b.N)/float64(max(cs.calls.Load(), 1)), "records/insert")
				})
			}
		})
	}
}
