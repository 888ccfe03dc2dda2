package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrConfigMismatch is matched with errors.Is when the server stored a
// stream or consumer with settings other than those asked for.
var ErrConfigMismatch = errors.New("NATS stored other settings than requested")

// StreamsConfig sizes the three streams. The zero value of a field
// means its default.
type StreamsConfig struct {
	// Replicas is 1 by default (the all-in-one, tests) and 3 in
	// production.
	Replicas int
	// Storage is file storage by default: the streams hold the only
	// copy of events and jobs between their publish and their ack.
	Storage jetstream.StorageType

	// EventsMaxAge (default 7 days) is how long an event waits for the
	// dispatcher before the server drops it: a backstop for an outage,
	// not a retention period.
	EventsMaxAge time.Duration
	// EventsDuplicates (default 24 h) is POST /events' idempotency
	// window (API.md): the same event id within it is stored once.
	EventsDuplicates time.Duration

	// DeliveriesMaxAge (default 7 days) bounds how long a job or a
	// pending retry may stay in DELIVERIES. Each message is dropped
	// MaxAge after it was stored, so it must exceed the longest single
	// retry delay (24 h + 20 % jitter by default) by a wide margin, and
	// it is also how long jobs survive a worker outage: keep it at 4
	// days or more. Less than MinDeliveriesMaxAge is refused.
	DeliveriesMaxAge time.Duration
	// DeliveriesDuplicates (default 10 minutes) must cover the time from
	// a job's first publish to its last re-publish: the dispatcher
	// re-publishes an event's jobs when the event comes back, after a
	// crash (AckWait, 30 s) or a failed fan-out (a Nak, seconds), and a
	// worker re-publishes a retry schedule when its job comes back after
	// a crash (AckWait, 60 s). The server keeps every id of the window
	// in memory, one per job, so the window is not made longer than
	// that: a repeat outside it is a duplicate delivery, which
	// at-least-once allows and receivers drop by webhook-id. It is also
	// DEAD_LETTERS' window, where a worker re-publishes a dead letter
	// when its job comes back after a crash.
	DeliveriesDuplicates time.Duration

	// DeadLettersMaxAge (default 30 days) is how long dead letters stay
	// available for a retry by hand.
	DeadLettersMaxAge time.Duration
}

// Defaults of StreamsConfig.
const (
	DefaultEventsMaxAge         = 7 * 24 * time.Hour
	DefaultEventsDuplicates     = 24 * time.Hour
	DefaultDeliveriesMaxAge     = 7 * 24 * time.Hour
	DefaultDeliveriesDuplicates = 10 * time.Minute
	DefaultDeadLettersMaxAge    = 30 * 24 * time.Hour

	// MinDeliveriesMaxAge guards against a max age that would drop
	// retries before they are due, silently.
	MinDeliveriesMaxAge = 48 * time.Hour
)

func (c StreamsConfig) withDefaults() StreamsConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	setDuration(&c.EventsMaxAge, DefaultEventsMaxAge)
	setDuration(&c.EventsDuplicates, DefaultEventsDuplicates)
	setDuration(&c.DeliveriesMaxAge, DefaultDeliveriesMaxAge)
	setDuration(&c.DeliveriesDuplicates, DefaultDeliveriesDuplicates)
	setDuration(&c.DeadLettersMaxAge, DefaultDeadLettersMaxAge)
	return c
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func (c StreamsConfig) validate() error {
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("replicas %d: use 1 to 5", c.Replicas)
	}
	if c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage {
		return fmt.Errorf("storage %v: use file or memory", c.Storage)
	}
	if c.DeliveriesMaxAge < MinDeliveriesMaxAge {
		return fmt.Errorf("deliveries: max age %s would drop retries waiting for their time; use at least %s", c.DeliveriesMaxAge, MinDeliveriesMaxAge)
	}
	for _, p := range []struct {
		name          string
		maxAge, dupes time.Duration
	}{
		{"events", c.EventsMaxAge, c.EventsDuplicates},
		{"deliveries", c.DeliveriesMaxAge, c.DeliveriesDuplicates},
		{"dead letters", c.DeadLettersMaxAge, c.DeliveriesDuplicates},
	} {
		if p.maxAge < 0 || p.dupes < 0 {
			return fmt.Errorf("%s: negative max age or duplicate window", p.name)
		}
		// The server refuses a duplicate window longer than the stream
		// keeps its messages, or shorter than 100ms.
		if p.dupes > p.maxAge {
			return fmt.Errorf("%s: duplicate window %s is longer than max age %s", p.name, p.dupes, p.maxAge)
		}
		if p.dupes < 100*time.Millisecond {
			return fmt.Errorf("%s: duplicate window %s is under the server's minimum of 100ms", p.name, p.dupes)
		}
	}
	return nil
}

