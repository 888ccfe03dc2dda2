package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/dispatch"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// RunnerStore is what a runner needs of the database.
type RunnerStore interface {
	ClaimReplay(ctx context.Context, owner string, lease time.Duration) (*fluxhook.Replay, error)
	AdvanceReplay(ctx context.Context, id, owner string, p store.ReplayProgress, lease time.Duration) (bool, error)
	FinishReplay(ctx context.Context, id, owner, state string, errText *string, p store.ReplayProgress) (bool, error)
	StoppedReplay(ctx context.Context, id, owner string, p store.ReplayProgress) error
	DeliveryStates(ctx context.Context, deliveryIDs []string) (map[string]store.DeliveryState, error)
	ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*fluxhook.Attempt, *store.DeliveryCursor, error)
	Webhook(ctx context.Context, id string) (*fluxhook.Webhook, error)
	User(ctx context.Context, id string) (*fluxhook.User, error)
}

// JobPublisher stores delivery jobs (events.Publisher).
type JobPublisher interface {
	PublishJobs(ctx context.Context, jobs []wire.Job) error
}

// Backlog returns how many messages of jobs wait for the workers (the
// worker consumer's num_pending).
type Backlog func(ctx context.Context) (uint64, error)

// Options tune a Runner. The zero value of a field means its default.
type Options struct {
	// Rate (default 100) is how many deliveries a second one runner
	// queues at most (FLUXHOOK_REPLAY_RATE): a week of one webhook's
	// events cannot crowd the live ones out of DELIVERIES.
	Rate float64
	// MaxBacklog (default 20) is the worker consumer's backlog, in
	// messages, above which a runner queues nothing: replays take what
	// the workers leave, live traffic comes first.
	MaxBacklog uint64
	// Batch (default 100, at most Rate) is how many deliveries are looked
	// up and queued at a time.
	Batch int
	// Poll (default 1 s) is how often an idle runner looks for a replay.
	Poll time.Duration
	// Lease (default 30 s) is how long a runner that stopped answering
	// keeps its replay from the others.
	Lease time.Duration
	Now   func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.MaxBacklog == 0 {
		o.MaxBacklog = 20
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	// A batch is queued at once: no more than a second's worth, so that
	// a low rate is a steady trickle rather than bursts.
	o.Batch = max(1, min(o.Batch, int(o.Rate)))
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Runner runs replays, one at a time, in a dispatcher.
type Runner struct {
	db      RunnerStore
	js      jetstream.JetStream
	jobs    JobPublisher
	backlog Backlog
	owner   string
	logger  *slog.Logger
	opts    Options
}

// NewRunner returns a runner; owner names it in the leases it takes (a
// fresh id per process).
func NewRunner(db RunnerStore, js jetstream.JetStream, jobs JobPublisher, backlog Backlog, owner string, logger *slog.Logger, o Options) *Runner {
	return &Runner{db: db, js: js, jobs: jobs, backlog: backlog, owner: owner, logger: logger, opts: o.withDefaults()}
}

// errStopped ends a run whose replay was cancelled or taken over.
var errStopped = errors.New("replay cancelled or taken over")

// Run claims and runs replays until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	for {
		rp, err := r.db.ClaimReplay(ctx, r.owner, r.opts.Lease)
		if err != nil && ctx.Err() == nil {
			r.logger.Warn("look for a replay to run", "err", err)
		}
		if rp != nil {
			r.run(ctx, rp)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.opts.Poll):
		}
	}
}

// run is one replay's run, from its cursor to its end, a cancel, or a
// failure; a run cut short by shutdown is left leased, and another
// runner takes it up from its cursor once the lease lapses.
func (r *Runner) run(ctx context.Context, rp *fluxhook.Replay) {
	j := &job{r: r, rp: rp, p: store.ReplayProgress{Cursor: rp.Cursor, Scanned: rp.EventsScanned, Matched: rp.EventsMatched, Sent: rp.Queued},
		renewed: r.opts.Now()}
	err := j.run(ctx)
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, errStopped) {
		// Cancelled: its counts say what was queued before it stopped.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.db.StoppedReplay(sctx, rp.ID, r.owner, j.p); err != nil {
			r.logger.Warn("record a cancelled replay's progress", "replay_id", rp.ID, "err", err)
		}
		return
	}
	state, errText := fluxhook.ReplayDone, (*string)(nil)
	if err != nil {
		state = fluxhook.ReplayError
		msg := err.Error()
		errText = &msg
		r.logger.Warn("replay failed", "replay_id", rp.ID, "webhook_id", rp.WebhookID, "err", err)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := r.db.FinishReplay(fctx, rp.ID, r.owner, state, errText, j.p); err != nil {
		r.logger.Warn("finish replay", "replay_id", rp.ID, "err", err)
	}
}

