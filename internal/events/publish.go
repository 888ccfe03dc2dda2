package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// DeadReasonHeader carries why a delivery was given up on its dead
// letter; the body is the job as it was last tried.
const DeadReasonHeader = "Fluxhook-Dead-Reason"

// maxDeadReasonLen keeps the reason well inside a header: it may quote
// a response from the endpoint.
const maxDeadReasonLen = 1024

// PublisherOptions tunes a Publisher. The zero value of a field means
// its default.
type PublisherOptions struct {
	// AckTimeout (default 10 s) bounds the wait for the PubAck of one
	// message of jobs or retries.
	AckTimeout time.Duration
}

// DefaultPublishAckTimeout is PublisherOptions.AckTimeout's default.
const DefaultPublishAckTimeout = 10 * time.Second

// Publisher publishes events, jobs, retries and dead letters, each only
// reported done once JetStream has stored it. Jobs, retries and
// deferrals are group-committed: the ones handed over while a message is
// being stored share the next one (see committer).
type Publisher struct {
	js        jetstream.JetStream
	timeout   time.Duration // PublisherOptions.AckTimeout
	mu        sync.Mutex
	idem      jetstream.KeyValue // IdempotencyBucket, looked up on first use
	events    *committer
	jobs      *committer
	schedules *committer // keyed by the second the jobs are due
}

// NewPublisher returns a Publisher on nc.
func NewPublisher(nc *nats.Conn, opts PublisherOptions) (*Publisher, error) {
	if opts.AckTimeout == 0 {
		opts.AckTimeout = DefaultPublishAckTimeout
	}
	if opts.AckTimeout < 0 {
		return nil, errors.New("publisher: AckTimeout must be positive")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	p := &Publisher{js: js, timeout: opts.AckTimeout}
	p.events = &committer{store: p.storeEvents, maxItems: wire.MaxPackJobs, maxBytes: wire.MaxPackBytes, timeout: opts.AckTimeout}
	p.jobs = &committer{store: p.storeJobs, maxItems: wire.MaxPackJobs, maxBytes: wire.MaxPackBytes, timeout: opts.AckTimeout}
	p.schedules = &committer{store: p.storeSchedule, maxItems: wire.MaxPackJobs, maxBytes: wire.MaxPackBytes, timeout: opts.AckTimeout}
	return p, nil
}

// PublishEvent stores e in EVENTS and waits for the PubAck until ctx
// ends. The event id is the deduplication id: duplicate is true when an
// event with that id was stored within the EVENTS duplicate window
// (nothing new is stored then). That window does not survive a server
// restart for events the dispatcher has already taken, so a repeat
// after a restart may be stored again.
func (p *Publisher) PublishEvent(ctx context.Context, e fluxhook.Event) (duplicate bool, err error) {
	subject, err := EventSubject(e.Event)
	if err != nil {
		return false, fmt.Errorf("publish event %s: %w", e.ID, err)
	}
	data, err := wire.EncodeEvent(e)
	if err != nil {
		return false, err
	}
	ack, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data},
		jetstream.WithMsgID(e.ID),
		// Stored by another stream that claims the subject, the event
		// would never reach the dispatcher; the server refuses instead.
		jetstream.WithExpectStream(StreamEvents),
	)
	if err != nil {
		return false, fmt.Errorf("publish event %s: %w", e.ID, err)
	}
	return ack.Duplicate, nil
}

// PublishKeyed stores e, an event POST /events accepted with an
// idempotency key (its id derived from the key), once for
// EventsDuplicates: duplicate is true when that id was accepted before,
// whether the process or the server restarted since or another api
// replica accepted it. The id is looked up in IdempotencyBucket, the
// event stored alone with its id as deduplication id (which catches a
// repeat racing this one), and the id recorded. Should the process die
// between the store and the record, the repeat is still caught while
// the server's in-memory duplicate window lasts; only a repeat after a
// server restart in that instant would be stored twice.
func (p *Publisher) PublishKeyed(ctx context.Context, e fluxhook.Event) (duplicate bool, err error) {
	kv, err := p.idempotency(ctx)
	if err != nil {
		return false, fmt.Errorf("publish event %s: idempotency record: %w", e.ID, err)
	}
	switch _, err := kv.Get(ctx, e.ID); {
	case err == nil:
		return true, nil
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return false, fmt.Errorf("publish event %s: look up its idempotency record: %w", e.ID, err)
	}
	duplicate, err = p.PublishEvent(ctx, e)
	if err != nil {
		return false, err
	}
	if _, err := kv.Create(ctx, e.ID, nil); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		// Stored, but not recorded: the caller retries, and the repeat,
		// within the duplicate window, is recorded then.
		return false, fmt.Errorf("publish event %s: record its id: %w", e.ID, err)
	}
	return duplicate, nil
}

