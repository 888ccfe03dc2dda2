package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// ErrEventsNotKept is matched with errors.Is when EVENTS is still the
// work queue an earlier release created: it drops each event once
// dispatched, so there is nothing to replay.
var ErrEventsNotKept = errors.New("EVENTS was created as a work queue by an earlier release and keeps no events; " +
	"the one-time step in DESIGN.md (\"Event retention and replay\") makes it keep them")

// keepWorkQueue reports whether EVENTS must stay the work queue an
// earlier release created. NATS cannot change a stream's retention to or
// from a work queue (nats-server 2.15.2, stream.go: "can not change
// retention policy to/from workqueue"), so the stream has to be deleted
// and created again, and a delete would take the events it holds with
// it. That is done here only when it is safe: the caller is the only
// publisher (cfg.EventsExclusive) and the stream is empty, every event
// in it dispatched. Otherwise the work queue is kept as it is — Fluxhook
// runs as before, replays answer ErrEventsNotKept — and the next start
// of the all-in-one, its dispatcher having drained the stream, or the
// documented one-time step of a cluster, makes the change.
func keepWorkQueue(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) (bool, error) {
	info, err := withTimeout(ctx, readTimeout, func(ctx context.Context) (*jetstream.StreamInfo, error) {
		return streamInfo(ctx, js, StreamEvents)
	})
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read stream %s: %w", StreamEvents, err)
	case info.Config.Retention != jetstream.WorkQueuePolicy:
		return false, nil
	case !cfg.EventsExclusive || info.State.Msgs > 0:
		return true, nil
	}
	// Empty, and nobody else can publish meanwhile: nothing is lost. The
	// dispatcher's consumer goes with it and EnsureConsumers makes it again.
	if _, err := withTimeout(ctx, writeTimeout, none(func(ctx context.Context) error {
		return js.DeleteStream(ctx, StreamEvents)
	})); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, fmt.Errorf("delete the empty work-queue stream %s to create it with limits retention: %w", StreamEvents, err)
	}
	return false, nil
}

// EventsKept reports whether EVENTS keeps events for replays, and since
// when it holds them: the time of its oldest message (zero when it is
// empty). kept is false for a work queue left by an earlier release.
func EventsKept(ctx context.Context, js jetstream.JetStream) (oldest time.Time, kept bool, err error) {
	info, err := streamInfo(ctx, js, StreamEvents)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read stream %s: %w", StreamEvents, err)
	}
	if info.State.Msgs > 0 {
		oldest = info.State.FirstTime
	}
	return oldest, info.Config.Retention != jetstream.WorkQueuePolicy, nil
}

// KeptEvents is one message of EVENTS as a replay reads it.
type KeptEvents struct {
	// Seq is the message's stream sequence: where a replay that stopped
	// takes up again (from Seq+1).
	Seq uint64
	// Stored is when the server stored it. An event is stored after its
	// timestamp (the outbox relays it later), never before.
	Stored time.Time
	Events []fluxhook.Event
}

// readStall bounds the wait for the next message of a window known to
// hold more: longer, and the server is in trouble (the replay is tried
// again later from where it got to).
const readStall = 30 * time.Second

// ReadEvents reads the messages of EVENTS in order, from stream sequence
// from, or when from is 0 from the first message stored at or after
// since, up to the last message stored when it began, and calls fn with
// each (an undecodable message is passed with no events). It reads with
// an ordered consumer of its own, which takes nothing from the
// dispatcher. It returns fn's error, or nil at the end of the window.
func ReadEvents(ctx context.Context, js jetstream.JetStream, from uint64, since time.Time, fn func(KeptEvents) error) error {
	s, err := js.Stream(ctx, StreamEvents)
	if err != nil {
		return fmt.Errorf("read %s: %w", StreamEvents, err)
	}
	info := s.CachedInfo()
	if info.Config.Retention == jetstream.WorkQueuePolicy {
		return ErrEventsNotKept
	}
	last := info.State.LastSeq
	if last == 0 || from > last {
		return nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{EventsSubjects}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since,
		InactiveThreshold: time.Minute}
	if from > 0 {
		cfg.DeliverPolicy, cfg.OptStartTime, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, nil, from
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("read %s: %w", StreamEvents, err)
	}
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		return fmt.Errorf("read %s: %w", StreamEvents, err)
	}
	defer iter.Stop()
	defer context.AfterFunc(ctx, iter.Stop)()
	for {
		msg, err := iter.Next(jetstream.NextMaxWait(readStall))
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, nats.ErrTimeout):
			return fmt.Errorf("read %s: no message for %s with more expected", StreamEvents, readStall)
		case err != nil:
			return fmt.Errorf("read %s: %w", StreamEvents, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read %s: %w", StreamEvents, err)
		}
		if meta.Sequence.Stream > last {
			return nil
		}
		evs, _ := wire.DecodeEvents(msg.Data())
		if err := fn(KeptEvents{Seq: meta.Sequence.Stream, Stored: meta.Timestamp, Events: evs}); err != nil {
			return err
		}
		if meta.Sequence.Stream == last || meta.NumPending == 0 {
			return nil
		}
	}
}