// job is one run of a replay.
type job struct {
	r       *Runner
	rp      *fluxhook.Replay
	hook    *fluxhook.Webhook
	p       store.ReplayProgress
	batch   []wire.Job
	next    time.Time // when the rate allows the next batch
	renewed time.Time // when the lease was last renewed
}

func (j *job) run(ctx context.Context) error {
	hook, err := j.r.db.Webhook(ctx, j.rp.WebhookID)
	if err != nil {
		return fmt.Errorf("load the webhook: %w", err)
	}
	if !hook.IsActive {
		return errors.New("the webhook was disabled; enable it and start the replay again")
	}
	j.hook = hook
	switch j.rp.Kind {
	case fluxhook.ReplayEvents:
		return j.events(ctx)
	case fluxhook.ReplayFailed:
		return j.failed(ctx)
	}
	return fmt.Errorf("unknown replay kind %q", j.rp.Kind)
}

// storedSkew is how long after an event's timestamp it may be stored
// (the outbox relays it later): the read goes this far past the window.
// readEarly is how far before the window the read starts: the event's
// timestamp is the API's clock, the stored time the NATS server's, and
// a clock ahead by less than this loses no event at the window's start.
const (
	storedSkew = time.Hour
	readEarly  = 5 * time.Minute
)

// events replays the kept events of the window that the webhook's
// current subscription matches.
func (j *job) events(ctx context.Context) error {
	owner, err := j.r.db.User(ctx, j.hook.UserID)
	if err != nil {
		return fmt.Errorf("load the webhook's owner: %w", err)
	}
	m := dispatch.NewMatcher(store.ActiveWebhook{Webhook: j.hook, OwnerRole: owner.Role})
	since, until := *j.rp.Since, *j.rp.Until
	errEnd := errors.New("past the window")
	err = events.ReadEvents(ctx, j.r.js, store.ParseSeqCursor(j.p.Cursor), since.Add(-readEarly), func(k events.KeptEvents) error {
		if k.Stored.After(until.Add(storedSkew)) {
			return errEnd
		}
		for i := range k.Events {
			e := &k.Events[i]
			if e.Timestamp.Before(since) || !e.Timestamp.Before(until) {
				continue
			}
			j.p.Scanned++
			if !m.Match(e) {
				continue
			}
			j.p.Matched++
			body, err := wire.Payload(e)
			if err != nil {
				continue // the dispatcher could not have delivered it either
			}
			job := wire.Job{DeliveryID: wire.DeliveryID(e.ID, e.Timestamp, j.hook.ID), EventID: e.ID, Event: e.Event,
				WebhookID: j.hook.ID, Payload: body, UserID: e.UserID, EventAt: e.Timestamp}
			if j.hook.Ordering == fluxhook.OrderingFIFO {
				// An ordered webhook's replayed event joins its key's
				// queue at the place it was accepted (its EVENTS sequence
				// and position, as the dispatcher places it), so it goes
				// before the key's later events still waiting; one still
				// queued is not queued twice (same delivery id).
				job.Order = &wire.Order{Key: e.OrderingKey, Seq: k.Seq, Index: i}
			}
			j.batch = append(j.batch, job)
			if len(j.batch) >= j.r.opts.Batch {
				// Cut inside a message, the run takes it up again from
				// that message (read again); at its end, from the next.
				cursor := store.SeqCursor(k.Seq)
				if i == len(k.Events)-1 {
					cursor = store.SeqCursor(k.Seq + 1)
				}
				if err := j.flush(ctx, cursor); err != nil {
					return err
				}
			}
		}
		return j.step(ctx, store.SeqCursor(k.Seq+1))
	})
	if err != nil && !errors.Is(err, errEnd) {
		return err
	}
	return j.flush(ctx, j.p.Cursor)
}