func (p *Publisher) idempotency(ctx context.Context) (jetstream.KeyValue, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idem == nil {
		kv, err := p.js.KeyValue(ctx, IdempotencyBucket)
		if err != nil {
			return nil, err
		}
		p.idem = kv
	}
	return p.idem, nil
}

// PackEvent stores e in EVENTS, packed with the other events handed over
// meanwhile (group commit), and waits until it is stored or ctx ends. It
// is for events that cannot be repeats (their ids are new): unlike
// PublishEvent it has no deduplication, which works per message.
func (p *Publisher) PackEvent(ctx context.Context, e fluxhook.Event) error {
	data, err := wire.EncodeEvent(e)
	if err != nil {
		return err
	}
	if err := p.events.add(ctx, "", data); err != nil {
		return fmt.Errorf("publish event %s: %w", e.ID, err)
	}
	return nil
}

// PublishEvents stores events in EVENTS in their order, in as few
// messages as a pack's bounds allow, one message after another; it
// returns how many of the events, from the first, are stored. It is the
// outbox relay's: a batch is already a group, so it goes out as it is
// rather than through the committer. Each message's deduplication id is
// derived from the ids of the events it holds, so a batch published
// again after a lost PubAck, holding the same events, is dropped as a
// duplicate; one that holds more events by then is stored again, and
// its repeated events are delivered again with the same webhook-id.
func (p *Publisher) PublishEvents(ctx context.Context, es []fluxhook.Event) (stored int, err error) {
	encoded := make([][]byte, len(es))
	for i, e := range es {
		if encoded[i], err = wire.EncodeEvent(e); err != nil {
			return 0, err
		}
	}
	for len(encoded) > 0 {
		n, size := 0, 0
		for n < len(encoded) && n < wire.MaxPackJobs && (n == 0 || size+len(encoded[n])+1 <= wire.MaxPackBytes) {
			size += len(encoded[n]) + 1
			n++
		}
		dedup := sha256.New()
		for _, e := range es[stored : stored+n] {
			dedup.Write([]byte(e.ID))
			dedup.Write([]byte{'\n'})
		}
		mctx, cancel := context.WithTimeout(ctx, p.timeout)
		_, err := p.js.PublishMsg(mctx, &nats.Msg{Subject: EventPackSubject, Data: wire.AppendPack(nil, encoded[:n]...)},
			jetstream.WithMsgID("events."+hex.EncodeToString(dedup.Sum(nil)[:16])),
			jetstream.WithExpectStream(StreamEvents))
		cancel()
		if err != nil {
			return stored, fmt.Errorf("publish %d events from %s: %w", n, es[stored].ID, err)
		}
		stored += n
		encoded = encoded[n:]
	}
	return stored, nil
}

// storeEvents stores one pack of events.
func (p *Publisher) storeEvents(ctx context.Context, _, _ string, events [][]byte) error {
	_, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: EventPackSubject, Data: wire.AppendPack(nil, events...)},
		jetstream.WithExpectStream(StreamEvents))
	return err
}

// PublishJobs stores jobs in DELIVERIES, packed with whatever other
// jobs are handed over meanwhile, and waits until every one is stored or
// ctx ends. Any failure fails the call; the dispatcher then leaves the
// event unacked, and publishes all its jobs again later: the ones stored
// the first time are then stored twice, and delivered twice with the
// same webhook-id, which at-least-once allows.
func (p *Publisher) PublishJobs(ctx context.Context, jobs []wire.Job) error {
	encoded, err := wire.EncodeJobs(jobs)
	if err != nil {
		return err
	}
	if err := p.jobs.addAll(ctx, "", encoded); err != nil {
		return fmt.Errorf("publish %d jobs: %w", len(jobs), err)
	}
	return nil
}

// storeJobs stores one pack of jobs.
func (p *Publisher) storeJobs(ctx context.Context, _, _ string, jobs [][]byte) error {
	_, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: PackSubject, Data: wire.AppendPack(nil, jobs...)},
		jetstream.WithExpectStream(StreamDeliveries))
	return err
}

