package ordered

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// Deliverer makes one attempt of a job (delivery.Worker.Attempt, of a
// worker whose Scheduler is the lane's).
type Deliverer interface {
	Attempt(ctx context.Context, job wire.Job) delivery.Step
}

// Delivered tells which deliveries are recorded as delivered.
type Delivered interface {
	Delivered(ctx context.Context, deliveryIDs []string) (map[string]bool, error)
}

// Floor returns the EVENTS stream sequence up to which every event has
// been dispatched (the dispatcher consumer's ack floor): no job of an
// event at or below it can still be enqueued.
type Floor func(ctx context.Context) (uint64, error)

// Options tune the lane. The zero value of a field means its default.
type Options struct {
	// Concurrency is how many keys the lane delivers at once (default 64).
	Concurrency int
	// Poll is how often the lane looks for due keys (default 100 ms).
	Poll time.Duration
	// Lease is how long a claim on a key lasts without renewal (default
	// 10 s); the lane renews it every third of that while it holds the
	// key, so a worker that dies frees its keys within a lease.
	Lease time.Duration
	// ID names this lane in lease tokens (default: a new id).
	ID  string
	Now func() time.Time
}

// Lane delivers the ordered queue.
type Lane struct {
	queue   Queue
	sched   *Scheduler
	deliver Deliverer
	seen    Delivered
	floor   Floor
	logger  *slog.Logger
	opts    Options
	metrics *Metrics

	claims    atomic.Uint64 // numbers each claim's lease token
	lastFloor atomic.Uint64
	slots     chan struct{}
}

// Metrics are the ordered lane's metrics.
type Metrics struct {
	claimed  prometheus.Counter
	released *prometheus.CounterVec
}

// NewMetrics registers the lane's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		claimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fluxhook_ordered_keys_claimed_total",
			Help: "Ordering keys the ordered lane claimed to deliver their heads.",
		}),
		released: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fluxhook_ordered_keys_released_total",
			Help: "Ordering keys the ordered lane let go, by why: empty, retry (the head failed and waits for its retry), deferred (put back without an attempt: rate limit, busy or disabled webhook), behind (the next head's event is not dispatched up to it yet), lost (another worker holds it), error, shutdown.",
		}, []string{"reason"}),
	}
	for _, r := range []string{"empty", "retry", "deferred", "behind", "lost", "error", "shutdown"} {
		m.released.WithLabelValues(r)
	}
	reg.MustRegister(m.claimed, m.released)
	return m
}

// NewLane returns a lane over queue, delivering with deliver, whose
// Scheduler must be sched; floor says how far the events are dispatched.
func NewLane(queue Queue, sched *Scheduler, deliver Deliverer, seen Delivered, floor Floor, logger *slog.Logger, m *Metrics, o Options) *Lane {
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Second
	}
	if o.ID == "" {
		o.ID = wire.NewID()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Lane{queue: queue, sched: sched, deliver: deliver, seen: seen, floor: floor, logger: logger, opts: o, metrics: m,
		slots: make(chan struct{}, o.Concurrency)}
}

// Run claims due keys every Poll and delivers each on a goroutine of its
// own, until ctx ends; it returns once every key it held is let go. An
// attempt under way when ctx ends is finished and its outcome stored.
func (l *Lane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(l.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		free := cap(l.slots) - len(l.slots)
		if free == 0 {
			continue
		}
		keys, err := l.claim(ctx, free)
		if err != nil {
			if ctx.Err() == nil {
				l.logger.Warn("claim ordered keys", "err", err)
			}
			continue
		}
		for _, k := range keys {
			l.slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-l.slots }()
				l.drain(ctx, k)
			})
		}
	}
}

func (l *Lane) claim(ctx context.Context, limit int) ([]store.OrderedKey, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if due, err := l.queue.OrderedDue(cctx); err != nil || !due {
		return nil, err
	}
	floor, err := l.floor(cctx)
	if err != nil {
		return nil, err
	}
	l.lastFloor.Store(floor)
	// A token per claim, not per lane: should a key's lease run out
	// under a goroutine of this lane, a later claim of it here is
	// another holder, and the first one's writes are refused.
	owner := l.opts.ID + "." + strconv.FormatUint(l.claims.Add(1), 10)
	keys, err := l.queue.ClaimOrderedKeys(cctx, owner, floor, limit, l.opts.Now().Add(l.opts.Lease))
	if err == nil && l.metrics != nil {
		l.metrics.claimed.Add(float64(len(keys)))
	}
	return keys, err
}

func (l *Lane) released(reason string) {
	if l.metrics != nil {
		l.metrics.released.WithLabelValues(reason).Inc()
	}
}