// failed retries the deliveries whose last attempt failed, newest first,
// among those the log holds from before the retry was asked for.
func (j *job) failed(ctx context.Context) error {
	var after *store.DeliveryCursor
	if j.p.Cursor != "" {
		c, err := store.ParseDeliveryCursor(j.p.Cursor)
		if err != nil {
			return err
		}
		after = c
	}
	for {
		list, next, err := j.r.db.ListDeliveries(ctx, store.DeliveryFilter{WebhookID: j.hook.ID, Statuses: []string{fluxhook.DeliveryFailed},
			Until: j.rp.CreatedAt, After: after, Limit: j.r.opts.Batch})
		if err != nil {
			return err
		}
		for _, a := range list {
			j.p.Scanned++
			j.p.Matched++
			j.batch = append(j.batch, wire.Job{DeliveryID: a.DeliveryID, EventID: a.EventID, Event: a.Event, WebhookID: j.hook.ID,
				Payload: a.Payload, UserID: j.hook.UserID})
		}
		if next == nil {
			return j.flush(ctx, "")
		}
		if err := j.flush(ctx, next.String()); err != nil {
			return err
		}
		after = next
	}
}

// step notes that the read got to cursor, with the batch still to go;
// every few seconds it renews the lease, which also tells a cancel.
func (j *job) step(ctx context.Context, cursor string) error {
	if len(j.batch) == 0 {
		j.p.Cursor = cursor
	}
	if j.r.opts.Now().Sub(j.renewed) < j.r.opts.Lease/6 {
		return nil
	}
	return j.advance(ctx)
}

func (j *job) advance(ctx context.Context) error {
	ok, err := j.r.db.AdvanceReplay(ctx, j.rp.ID, j.r.owner, j.p, j.r.opts.Lease)
	if err != nil {
		return err
	}
	if !ok {
		return errStopped
	}
	j.renewed = j.r.opts.Now()
	return nil
}

// flush queues the batch, paced, and records that the replay got to
// cursor. A crash between the two queues the batch again on the next
// run: the same deliveries, the same webhook-ids.
func (j *job) flush(ctx context.Context, cursor string) error {
	if len(j.batch) > 0 {
		if err := j.queue(ctx); err != nil {
			return err
		}
	}
	j.p.Cursor = cursor
	return j.advance(ctx)
}

func (j *job) queue(ctx context.Context) error {
	ids := make([]string, len(j.batch))
	for i, b := range j.batch {
		ids[i] = b.DeliveryID
	}
	states, err := j.r.db.DeliveryStates(ctx, ids)
	if err != nil {
		return err
	}
	out := j.batch[:0]
	for _, b := range j.batch {
		st, seen := states[b.DeliveryID]
		if s := j.rp.Status; s != nil && (*s == fluxhook.ReplayMissed && seen || *s != fluxhook.ReplayMissed && st.Status != *s) {
			continue
		}
		// The delivery's next attempt, so that the log shows it as the
		// newest; one never attempted starts at 1 with every retry.
		b.Attempt = st.Attempt + 1
		out = append(out, b)
	}
	j.batch = j.batch[:0]
	if len(out) == 0 {
		return nil
	}
	if err := j.pace(ctx, len(out)); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := j.r.jobs.PublishJobs(pctx, out); err != nil {
		return fmt.Errorf("queue %d deliveries: %w", len(out), err)
	}
	j.p.Sent += int64(len(out))
	return nil
}

// publishTimeout bounds queueing one batch, as the dispatcher bounds its
// publishes: a runner stuck longer would lose its lease meanwhile.
const publishTimeout = 20 * time.Second

// backlogWait is how often a runner held back by the workers' backlog
// looks again.
const backlogWait = 200 * time.Millisecond

// pace waits until n more deliveries are within the rate and the
// workers have no backlog, renewing the lease meanwhile.
func (j *job) pace(ctx context.Context, n int) error {
	for waited := false; ; waited = true {
		now := j.r.opts.Now()
		wait := j.next.Sub(now)
		if wait <= 0 && j.r.backlog != nil {
			if b, err := j.r.backlog(ctx); err == nil && b > j.r.opts.MaxBacklog {
				wait = backlogWait
			}
		}
		if wait <= 0 {
			j.next = now.Add(time.Duration(float64(n) / j.r.opts.Rate * float64(time.Second)))
			if waited {
				// A cancel that came while it waited stops it here, not
				// one batch later.
				return j.advance(ctx)
			}
			return nil
		}
		t := time.NewTimer(min(wait, j.r.opts.Lease/6))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if j.r.opts.Now().Sub(j.renewed) >= j.r.opts.Lease/6 {
			if err := j.advance(ctx); err != nil {
				return err
			}
		}
	}
}
