package events

import (
	"context"
	"errors"
	"fmt"
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

	// EventsMaxAge (default 7 days, FLUXHOOK_EVENT_RETENTION) is how
	// long EVENTS keeps an event, dispatched or not: the window a replay
	// (POST /webhooks/{id}/replay) can reach back, and how long an event
	// waits for the dispatcher through an outage.
	EventsMaxAge time.Duration
	// EventsExclusive says that nothing else publishes to EVENTS while
	// EnsureStreams runs (the all-in-one, whose embedded server no other
	// process reaches before its API starts). Only then is an EVENTS
	// created as a work queue by an earlier release, once empty, deleted
	// and created again with limits retention (see keepWorkQueue).
	EventsExclusive bool
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
	// DeliveriesDuplicates (default 10 minutes) is DEAD_LETTERS'
	// duplicate window, where a worker re-publishes a dead letter when
	// its job comes back after a crash (AckWait, 60 s). Jobs themselves
	// travel in packs, which have no msg id: a job stored twice is a
	// duplicate delivery with the same webhook-id, which at-least-once
	// allows.
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
// Why three and not one or two: DELIVERIES is a work queue, so each job
// is gone once the worker acks it and nothing piles up. EVENTS keeps
// every event for EventsMaxAge (limits retention) whether dispatched or
// not, so that a replay can read a window of it again with an ordered
// consumer of its own while the dispatcher's durable consumer keeps its
// place by its ack floor (and an ack costs no removal write). A
// work-queue stream refuses consumers whose filters overlap, and two
// kinds of message must never be taken by the worker:
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
// while a full disk at least fails the publish. EVENTS therefore holds
// EventsMaxAge of traffic on disk: size the volume for it.
func streamConfigs(c StreamsConfig) []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        StreamEvents,
			Description: "Fluxhook domain events, dispatched once and kept for replays",
			Subjects:    []string{EventsSubjects},
			Retention:   jetstream.LimitsPolicy,
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
// and the idempotency bucket, or updates them to cfg, then reads each
// back from the server and checks that it holds the settings asked for.
// Servers ignore settings they do not know (a server older than 2.12
// would accept AllowMsgSchedules and drop it), so only the read-back
// shows what is really in force. Running it again with the same cfg
// writes nothing.
//
// Every replica of every binary runs it at start, often at the same
// moment: see settle for how they keep out of each other's way. An error
// for which Permanent is false is worth another try a little later.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return permanentf("stream settings: %w", err)
	}
	legacy, err := keepWorkQueue(ctx, js, cfg)
	if err != nil {
		return err
	}
	for _, want := range streamConfigs(cfg) {
		if want.Name == StreamEvents && legacy {
			want.Retention = jetstream.WorkQueuePolicy
		}
		err := settle(ctx, "stream "+want.Name,
			func(ctx context.Context) (bool, error) {
				info, err := streamInfo(ctx, js, want.Name)
				if err != nil {
					return false, err
				}
				return streamLed(info), checkStreamConfig(want, info.Config)
			},
			func(ctx context.Context) error { _, err := js.CreateStream(ctx, want); return err },
			func(ctx context.Context) error { _, err := js.UpdateStream(ctx, want); return err })
		if err != nil {
			return err
		}
	}
	kv := idempotencyConfig(cfg)
	return settle(ctx, "key-value bucket "+kv.Bucket,
		func(ctx context.Context) (bool, error) {
			info, err := streamInfo(ctx, js, kvStreamPrefix+kv.Bucket)
			if err != nil {
				return false, err
			}
			return streamLed(info), checkBucketConfig(kv, info.Config)
		},
		func(ctx context.Context) error { _, err := js.CreateKeyValue(ctx, kv); return err },
		func(ctx context.Context) error { _, err := js.UpdateKeyValue(ctx, kv); return err })
}

// kvStreamPrefix names the stream that holds a key-value bucket.
const kvStreamPrefix = "KV_"

// streamLed reports whether a stream has a leader. A server always
// says, a single one naming itself.
func streamLed(info *jetstream.StreamInfo) bool {
	return info.Cluster == nil || info.Cluster.Leader != ""
}

func streamInfo(ctx context.Context, js jetstream.JetStream, name string) (*jetstream.StreamInfo, error) {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.CachedInfo(), nil
}

// IdempotencyBucket holds the ids of the events POST /events accepted
// with an idempotency key, for EventsDuplicates: the durable record that
// answers a repeat after a restart, and on another api replica, when the
// EVENTS duplicate window no longer can (it is kept in memory, and an
// EVENTS left a work queue by an earlier release drops the message it
// would compare with once it is dispatched).
const IdempotencyBucket = "FLUXHOOK_IDEMPOTENCY"

func idempotencyConfig(c StreamsConfig) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      IdempotencyBucket,
		Description: "Ids of events accepted with an idempotency key (POST /events), kept for the idempotency window.",
		TTL:         c.EventsDuplicates,
		History:     1,
		Replicas:    c.Replicas,
		Storage:     c.Storage,
	}
}

// checkBucketConfig compares the settings of the bucket's stream that
// the bucket's config sets.
func checkBucketConfig(want jetstream.KeyValueConfig, got jetstream.StreamConfig) error {
	var diffs []error
	diff := func(setting string, w, g any) {
		diffs = append(diffs, mismatch("key-value bucket", want.Bucket, setting, w, g))
	}
	if want.TTL != got.MaxAge {
		diff("ttl", want.TTL, got.MaxAge)
	}
	if int64(want.History) != got.MaxMsgsPerSubject {
		diff("history", want.History, got.MaxMsgsPerSubject)
	}
	if want.Replicas != got.Replicas {
		diff("num_replicas", want.Replicas, got.Replicas)
	}
	if want.Storage != got.Storage {
		diff("storage", want.Storage, got.Storage)
	}
	return errors.Join(diffs...)
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
