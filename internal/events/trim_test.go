package events

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/testenv"
)

// subjectMsgs counts the stream's messages on subjects matching filter.
func (p *pipeline) subjectMsgs(tb testing.TB, name, filter string) uint64 {
	tb.Helper()
	ctx := testenv.Context(tb, 5*time.Second)
	s, err := p.js.Stream(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		tb.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

func TestTrimRemovesOnlyWhatWasAcked(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 30*time.Second)

	// A retry waiting for its time, stored before the jobs: the ack floor
	// passes it, and it must stay.
	pendingRetry := testJobs(1, "later")[0]
	pendingRetry.Attempt = 2
	if err := p.pub.ScheduleRetry(ctx, pendingRetry, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	const n = 10
	if err := p.pub.PublishJobs(ctx, testJobs(n, "trim")); err != nil {
		t.Fatal(err)
	}
	batch, err := p.worker(t).Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		t.Fatalf("fetched %d jobs, want %d", len(msgs), n)
	}
	ack := func(i int) {
		t.Helper()
		if err := msgs[i].DoubleAck(ctx); err != nil {
			t.Fatalf("ack job %d: %v", i+1, err)
		}
	}
	// Jobs 1-6 and 8 acked; 7, 9 and 10 still being worked on.
	for i := range 6 {
		ack(i)
	}
	ack(7)

	tr := DeliveriesTrimmer(p.js)
	floor, err := tr.Trim(ctx)
	if err != nil {
		t.Fatalf("Trim: %v", err)
	}
	meta, err := msgs[5].Metadata()
	if err != nil {
		t.Fatal(err)
	}
	if floor != meta.Sequence.Stream {
		t.Errorf("trimmed up to %d, want job 6's sequence %d", floor, meta.Sequence.Stream)
	}
	if got := p.subjectMsgs(t, StreamDeliveries, DeliveriesSubjects); got != 4 {
		t.Errorf("%d jobs left, want 4 (7 and 9-10 unacked, 8 above the floor)", got)
	}
	if got := p.subjectMsgs(t, StreamDeliveries, SchedulesSubjects); got != 1 {
		t.Errorf("%d schedules left, want the pending retry", got)
	}
	// The unacked jobs are still there for the worker.
	for _, i := range []int{6, 8, 9} {
		if err := msgs[i].Nak(); err != nil {
			t.Fatal(err)
		}
	}
	again, err := p.worker(t).Fetch(3, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	redelivered := 0
	for m := range again.Messages() {
		redelivered++
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if redelivered != 3 {
		t.Fatalf("%d unacked jobs came back, want 3", redelivered)
	}

	if _, err := tr.Trim(ctx); err != nil {
		t.Fatalf("Trim: %v", err)
	}
	if got := p.subjectMsgs(t, StreamDeliveries, DeliveriesSubjects); got != 0 {
		t.Errorf("%d jobs left after every one was acked", got)
	}
	if got := p.streamMsgs(t, StreamDeliveries); got != 1 {
		t.Errorf("DELIVERIES holds %d messages, want the pending retry alone", got)
	}
	// Nothing new acked: trimming again is a no-op.
	if _, err := tr.Trim(ctx); err != nil {
		t.Fatalf("Trim again: %v", err)
	}
	if got := p.streamMsgs(t, StreamDeliveries); got != 1 {
		t.Errorf("DELIVERIES holds %d messages after a second trim, want 1", got)
	}
}

func TestTrimEvents(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 30*time.Second)
	const n = 5
	for i := range n {
		if _, err := p.pub.PublishEvent(ctx, testEvent(fmt.Sprintf("evt_trim_%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := EventsTrimmer(p.js).Trim(ctx); err != nil {
		t.Fatalf("Trim with nothing acked: %v", err)
	}
	if got := p.streamMsgs(t, StreamEvents); got != n {
		t.Fatalf("EVENTS holds %d events before any ack, want %d", got, n)
	}
	c, err := p.js.Consumer(ctx, StreamEvents, ConsumerDispatcher)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.leftAfterTrim(t, StreamEvents); got != 0 {
		t.Errorf("EVENTS holds %d events after all were dispatched and trimmed", got)
	}
}