// streamConfigs returns the three streams Fluxhook needs.
//
// Why three and not one or two: EVENTS and DELIVERIES are work queues,
// so each message is gone once its one consumer acks it and nothing
// piles up. A work-queue stream refuses consumers whose filters
// overlap, and two kinds of message must never be taken by the worker:
//   - retry schedules (fluxhook.schedules.>): the server itself turns
//     each into a job on its target subject at the scheduled time, and a
//     consumer that took a schedule would ack (delete) it before it
//     fired. They live in DELIVERIES because a schedule's target must be
//     a subject of its own stream, and the worker filters on
//     fluxhook.deliveries.> only.
//   - dead letters: kept for weeks for retries by hand and read by the
//     API rather than consumed, so they need limits retention, which a
//     stream has for all its subjects or none: hence DEAD_LETTERS.
//
// Discard stays "old" (schedules refuse "new"), and MaxAge is the only
// limit: dropping events or jobs for space would lose them silently,
// while a full disk at least fails the publish.
func streamConfigs(c StreamsConfig) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        StreamEvents,
			Description: "Fluxhook domain events, consumed once by the dispatcher",
			Subjects:    []string{EventsSubjects},
			Retention:   jetstream.WorkQueuePolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      c.EventsMaxAge,
			Duplicates:  c.EventsDuplicates,
			Storage:     c.Storage,
			Replicas:    c.Replicas,
		},
		{
			Name:        StreamDeliveries,
			Description: "Fluxhook delivery jobs and their pending retries",
			Subjects:    []string{DeliveriesSubjects, SchedulesSubjects},
			Retention:   jetstream.WorkQueuePolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      c.DeliveriesMaxAge,
			Duplicates:  c.DeliveriesDuplicates,
			Storage:     c.Storage,
			Replicas:    c.Replicas,
			// The server stores a schedule with a per-subject roll-up,
			// so it needs roll-ups allowed; it would turn them on by
			// itself, but asking makes the read-back check exact.
			AllowMsgSchedules: true,
			AllowRollup:       true,
		},
		{
			Name:        StreamDeadLetters,
			Description: "Fluxhook deliveries given up, kept for retries by hand",
			Subjects:    []string{DeadSubjects},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      c.DeadLettersMaxAge,
			Duplicates:  c.DeliveriesDuplicates,
			Storage:     c.Storage,
			Replicas:    c.Replicas,
		},
	}
}

// EnsureStreams creates the EVENTS, DELIVERIES and DEAD_LETTERS streams
// or updates them to cfg, then reads each back from the server and
// checks that it holds the settings asked for. Servers ignore settings
// they do not know (a server older than 2.12 would accept
// AllowMsgSchedules and drop it), so only the read-back shows what is
// really in force. Running it again with the same cfg changes nothing.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("stream settings: %w", err)
	}
	for _, want := range streamConfigs(cfg) {
		s, err := js.CreateOrUpdateStream(ctx, want)
		if err != nil {
			return fmt.Errorf("create or update stream %s: %w", want.Name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return fmt.Errorf("read back stream %s: %w", want.Name, err)
		}
		if err := checkStreamConfig(want, info.Config); err != nil {
			return err
		}
	}
	return nil
}

