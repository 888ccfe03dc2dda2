// Package attempts records delivery attempts durably, many at a time. The
// worker acks a delivery only after its attempt is committed, and one
// INSERT (one commit) per delivery would cap delivery throughput at the
// database's commit rate; instead concurrent callers wait together for
// one multi-row insert — group commit.
package attempts

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Store writes attempts. *store.DB satisfies it. InsertAttempts must be
// idempotent on the attempts' ids, filling in the ids it finds empty, so
// that a batch retried after an ambiguous failure is not written twice;
// and it must report an attempt no retry could store with a
// fluxhook.KindInvalid error.
type Store interface {
	InsertAttempts(ctx context.Context, as []*fluxhook.Attempt) error
}

// Options tune a Recorder. The zero value gives the defaults.
type Options struct {
	// MaxBatch caps the records per insert (default 500).
	MaxBatch int
	// MaxDelay is how long the first record of a batch may wait for
	// company before the batch is written. The default, 0, is no wait:
	// a batch leaves as soon as the previous one is written, and grows
	// only with the records that queued meanwhile (group commit without
	// a linger), so a record is durable, and its job acked, as soon as
	// the database allows; a worker killed in that window sends its
	// jobs again. Under load batches grow by themselves.
	MaxDelay time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed insert is
	// tried again, doubling from the one to the other (default 100ms and
	// 5s), with jitter.
	MinBackoff, MaxBackoff time.Duration
	// QueueSize caps the records waiting to be written (default
	// 100,000); Record blocks while the queue is full.
	QueueSize int
	// InsertTimeout bounds one insert, so that a connection hung on a
	// dead database fails and is retried (default 30s).
	InsertTimeout time.Duration
	// DrainTimeout is how long Run keeps writing queued records after
	// its context ends (default 10s).
	DrainTimeout time.Duration
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 500
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 100_000
	}
	o.MaxDelay = max(o.MaxDelay, 0)
	def(&o.MinBackoff, 100*time.Millisecond)
	def(&o.MaxBackoff, 5*time.Second)
	def(&o.InsertTimeout, 30*time.Second)
	def(&o.DrainTimeout, 10*time.Second)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	return o
}

// ErrStopped means the recorder stopped before the record was written:
// its Run returned, after the drain timeout if the database was failing.
// The record may or may not have been committed; the caller must not
// treat it as durable.
var ErrStopped = errors.New("attempt recorder stopped before the record was written")

// Recorder batches attempt records into shared inserts. Create it with
// New and run its flushing loop with Run; Record may be called before Run
// starts, and the records wait for it.
type Recorder struct {
	s     Store
	o     Options
	m     *Metrics
	queue chan *record
	// closed is closed when Run's context ends: Record takes no more
	// records. Record holds intake (shared) from its check of closed
	// until its record is sent or it gives up, so that once Run has held
	// intake itself, no record can enter the queue behind its last look.
	closed  chan struct{}
	intake  sync.RWMutex
	running atomic.Bool
}

type record struct {
	a      *fluxhook.Attempt // the recorder's own copy
	queued time.Time
	done   chan error // buffered: the flusher never waits for a caller who left
}

// New returns a Recorder writing to s. m may be nil.
func New(s Store, o Options, m *Metrics) *Recorder {
	o = o.withDefaults()
	return &Recorder{s: s, o: o, m: m, queue: make(chan *record, o.QueueSize), closed: make(chan struct{})}
}

// Record queues a and returns once the batch holding it is committed,
// with a's ID and CreatedAt filled in as stored. Record can block for a
// long time: while the database is unreachable the recorder keeps the
// batch and retries it, and every caller whose record is in it waits
// (the worker keeps its JetStream message alive meanwhile); while the
// queue is full, Record waits for room.
//
// When ctx ends first, Record returns ctx.Err(). If a was queued by then
// it stays queued and will still be written — the caller cannot know
// whether it is yet, so it must treat it as not durable (a redelivery
// may record the attempt a second time, which at-least-once allows). If
// the queue was full, a was not queued and is never written. Either way
// the recorder works on its own copy: the caller may reuse a at once.
//
// An attempt the store rejects as unstorable (KindInvalid) fails Record
// with that error, without holding up the rest of its batch. Once Run's
// context has ended Record takes no new records and fails with
// ErrStopped; records already queued are still written.
func (r *Recorder) Record(ctx context.Context, a *fluxhook.Attempt) error {
	if a == nil {
		return errors.New("record attempt: nil attempt")
	}
	c := *a
	rec := &record{a: &c, queued: time.Now(), done: make(chan error, 1)}
	if err := r.enqueue(ctx, rec); err != nil {
		return err
	}
	select {
	case err := <-rec.done:
		return r.answered(a, rec, err)
	case <-ctx.Done():
		// Both may be ready; an answer that is there is the truth.
		select {
		case err := <-rec.done:
			return r.answered(a, rec, err)
		default:
			return ctx.Err()
		}
	}
}

func (r *Recorder) answered(a *fluxhook.Attempt, rec *record, err error) error {
	if err == nil {
		// The flusher is done with rec.a: it answered after its last use.
		*a = *rec.a
	}
	return err
}

func (r *Recorder) enqueue(ctx context.Context, rec *record) error {
	r.intake.RLock()
	defer r.intake.RUnlock()
	select {
	case <-r.closed:
		return ErrStopped
	default:
	}
	// Counted before it is sent, so that the flusher's decrement can
	// never come first and take the gauge below zero.
	r.m.queuedAdd(1)
	// Room in the queue takes the record at once: a record that passed
	// the check above is not refused because the intake closed meanwhile.
	select {
	case r.queue <- rec:
		return nil
	default:
	}
	select {
	case r.queue <- rec:
		return nil
	case <-ctx.Done():
		r.m.queuedAdd(-1)
		return ctx.Err()
	case <-r.closed:
		r.m.queuedAdd(-1)
		return ErrStopped
	}
}

