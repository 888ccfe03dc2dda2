// Package relay is the transactional outbox's relay: it publishes the
// events that API handlers wrote to the outbox, in the same transaction
// as the changes they describe, to the EVENTS stream, and stamps each
// row once JetStream has acknowledged it.
//
// A row is published at least once. The event id is the Nats-Msg-Id, so
// a row published again after a crash between the PubAck and the stamp
// is dropped by the stream's 24-hour duplicate window.
//
// On PostgreSQL several api replicas relay the same outbox: each batch
// is claimed with FOR UPDATE SKIP LOCKED inside a transaction held while
// it is published, so replicas take different batches. On SQLite (one
// process) the batch is read without a transaction, since one would hold
// the only writer connection for the whole publish, and the rows are
// stamped afterwards in a short write.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// Publisher stores an event in the EVENTS stream and returns once
// JetStream has acknowledged it, deduplicating by the event id.
type Publisher interface {
	PublishEvents(ctx context.Context, es []fluxhook.Event) (stored int, err error)
}

var _ Publisher = (*events.Publisher)(nil)

// Options tune a Relay. The zero value of a field means its default.
type Options struct {
	// BatchSize (default 500) is how many rows one round claims.
	BatchSize int
	// PollInterval (default 50 ms) is how long the relay sleeps when the
	// outbox is drained; Poke ends the sleep early.
	PollInterval time.Duration
	// BatchTimeout (default 30 s) bounds the publishing of a whole
	// batch (the publisher bounds each of its messages): on PostgreSQL
	// the batch's rows stay locked for that long at most.
	BatchTimeout time.Duration
	// MinBackoff (default 100 ms) and MaxBackoff (default 5 s) bound the
	// wait after a failed round; it doubles with each failure in a row.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Retention (default 24 h, the EVENTS duplicate window) is how long
	// published rows are kept before pruning, PruneInterval (default
	// 5 minutes) how often pruning runs and PruneBatch (default 1000)
	// how many rows one delete removes, so that no delete holds a lock
	// (SQLite's single writer, above all) for long.
	Retention     time.Duration
	PruneInterval time.Duration
	PruneBatch    int
	// BacklogInterval (default 5 s) is how often the backlog gauges are
	// refreshed with a COUNT over the pending rows.
	BacklogInterval time.Duration
	// Now is the clock that stamps rows and dates pruning; time.Now
	// when nil.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultBatchSize       = 500
	DefaultPollInterval    = 50 * time.Millisecond
	DefaultBatchTimeout    = 30 * time.Second
	DefaultMinBackoff      = 100 * time.Millisecond
	DefaultMaxBackoff      = 5 * time.Second
	DefaultRetention       = 24 * time.Hour
	DefaultPruneInterval   = 5 * time.Minute
	DefaultPruneBatch      = 1000
	DefaultBacklogInterval = 5 * time.Second
)

// stampGrace is how long stamping (and committing) may go on after
// shutdown began, so that rows already acknowledged are not published
// again on the next start.
const stampGrace = 5 * time.Second

// dbTimeout bounds the relay's housekeeping queries.
const dbTimeout = 10 * time.Second

// maxPruneRounds bounds the deletes of one pruning run, so that a large
// pile of published rows is worked off between publishing rounds
// rather than holding the relay up.
const maxPruneRounds = 10

func (o Options) withDefaults() Options {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&o.BatchSize, DefaultBatchSize)
	setInt(&o.PruneBatch, DefaultPruneBatch)
	setDur(&o.PollInterval, DefaultPollInterval)
	setDur(&o.BatchTimeout, DefaultBatchTimeout)
	setDur(&o.MinBackoff, DefaultMinBackoff)
	setDur(&o.MaxBackoff, DefaultMaxBackoff)
	setDur(&o.Retention, DefaultRetention)
	setDur(&o.PruneInterval, DefaultPruneInterval)
	setDur(&o.BacklogInterval, DefaultBacklogInterval)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Relay publishes the outbox. Run it as a component of every api
// process.
type Relay struct {
	db     *store.DB
	pub    Publisher
	logger *slog.Logger
	m      *Metrics
	o      Options

	lastPrune, lastBacklog time.Time
	// unpublishable remembers rows that can never be published (reported
	// once each), so a bad row neither floods the log nor stalls the rest.
	unpublishable map[string]bool
}

// New returns a Relay. logger and m may be nil.
func New(db *store.DB, pub Publisher, logger *slog.Logger, m *Metrics, o Options) *Relay {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Relay{db: db, pub: pub, logger: logger, m: m, o: o.withDefaults(),
		unpublishable: map[string]bool{}}
}

// Run relays until ctx ends, and returns nil then. Failures (NATS or the
// database unreachable) are logged and retried with backoff, forever:
// the outbox keeps the events meanwhile.
func (r *Relay) Run(ctx context.Context) error {
	failures := 0
	for {
		read, published, err := r.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.housekeep(ctx)

		var wait time.Duration
		if err != nil {
			failures++
			wait = r.backoff(failures)
			// About once a minute at the longest backoff.
			if failures == 1 || failures%12 == 0 {
				r.logger.Warn("outbox relay failing; retrying", "err", err, "failures", failures, "retry_in", wait)
			}
		} else {
			if failures > 0 {
				r.logger.Info("outbox relay recovered", "failures", failures)
			}
			failures = 0
			// A full batch means more are probably waiting. One in which
			// nothing could be published (only unpublishable rows) would
			// just be read again, so it waits like an empty one.
			if read == r.o.BatchSize && published > 0 {
				continue
			}
			wait = r.o.PollInterval
		}
		if !r.sleep(ctx, wait) {
			return nil
		}
	}
}