// checkStreamConfig compares the settings Fluxhook relies on; the
// server fills in others (limits of -1, metadata) that do not matter.
func checkStreamConfig(want, got jetstream.StreamConfig) error {
	var diffs []error
	diff := func(setting string, w, g any) {
		diffs = append(diffs, mismatch("stream", want.Name, setting, w, g))
	}
	if !sameSet(want.Subjects, got.Subjects) {
		diff("subjects", want.Subjects, got.Subjects)
	}
	if want.Retention != got.Retention {
		diff("retention", want.Retention, got.Retention)
	}
	if want.Discard != got.Discard {
		diff("discard", want.Discard, got.Discard)
	}
	if want.MaxAge != got.MaxAge {
		diff("max_age", want.MaxAge, got.MaxAge)
	}
	if want.Duplicates != got.Duplicates {
		diff("duplicate_window", want.Duplicates, got.Duplicates)
	}
	if want.Storage != got.Storage {
		diff("storage", want.Storage, got.Storage)
	}
	if want.Replicas != got.Replicas {
		diff("num_replicas", want.Replicas, got.Replicas)
	}
	if want.AllowMsgSchedules != got.AllowMsgSchedules {
		diff("allow_msg_schedules", want.AllowMsgSchedules, got.AllowMsgSchedules)
	}
	if want.AllowRollup != got.AllowRollup {
		diff("allow_rollup_hdrs", want.AllowRollup, got.AllowRollup)
	}
	return errors.Join(diffs...)
}

// ConsumersConfig tunes the two durable pull consumers. The zero value
// of a field means its default.
type ConsumersConfig struct {
	// DispatcherAckWait (default 30 s) is how long the dispatcher has to
	// fan an event out and collect every job's PubAck before the event
	// goes to another dispatcher.
	DispatcherAckWait time.Duration
	// DispatcherMaxAckPending (default 1000) bounds events in flight
	// across all dispatcher replicas.
	DispatcherMaxAckPending int
	// WorkerAckWait (default 60 s) must cover a whole attempt — rate
	// limit, the HTTP request (15 s by default), recording, scheduling
	// the retry — plus the time a job waits in the client's buffer
	// before a handler takes it, which with Consume's buffer of one
	// message per handler is about one attempt more.
	WorkerAckWait time.Duration
	// WorkerMaxAckPending (default 10000) bounds jobs in flight across
	// all worker replicas. Jobs deferred with NakWithDelay hold a slot
	// until they come back, which is why long waits use schedules.
	WorkerMaxAckPending int
}

// Defaults of ConsumersConfig.
const (
	DefaultDispatcherAckWait       = 30 * time.Second
	DefaultDispatcherMaxAckPending = 1000
	DefaultWorkerAckWait           = 60 * time.Second
	DefaultWorkerMaxAckPending     = 10000
)

func (c ConsumersConfig) withDefaults() ConsumersConfig {
	setDuration(&c.DispatcherAckWait, DefaultDispatcherAckWait)
	setDuration(&c.WorkerAckWait, DefaultWorkerAckWait)
	if c.DispatcherMaxAckPending == 0 {
		c.DispatcherMaxAckPending = DefaultDispatcherMaxAckPending
	}
	if c.WorkerMaxAckPending == 0 {
		c.WorkerMaxAckPending = DefaultWorkerMaxAckPending
	}
	return c
}

func (c ConsumersConfig) validate() error {
	if c.DispatcherAckWait < time.Second || c.WorkerAckWait < time.Second {
		return errors.New("ack waits must be at least 1s")
	}
	if c.DispatcherMaxAckPending < 1 || c.WorkerMaxAckPending < 1 {
		return errors.New("max ack pending must be at least 1")
	}
	return nil
}

type consumerSpec struct {
	stream string
	cfg    jetstream.ConsumerConfig
}