// Run writes queued records until ctx ends, then keeps writing what is
// queued for up to DrainTimeout and returns. It returns nil when every
// record it took was written, and an error counting the records it gave
// up on (their callers get ErrStopped). Run may be called once.
func (r *Recorder) Run(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		return errors.New("attempt recorder: Run called twice")
	}
	// Writes do not end with ctx but DrainTimeout after it: cancelling an
	// insert half way would only make its outcome unknown.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopWatch := context.AfterFunc(ctx, func() {
		t := time.NewTimer(r.o.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-wctx.Done(): // Run returned
		}
	})
	defer stopWatch()

	closeIntake := sync.OnceFunc(func() { close(r.closed) })
	stopClose := context.AfterFunc(ctx, closeIntake)
	defer stopClose()

	var lost int
	var lastErr error
	for final := false; ; {
		batch := r.collect(ctx)
		if len(batch) == 0 {
			// collect returns nothing only once ctx has ended and the
			// queue is empty. Records may still be on their way in: shut
			// the intake, wait for them, and look once more.
			if final {
				break
			}
			closeIntake()
			r.intake.Lock()
			r.intake.Unlock() //nolint:staticcheck // an empty critical section: a barrier
			final = true
			continue
		}
		if wctx.Err() != nil {
			r.answer(batch, ErrStopped)
			lost += len(batch)
			continue
		}
		if err := r.flush(wctx, batch); err != nil {
			lost += len(batch)
			lastErr = err
		}
	}
	if lost > 0 {
		if lastErr == nil {
			lastErr = context.Cause(wctx)
		}
		return fmt.Errorf("attempt recorder: gave up on %d records after the drain timeout: %w", lost, lastErr)
	}
	return nil
}

// collect waits for a record and gathers a batch around it: up to
// MaxBatch records, for no longer than MaxDelay after the first was
// queued. Once ctx has ended it takes only what is already queued,
// returning nothing when the queue is empty.
func (r *Recorder) collect(ctx context.Context) []*record {
	var first *record
	select {
	case first = <-r.queue:
	case <-ctx.Done():
		select {
		case first = <-r.queue:
		default:
			return nil
		}
	}
	batch := make([]*record, 1, min(r.o.MaxBatch, 64))
	batch[0] = first
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(batch) < r.o.MaxBatch {
		select {
		case rec := <-r.queue:
			batch = append(batch, rec)
			continue
		default:
		}
		wait := time.Until(first.queued.Add(r.o.MaxDelay))
		if wait <= 0 || ctx.Err() != nil {
			break
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case rec := <-r.queue:
			batch = append(batch, rec)
			continue
		case <-timer.C:
		case <-ctx.Done():
		}
		break
	}
	return batch
}

// flush writes a batch, retrying transient failures with backoff until
// it succeeds or ctx ends; it answers every record's caller. It returns
// an error only when it gave up on records because ctx ended.
func (r *Recorder) flush(ctx context.Context, batch []*record) error {
	for try := 0; ; try++ {
		err := r.insert(ctx, batch)
		if err == nil {
			r.answer(batch, nil)
			return nil
		}
		if fluxhook.ErrorKind(err) == fluxhook.KindInvalid {
			// One bad record must neither hold up nor fail the others,
			// and retrying it is futile: find it by writing one by one.
			if batch = r.isolate(ctx, batch); len(batch) == 0 {
				return nil
			}
		}
		t := time.NewTimer(r.backoff(try))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			r.answer(batch, fmt.Errorf("%w: %w", ErrStopped, err))
			return err
		}
	}
}

// isolate writes the records of a batch that failed as unstorable one at
// a time, answers those written or rejected, and returns the rest (those
// that failed for a transient reason) to be retried.
func (r *Recorder) isolate(ctx context.Context, batch []*record) []*record {
	var again []*record
	for _, rec := range batch {
		one := []*record{rec}
		switch err := r.insert(ctx, one); {
		case err == nil:
			r.answer(one, nil)
		case fluxhook.ErrorKind(err) == fluxhook.KindInvalid:
			r.answer(one, err)
		default:
			again = append(again, rec)
		}
	}
	return again
}

func (r *Recorder) insert(ctx context.Context, batch []*record) error {
	as := make([]*fluxhook.Attempt, len(batch))
	for i, rec := range batch {
		as[i] = rec.a
	}
	ictx, cancel := context.WithTimeout(ctx, r.o.InsertTimeout)
	defer cancel()
	start := time.Now()
	err := r.s.InsertAttempts(ictx, as)
	r.m.flushed(time.Since(start).Seconds(), err)
	if err != nil {
		return fmt.Errorf("insert %d attempt records: %w", len(as), err)
	}
	r.m.committed(len(as))
	return nil
}

// answer tells the callers of the records how their write ended.
func (r *Recorder) answer(recs []*record, err error) {
	// Before the answers, so that a caller who has its answer never sees
	// its record still counted.
	r.m.queuedAdd(-len(recs))
	for _, rec := range recs {
		rec.done <- err
	}
}

// backoff is the wait before retry number try+1: doubling from
// MinBackoff to MaxBackoff, jittered down by up to half, so that
// recorders on several workers do not hit a recovering database in step.
func (r *Recorder) backoff(try int) time.Duration {
	d := r.o.MaxBackoff
	if try < 30 {
		d = min(r.o.MinBackoff<<try, r.o.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}