// sleep waits d; false means ctx ended first.
func (r *Relay) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff is the wait after the n-th failure in a row, with ±20 %
// jitter so that replicas do not retry in step.
func (r *Relay) backoff(n int) time.Duration {
	d := r.o.MinBackoff
	for i := 1; i < n && d < r.o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, r.o.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// round publishes one batch and reports how many rows it read and how
// many it published and stamped.
func (r *Relay) round(ctx context.Context) (read, published int, err error) {
	if r.db.Driver() == "postgres" {
		return r.roundClaimed(ctx)
	}
	return r.roundSingle(ctx)
}

// roundClaimed holds the batch's row locks while publishing, so that
// other replicas skip these rows rather than publish them too.
func (r *Relay) roundClaimed(ctx context.Context) (read, published int, err error) {
	txCtx, cancel := graceContext(ctx, r.o.BatchTimeout+stampGrace)
	defer cancel()
	var acked []string
	var pubErr error
	err = r.db.Tx(txCtx, func(q *store.Queries) error {
		batch, err := q.PendingOutbox(txCtx, r.o.BatchSize)
		if err != nil {
			return err
		}
		read = len(batch)
		acked, pubErr = r.publish(ctx, batch)
		return q.MarkOutboxPublished(txCtx, acked, r.o.Now())
	})
	if err != nil {
		// Whatever was acknowledged goes out again next round, and the
		// stream drops it as a duplicate.
		return read, 0, errors.Join(fmt.Errorf("stamp published events: %w", err), pubErr)
	}
	r.m.Published.Add(float64(len(acked)))
	return read, len(acked), pubErr
}

// roundSingle reads outside any transaction: on SQLite a transaction
// would hold the one writer connection, and every API write with it,
// for as long as the publishes take. One process relays SQLite's outbox,
// so no claim is needed.
func (r *Relay) roundSingle(ctx context.Context) (read, published int, err error) {
	rctx, cancel := context.WithTimeout(ctx, dbTimeout)
	batch, err := r.db.PendingOutbox(rctx, r.o.BatchSize)
	cancel()
	if err != nil {
		return 0, 0, err
	}
	acked, pubErr := r.publish(ctx, batch)
	if len(acked) > 0 {
		sctx, cancel := graceContext(ctx, dbTimeout)
		defer cancel()
		if err := r.db.MarkOutboxPublished(sctx, acked, r.o.Now()); err != nil {
			return len(batch), 0, errors.Join(fmt.Errorf("stamp published events: %w", err), pubErr)
		}
	}
	r.m.Published.Add(float64(len(acked)))
	return len(batch), len(acked), pubErr
}

// publish publishes batch and returns the ids JetStream acknowledged.
//
// The batch goes out in outbox order, packed (one message, so one
// fsync, for up to a pack's bound of events rather than one each), so
// events reach the stream in the order they were committed
// (user.created before user.updated). After a failure the rest of the
// batch waits for the next round rather than overtake the failed
// message. Across PostgreSQL replicas, which take consecutive batches at
// once, the order is not guaranteed.
func (r *Relay) publish(ctx context.Context, batch []fluxhook.OutboxEvent) ([]string, error) {
	es := make([]fluxhook.Event, 0, len(batch))
	for _, oe := range batch {
		if r.publishable(oe.Event) {
			es = append(es, oe.Event)
		}
	}
	if len(es) == 0 {
		return nil, nil
	}
	pctx, cancel := context.WithTimeout(ctx, r.o.BatchTimeout)
	defer cancel()
	n, err := r.pub.PublishEvents(pctx, es)
	acked := make([]string, n)
	for i, e := range es[:n] {
		acked[i] = e.ID
	}
	if err != nil {
		// Publishes cut short by shutdown are not errors to count.
		if ctx.Err() == nil {
			r.m.PublishErrors.Add(float64(len(es) - n))
		}
		return acked, fmt.Errorf("publish outbox: %d of %d events stored, the rest wait for the next round: %w", n, len(es), err)
	}
	return acked, nil
}

// publishable reports whether e can ever be published. A row that
// cannot is a bug (the outbox is written by Fluxhook itself); it stays
// pending, where the backlog gauges show it, and is logged once instead
// of failing every round for the rows behind it.
func (r *Relay) publishable(e fluxhook.Event) bool {
	_, err := wire.EncodeEvent(e)
	if err == nil {
		return true
	}
	if !r.unpublishable[e.ID] {
		if len(r.unpublishable) >= 10000 {
			clear(r.unpublishable)
		}
		r.unpublishable[e.ID] = true
		r.m.PublishErrors.Inc()
		r.logger.Error("outbox row can never be published; left pending", "event_id", e.ID, "event", e.Event, "err", err)
	}
	return false
}
