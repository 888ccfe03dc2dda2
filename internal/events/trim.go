package events

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrWorkQueue is returned by Trimmer.Trim for a stream created with
// work-queue retention (by a Fluxhook before limits retention, which the
// server cannot change on an existing stream): its acks delete their
// messages, so there is nothing to trim.
var ErrWorkQueue = errors.New("the stream has work-queue retention: acked messages are deleted as they are acked")

// Trimmer removes from EVENTS or DELIVERIES the messages their consumer
// has acknowledged. Both streams use limits retention (see
// streamConfigs): an ack only moves the consumer's ack floor, and a
// trim purges everything at or below it on the consumer's subjects in
// one request, one disk sync for all of them, where a work-queue stream
// syncs a tombstone for each ack. Messages above the floor stay, acked
// or not, until the floor passes them; so do the retry schedules in
// DELIVERIES, whose subjects the trim leaves alone.
//
// Trimming is idempotent: every replica of a role may run one.
type Trimmer struct {
	js                       jetstream.JetStream
	stream, consumer, filter string

	mu     sync.Mutex
	handle jetstream.Stream
	done   uint64 // the floor of the last purge
}

// EventsTrimmer trims EVENTS below the dispatcher's ack floor.
func EventsTrimmer(js jetstream.JetStream) *Trimmer {
	return &Trimmer{js: js, stream: StreamEvents, consumer: ConsumerDispatcher, filter: EventsSubjects}
}

// DeliveriesTrimmer trims the jobs in DELIVERIES below the worker's ack
// floor; retry schedules stay until they fire.
func DeliveriesTrimmer(js jetstream.JetStream) *Trimmer {
	return &Trimmer{js: js, stream: StreamDeliveries, consumer: ConsumerWorker, filter: DeliveriesSubjects}
}

// Trim purges the acknowledged messages and returns the ack floor it
// purged up to (0: nothing acked yet). A floor that has not moved since
// the last trim costs one consumer info request and no purge.
func (t *Trimmer) Trim(ctx context.Context) (uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.handle == nil {
		s, err := t.js.Stream(ctx, t.stream)
		if err != nil {
			return 0, fmt.Errorf("trim %s: %w", t.stream, err)
		}
		if s.CachedInfo().Config.Retention == jetstream.WorkQueuePolicy {
			return 0, fmt.Errorf("trim %s: %w", t.stream, ErrWorkQueue)
		}
		t.handle = s
	}
	c, err := t.handle.Consumer(ctx, t.consumer)
	if err != nil {
		t.handle = nil // the stream may have been re-created
		return 0, fmt.Errorf("trim %s: %w", t.stream, err)
	}
	floor := c.CachedInfo().AckFloor.Stream
	if floor == 0 || floor == t.done {
		return floor, nil
	}
	// Purge with a sequence removes what lies below it, not the
	// sequence itself; the subject filter keeps the schedules.
	if err := t.handle.Purge(ctx, jetstream.WithPurgeSubject(t.filter), jetstream.WithPurgeSequence(floor+1)); err != nil {
		return 0, fmt.Errorf("trim %s up to %d: %w", t.stream, floor, err)
	}
	t.done = floor
	return floor, nil
}