// drain delivers k's jobs head first while it holds k: until the queue
// is empty, a head fails (its retry is stored and k released until
// then), a head cannot be tried now, or the next head's event may still
// have an earlier one behind it in the dispatcher.
func (l *Lane) drain(ctx context.Context, k store.OrderedKey) {
	// The attempt under way when ctx ends is finished and stored, not
	// abandoned half way: at shutdown it is bounded by the request timeout.
	dctx := context.WithoutCancel(ctx)
	lost := l.keepLease(dctx, k)
	defer lost.stop()
	for {
		if ctx.Err() != nil {
			l.let(dctx, k, "shutdown")
			return
		}
		if lost.lost() {
			l.released("lost")
			return
		}
		j, version, err := l.queue.OrderedHead(dctx, k)
		if err != nil {
			l.logger.Warn("read ordered head", "webhook_id", k.WebhookID, "err", err)
			l.let(dctx, k, "error")
			return
		}
		if j == nil {
			l.end(l.queue.IdleOrdered(dctx, k, version), k, "empty")
			return
		}
		if j.Order.Seq > l.lastFloor.Load() {
			l.let(dctx, k, "behind")
			return
		}
		// Made sure of right before the attempt: the lease outlasts it.
		if err := l.queue.RenewOrderedLease(dctx, k, l.opts.Now().Add(l.opts.Lease)); err != nil {
			l.end(err, k, "")
			return
		}
		if j.Again && l.alreadyDelivered(dctx, j.DeliveryID) {
			// Its event was dispatched again after this job had been
			// delivered and taken off: not sent twice.
			if err := l.queue.RemoveOrdered(dctx, k, j.DeliveryID); err != nil {
				l.end(err, k, "")
				return
			}
			continue
		}
		l.sched.hold(j.DeliveryID, k)
		step := l.deliver.Attempt(dctx, *j)
		l.sched.drop(j.DeliveryID)
		switch {
		case step.Delivered(), step.Outcome == "dropped":
			if err := l.queue.RemoveOrdered(dctx, k, j.DeliveryID); err != nil {
				l.end(err, k, "")
				return
			}
		case step.Done && (step.Outcome == "failed" || step.Outcome == "gone"):
			// Dead-lettered and taken off by the Scheduler: the next one.
		case step.Done:
			// Its retry is stored and k released until then.
			l.released("retry")
			return
		default:
			// Not tried (a rate limit, a busy, parked or disabled
			// webhook), or its outcome could not be stored: tried again
			// after the delay, keeping its place.
			at := l.opts.Now().Add(max(step.Delay, l.opts.Poll))
			l.end(l.queue.PostponeOrdered(dctx, k, step.Job, at), k, "deferred")
			return
		}
	}
}

// alreadyDelivered looks a job of an event dispatched again up in the
// delivery log; when the lookup fails it is sent (a duplicate, with the
// same webhook-id, rather than a loss).
func (l *Lane) alreadyDelivered(ctx context.Context, id string) bool {
	lctx, cancel := context.WithTimeout(ctx, delivery.LoadTimeout)
	defer cancel()
	got, err := l.seen.Delivered(lctx, []string{id})
	return err == nil && got[id]
}

// let releases k at once, its head unchanged, for any worker to claim.
func (l *Lane) let(ctx context.Context, k store.OrderedKey, reason string) {
	l.end(l.queue.ReleaseOrdered(ctx, k), k, reason)
}

// end counts why k was let go, given how the write that let it go ended.
func (l *Lane) end(err error, k store.OrderedKey, reason string) {
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		reason = "lost"
	case err != nil:
		// The lease runs out by itself and the key is claimed again.
		l.logger.Warn("release ordered key", "webhook_id", k.WebhookID, "err", err)
		reason = "error"
	}
	if reason != "" {
		l.released(reason)
	}
}

// leaseKeeper renews a key's lease every third of it while its holder
// works, and tells when it was lost.
type leaseKeeper struct {
	stop func()
	gone *atomic.Bool
}

func (k leaseKeeper) lost() bool { return k.gone.Load() }

func (l *Lane) keepLease(ctx context.Context, k store.OrderedKey) leaseKeeper {
	ctx, cancel := context.WithCancel(ctx)
	gone := &atomic.Bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := l.queue.RenewOrderedLease(ctx, k, l.opts.Now().Add(l.opts.Lease))
			if errors.Is(err, store.ErrLeaseLost) {
				gone.Store(true)
				return
			}
		}
	}()
	return leaseKeeper{stop: func() { cancel(); <-done }, gone: gone}
}
