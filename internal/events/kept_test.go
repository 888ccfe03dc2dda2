package events

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// TestWorkQueueEventsBecomeKeptOnlyWhenSafe: an EVENTS left as a work
// queue by an earlier release keeps its undispatched events; it is made
// a limits stream only by the sole publisher, once it is empty.
func TestWorkQueueEventsBecomeKeptOnlyWhenSafe(t *testing.T) {
	js := newJetStream(t)
	ctx := testenv.Context(t, 20*time.Second)
	old := streamConfigs(StreamsConfig{}.withDefaults())[0]
	old.Retention = jetstream.WorkQueuePolicy
	if _, err := js.CreateStream(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "fluxhook.events.user.created", []byte(`{"id":"e1","event":"user.created","timestamp":"2026-01-01T00:00:00Z","data":{}}`)); err != nil {
		t.Fatal(err)
	}
	kept := func() bool {
		t.Helper()
		_, k, err := EventsKept(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	// Not empty: kept as it is, its event still there.
	if err := EnsureStreams(ctx, js, StreamsConfig{EventsExclusive: true}); err != nil {
		t.Fatalf("EnsureStreams over a work queue holding an event: %v", err)
	}
	if kept() {
		t.Fatal("a work queue holding an event was replaced")
	}
	if s, _ := js.Stream(ctx, StreamEvents); s.CachedInfo().State.Msgs != 1 {
		t.Fatalf("the undispatched event is gone: %d messages", s.CachedInfo().State.Msgs)
	}
	if err := ReadEvents(ctx, js, 0, time.Time{}, func(KeptEvents) error { return nil }); !errors.Is(err, ErrEventsNotKept) {
		t.Fatalf("ReadEvents on a work queue: %v, want ErrEventsNotKept", err)
	}

	// Dispatched (gone), but other processes may publish: kept.
	s, _ := js.Stream(ctx, StreamEvents)
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	if kept() {
		t.Fatal("a work queue was replaced while other processes may publish")
	}

	// Empty, and the only publisher: made a limits stream.
	if err := EnsureStreams(ctx, js, StreamsConfig{EventsExclusive: true}); err != nil {
		t.Fatal(err)
	}
	if !kept() {
		t.Fatal("an empty work queue was not made a limits stream by its only publisher")
	}
	if err := EnsureConsumers(ctx, js, ConsumersConfig{}); err != nil {
		t.Fatalf("the dispatcher's consumer on the new stream: %v", err)
	}
}

// TestReadEvents: a window of EVENTS is read in order, from a time or a
// sequence, up to what was stored when the read began, and leaves the
// dispatcher's consumer as it was.
func TestReadEvents(t *testing.T) {
	js := newJetStream(t)
	ctx := testenv.Context(t, 20*time.Second)
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureConsumers(ctx, js, ConsumersConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := NewPublisher(js.Conn(), PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(n int) []string {
		var ids []string
		for range n {
			e := fluxhook.Event{ID: wire.NewID(), Event: "order.paid", Timestamp: time.Now().UTC(), Data: []byte(`{}`)}
			if _, err := pub.PublishEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		return ids
	}
	before := publish(3)
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	window := publish(4)
	// A pack of two events in one message.
	packed := []fluxhook.Event{{ID: wire.NewID(), Event: "order.paid", Timestamp: time.Now().UTC(), Data: []byte(`{}`)},
		{ID: wire.NewID(), Event: "order.shipped", Timestamp: time.Now().UTC(), Data: []byte(`{}`)}}
	if n, err := pub.PublishEvents(ctx, packed); err != nil || n != 2 {
		t.Fatal(n, err)
	}
	window = append(window, packed[0].ID, packed[1].ID)

	read := func(from uint64) (ids []string, seqs []uint64) {
		t.Helper()
		err := ReadEvents(ctx, js, from, since, func(k KeptEvents) error {
			seqs = append(seqs, k.Seq)
			for _, e := range k.Events {
				ids = append(ids, e.ID)
			}
			if k.Stored.Before(since) {
				t.Errorf("message %d stored %s, before the start %s", k.Seq, k.Stored, since)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids, seqs
	}
	ids, seqs := read(0)
	if !slices.Equal(ids, window) {
		t.Fatalf("read %v, want the window %v (not %v before it)", ids, window, before)
	}
	// Taken up again after the second message: the rest.
	if rest, _ := read(seqs[1] + 1); !slices.Equal(rest, window[2:]) {
		t.Fatalf("from sequence %d: %v, want %v", seqs[1]+1, rest, window[2:])
	}
	// Past the end: nothing, at once.
	if none, _ := read(seqs[len(seqs)-1] + 1); len(none) != 0 {
		t.Fatalf("past the end: %v", none)
	}
	// fn's error stops the read.
	stop := errors.New("stop")
	if err := ReadEvents(ctx, js, 0, since, func(KeptEvents) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("ReadEvents = %v, want fn's error", err)
	}
	// The dispatcher still has every event to dispatch.
	c, err := js.Consumer(ctx, StreamEvents, ConsumerDispatcher)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().NumPending; got != uint64(len(before)+len(window)-1) {
		t.Fatalf("dispatcher pending %d after the reads, want %d", got, len(before)+len(window)-1)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := ReadEvents(cctx, js, 0, since, func(KeptEvents) error { return nil }); err == nil {
		t.Fatal("a cancelled read succeeded")
	}
}