// ScheduleRetry stores job in DELIVERIES as a message schedule that the
// server publishes to the jobs' subject at at, rounded up to the second
// (schedules have one-second resolution, and a retry must not come
// before a Retry-After). job.Attempt is the attempt to be made then.
// Retries and deferrals due in the same second share a message.
func (p *Publisher) ScheduleRetry(ctx context.Context, job wire.Job, at time.Time) error {
	if err := p.schedule(ctx, job, at); err != nil {
		return fmt.Errorf("schedule retry of %s attempt %d: %w", job.DeliveryID, job.Attempt, err)
	}
	return nil
}

// Defer puts job back to be tried at at (rounded up to the second)
// without using up an attempt: the worker defers a job whose webhook is
// busy or rate-limited, so a backlog for a slow endpoint waits in the
// stream instead of holding ack-pending slots that healthy endpoints'
// jobs need.
func (p *Publisher) Defer(ctx context.Context, job wire.Job, at time.Time) error {
	if err := p.schedule(ctx, job, at); err != nil {
		return fmt.Errorf("defer %s attempt %d: %w", job.DeliveryID, job.Attempt, err)
	}
	return nil
}

// DeferJobs is Defer for several jobs due at the same time, packed
// together, all waited for: the dispatcher parks a dead endpoint's new
// jobs with it.
func (p *Publisher) DeferJobs(ctx context.Context, jobs []wire.Job, at time.Time) error {
	data := make([][]byte, len(jobs))
	for i, job := range jobs {
		var err error
		if data[i], err = wire.EncodeJob(job); err != nil {
			return err
		}
	}
	if err := p.schedules.addAll(ctx, strconv.FormatInt(ceilSecond(at).Unix(), 10), data); err != nil {
		return fmt.Errorf("defer %d jobs from %s: %w", len(jobs), jobs[0].DeliveryID, err)
	}
	return nil
}

func (p *Publisher) schedule(ctx context.Context, job wire.Job, at time.Time) error {
	data, err := wire.EncodeJob(job)
	if err != nil {
		return err
	}
	return p.schedules.add(ctx, strconv.FormatInt(ceilSecond(at).Unix(), 10), data)
}

// storeSchedule stores one pack of jobs due at the unix second due. The
// schedule's subject is the message's id: a second schedule on a
// subject replaces the first, so a try again stores it once.
func (p *Publisher) storeSchedule(ctx context.Context, due, id string, jobs [][]byte) error {
	sec, err := strconv.ParseInt(due, 10, 64)
	if err != nil {
		return err
	}
	// No Nats-Schedule-Rollup: it would purge every other job waiting
	// on the target subject.
	_, err = p.js.PublishMsg(ctx, &nats.Msg{Subject: schedulesPrefix + id, Data: wire.AppendPack(nil, jobs...)},
		jetstream.WithScheduleAt(time.Unix(sec, 0)),
		jetstream.WithScheduleTarget(PackSubject),
		jetstream.WithExpectStream(StreamDeliveries),
	)
	return err
}

func ceilSecond(t time.Time) time.Time {
	if tr := t.Truncate(time.Second); !tr.Equal(t) {
		return tr.Add(time.Second)
	}
	return t
}

// PublishDead stores job in DEAD_LETTERS with reason in the
// Fluxhook-Dead-Reason header, to be retried by hand or to expire.
func (p *Publisher) PublishDead(ctx context.Context, job wire.Job, reason string) error {
	data, err := wire.EncodeJob(job)
	if err != nil {
		return err
	}
	m := &nats.Msg{Subject: DeadSubject(job.WebhookID), Data: data, Header: nats.Header{}}
	m.Header.Set(DeadReasonHeader, headerSafe(reason, maxDeadReasonLen))
	_, err = p.js.PublishMsg(ctx, m,
		jetstream.WithMsgID(fmt.Sprintf("dead.%s.%d", job.DeliveryID, job.Attempt)),
		jetstream.WithExpectStream(StreamDeadLetters),
	)
	if err != nil {
		return fmt.Errorf("publish dead letter %s: %w", job.DeliveryID, err)
	}
	return nil
}

// headerSafe makes s fit for a header value: valid UTF-8, no control
// characters (CR or LF would end the header), at most n bytes.
func headerSafe(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s)
}
