package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	// MaxPending (default 4096) bounds asynchronous publishes awaiting
	// their PubAck across all callers of one Publisher, so a large
	// fan-out cannot run ahead of the server without limit. A caller
	// over the bound waits for a free slot up to AckTimeout.
	MaxPending int
	// AckTimeout (default 10 s) bounds the wait for each asynchronous
	// PubAck, which otherwise has no timeout at all.
	AckTimeout time.Duration
}

// Defaults of PublisherOptions.
const (
	DefaultPublishMaxPending = 4096
	DefaultPublishAckTimeout = 10 * time.Second
)

// Publisher publishes events, jobs, retries and dead letters, each only
// reported done once JetStream has stored it.
type Publisher struct {
	js         jetstream.JetStream
	ackTimeout time.Duration
}

// NewPublisher returns a Publisher on nc. It takes the connection rather
// than a jetstream.JetStream because the bounds on asynchronous
// publishes are options of the JetStream context itself.
func NewPublisher(nc *nats.Conn, opts PublisherOptions) (*Publisher, error) {
	if opts.MaxPending == 0 {
		opts.MaxPending = DefaultPublishMaxPending
	}
	if opts.AckTimeout == 0 {
		opts.AckTimeout = DefaultPublishAckTimeout
	}
	if opts.MaxPending < 1 || opts.AckTimeout < 0 {
		return nil, errors.New("publisher: MaxPending and AckTimeout must be positive")
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(opts.MaxPending),
		jetstream.WithPublishAsyncTimeout(opts.AckTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
	}
	return &Publisher{js: js, ackTimeout: opts.AckTimeout}, nil
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

// PublishJobs stores jobs in DELIVERIES, each on its webhook's shard
// subject with its MsgID as deduplication id, and waits until every one
// is acknowledged or ctx ends. Any failure fails the call; the
// dispatcher then leaves the event unacked, and publishing all the jobs
// again stores only those that were missing.
func (p *Publisher) PublishJobs(ctx context.Context, jobs []wire.Job) error {
	encoded, err := wire.EncodeJobs(jobs)
	if err != nil {
		return err
	}
	msgs := make([]*nats.Msg, len(jobs))
	for i, j := range jobs {
		msgs[i] = &nats.Msg{Subject: DeliverySubject(j.WebhookID), Data: encoded[i]}
	}

	futures := make([]jetstream.PubAckFuture, 0, len(jobs))
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("publish jobs: %d of %d not sent: %w", len(jobs)-i, len(jobs), err)
		}
		f, err := p.js.PublishMsgAsync(m,
			jetstream.WithMsgID(jobs[i].MsgID),
			jetstream.WithExpectStream(StreamDeliveries),
			jetstream.WithStallWait(p.stallWait(ctx)),
		)
		if err != nil {
			return fmt.Errorf("publish job %s: %w", jobs[i].DeliveryID, err)
		}
		futures = append(futures, f)
	}

	var failed int
	var first error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failed++
			if first == nil {
				first = fmt.Errorf("job %s: %w", jobs[i].DeliveryID, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("publish jobs: %d of %d not acknowledged: %w", len(futures)-i, len(jobs), ctx.Err())
		}
	}
	if failed > 0 {
		return fmt.Errorf("publish jobs: %d of %d failed, first %w", failed, len(jobs), first)
	}
	return nil
}

// stallWait is how long a publish may wait for a free slot under
// MaxPending. A slot frees at the latest when a pending publish times
// out, so waiting longer than AckTimeout is pointless, and waiting past
// ctx's deadline is wrong.
func (p *Publisher) stallWait(ctx context.Context) time.Duration {
	d := p.ackTimeout
	if d <= 0 {
		d = DefaultPublishAckTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = left
		}
	}
	return max(d, time.Millisecond)
}

// ScheduleRetry stores job in DELIVERIES as a message schedule that the
// server publishes to the job's delivery subject at at, rounded up to
// the second (schedules have one-second resolution, and a retry must not
// come before a Retry-After). job.Attempt is the attempt to be made
// then. Scheduling the same delivery and attempt again is harmless:
// within the duplicate window the server drops the repeat, and while
// the schedule is pending a repeat replaces it.
func (p *Publisher) ScheduleRetry(ctx context.Context, job wire.Job, at time.Time) error {
	subject, err := ScheduleSubject(job.DeliveryID, job.Attempt)
	if err != nil {
		return fmt.Errorf("schedule retry of %s: %w", job.DeliveryID, err)
	}
	data, err := wire.EncodeJob(job)
	if err != nil {
		return err
	}
	// No Nats-Schedule-Rollup: it would make the job a roll-up of its
	// whole delivery shard, purging every other job waiting there.
	_, err = p.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data},
		jetstream.WithScheduleAt(ceilSecond(at)),
		jetstream.WithScheduleTarget(DeliverySubject(job.WebhookID)),
		jetstream.WithMsgID(subject),
		jetstream.WithExpectStream(StreamDeliveries),
	)
	if err != nil {
		return fmt.Errorf("schedule retry of %s attempt %d: %w", job.DeliveryID, job.Attempt, err)
	}
	return nil
}

// Defer puts job back to be tried at at (rounded up to the second)
// without using up an attempt: the worker defers a job whose webhook is
// busy or rate-limited and acks the original, so a backlog for a slow
// endpoint waits in the stream instead of holding ack-pending slots that
// healthy endpoints' jobs need. Every deferral is its own message (its
// msg id is unique), so it is never mistaken for a repeat of a retry of
// the same attempt, which ScheduleRetry's dedup would drop.
func (p *Publisher) Defer(ctx context.Context, job wire.Job, at time.Time) error {
	subject, err := ScheduleSubject(job.DeliveryID, job.Attempt)
	if err != nil {
		return fmt.Errorf("defer %s: %w", job.DeliveryID, err)
	}
	subject += ".deferred"
	data, err := wire.EncodeJob(job)
	if err != nil {
		return err
	}
	_, err = p.js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data},
		jetstream.WithScheduleAt(ceilSecond(at)),
		jetstream.WithScheduleTarget(DeliverySubject(job.WebhookID)),
		jetstream.WithMsgID(fmt.Sprintf("%s.%d", subject, time.Now().UnixNano())),
		jetstream.WithExpectStream(StreamDeliveries),
	)
	if err != nil {
		return fmt.Errorf("defer %s attempt %d: %w", job.DeliveryID, job.Attempt, err)
	}
	return nil
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
