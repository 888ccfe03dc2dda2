package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

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
// back like EnsureStreams, and like it safe to run in many processes at
// once. The streams must exist. Processes get them with
// js.Consumer(ctx, StreamEvents, ConsumerDispatcher) and
// js.Consumer(ctx, StreamDeliveries, ConsumerWorker).
func EnsureConsumers(ctx context.Context, js jetstream.JetStream, cfg ConsumersConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return permanentf("consumer settings: %w", err)
	}
	// A clustered server says who leads a consumer, and a member that has
	// not started the consumer yet says nothing of it; a single server
	// never says (nats-server's consumer info).
	clustered := js.Conn().ConnectedClusterName() != ""
	for _, spec := range consumerSpecs(cfg) {
		err := settle(ctx, fmt.Sprintf("consumer %s on %s", spec.cfg.Durable, spec.stream),
			func(ctx context.Context) (bool, error) {
				c, err := js.Consumer(ctx, spec.stream, spec.cfg.Durable)
				if err != nil {
					return false, err
				}
				info := c.CachedInfo()
				led := !clustered || info.Cluster != nil && info.Cluster.Leader != ""
				return led, checkConsumerConfig(spec.cfg, info.Config)
			},
			func(ctx context.Context) error { _, err := js.CreateConsumer(ctx, spec.stream, spec.cfg); return err },
			func(ctx context.Context) error { _, err := js.UpdateConsumer(ctx, spec.stream, spec.cfg); return err })
		if err != nil {
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