// consumerSpecs returns the dispatcher's and the worker's consumers.
//
// MaxDeliver is unlimited on both. The engine counts attempts itself;
// JetStream redelivers only after a crash, an AckWait timeout or a
// Nak, and the worker Naks every rate-limited job, so any limit would
// eventually be reached by a healthy job of a busy webhook. A message
// that reached MaxDeliver would also stay in the work queue, stuck,
// where no one sees it. Messages that can never succeed are for the
// handler to recognise (DecodeJob fails) and dead-letter or Term.
//
// Neither has a BackOff: short waits use NakWithDelay, which BackOff
// would override, and long ones use message schedules.
//
// The worker filters on all shards. Per-shard consumers, when they
// come, replace it rather than join it: a work-queue stream refuses
// consumers whose filters overlap.
func consumerSpecs(c ConsumersConfig) []consumerSpec {
	return []consumerSpec{
		{StreamEvents, jetstream.ConsumerConfig{
			Durable:       ConsumerDispatcher,
			Description:   "Fluxhook dispatcher: fans events out to delivery jobs",
			FilterSubject: EventsSubjects,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.DispatcherAckWait,
			MaxDeliver:    -1,
			MaxAckPending: c.DispatcherMaxAckPending,
		}},
		// Filtering on the delivery subjects alone leaves the schedules
		// in the same stream to the server's scheduler.
		{StreamDeliveries, jetstream.ConsumerConfig{
			Durable:       ConsumerWorker,
			Description:   "Fluxhook worker: makes delivery attempts",
			FilterSubject: DeliveriesSubjects,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.WorkerAckWait,
			MaxDeliver:    -1,
			MaxAckPending: c.WorkerMaxAckPending,
		}},
	}
}

// EnsureConsumers creates or updates the durable pull consumers
// "dispatcher" (on EVENTS) and "worker" (on DELIVERIES), reading each
// back like EnsureStreams. The streams must exist. Processes get them
// with js.Consumer(ctx, StreamEvents, ConsumerDispatcher) and
// js.Consumer(ctx, StreamDeliveries, ConsumerWorker).
func EnsureConsumers(ctx context.Context, js jetstream.JetStream, cfg ConsumersConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("consumer settings: %w", err)
	}
	for _, spec := range consumerSpecs(cfg) {
		c, err := js.CreateOrUpdateConsumer(ctx, spec.stream, spec.cfg)
		if err != nil {
			return fmt.Errorf("create or update consumer %s on %s: %w", spec.cfg.Durable, spec.stream, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("read back consumer %s on %s: %w", spec.cfg.Durable, spec.stream, err)
		}
		if err := checkConsumerConfig(spec.cfg, info.Config); err != nil {
			return err
		}
	}
	return nil
}

func checkConsumerConfig(want, got jetstream.ConsumerConfig) error {
	var diffs []error
	diff := func(setting string, w, g any) {
		diffs = append(diffs, mismatch("consumer", want.Durable, setting, w, g))
	}
	if want.Durable != got.Durable {
		diff("durable_name", want.Durable, got.Durable)
	}
	if want.FilterSubject != got.FilterSubject || len(got.FilterSubjects) > 0 {
		diff("filter_subject", want.FilterSubject, filterOf(got))
	}
	if want.DeliverPolicy != got.DeliverPolicy {
		diff("deliver_policy", want.DeliverPolicy, got.DeliverPolicy)
	}
	if want.AckPolicy != got.AckPolicy {
		diff("ack_policy", want.AckPolicy, got.AckPolicy)
	}
	if want.AckWait != got.AckWait {
		diff("ack_wait", want.AckWait, got.AckWait)
	}
	if want.MaxDeliver != got.MaxDeliver {
		diff("max_deliver", want.MaxDeliver, got.MaxDeliver)
	}
	if want.MaxAckPending != got.MaxAckPending {
		diff("max_ack_pending", want.MaxAckPending, got.MaxAckPending)
	}
	if len(got.BackOff) > 0 {
		diff("backoff", want.BackOff, got.BackOff)
	}
	return errors.Join(diffs...)
}

func filterOf(c jetstream.ConsumerConfig) any {
	if len(c.FilterSubjects) > 0 {
		return c.FilterSubjects
	}
	return c.FilterSubject
}

type mismatchError struct {
	kind, name, setting string
	want, got           any
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("%s %s: the server stored %s = %v, Fluxhook asked for %v (an old server drops settings it does not know; some settings cannot change on an existing %s)",
		e.kind, e.name, e.setting, e.got, e.want, e.kind)
}

func (e *mismatchError) Is(target error) bool { return target == ErrConfigMismatch }

func mismatch(kind, name, setting string, want, got any) error {
	return &mismatchError{kind, name, setting, want, got}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
