package events

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

func testEvent(id string) fluxhook.Event {
	return fluxhook.Event{
		ID:        id,
		Event:     "user.created",
		Timestamp: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Data:      json.RawMessage(`{"id":"usr_1"}`),
		UserID:    "usr_1",
	}
}

func TestPublishEventDeduplicates(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 10*time.Second)

	steps := []struct {
		id        string
		duplicate bool
	}{
		{"evt_a", false},
		{"evt_a", true},
		{"evt_b", false},
		{"evt_a", true},
		{"evt_b", true},
	}
	for i, st := range steps {
		t.Run(fmt.Sprintf("%d %s", i, st.id), func(t *testing.T) {
			dup, err := p.pub.PublishEvent(ctx, testEvent(st.id))
			if err != nil {
				t.Fatalf("PublishEvent: %v", err)
			}
			if dup != st.duplicate {
				t.Errorf("duplicate = %v, want %v", dup, st.duplicate)
			}
		})
	}
	if n := p.streamMsgs(t, StreamEvents); n != 2 {
		t.Errorf("EVENTS holds %d messages, want 2", n)
	}

	// What the dispatcher reads back is the event as published.
	s, err := p.js.Stream(ctx, StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "fluxhook.events.user.created" || m.Header.Get(jetstream.MsgIDHeader) != "evt_a" {
		t.Errorf("stored on %q with msg id %q", m.Subject, m.Header.Get(jetstream.MsgIDHeader))
	}
	got, err := wire.DecodeEvent(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if want := testEvent("evt_a"); !reflect.DeepEqual(got, want) {
		t.Errorf("stored %+v, want %+v", got, want)
	}
}

func TestPublishEventsPacksInOrderAndDeduplicates(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 30*time.Second)
	es := make([]fluxhook.Event, wire.MaxPackJobs+10)
	for i := range es {
		es[i] = testEvent(fmt.Sprintf("evt_%04d", i))
	}
	stored, err := p.pub.PublishEvents(ctx, es)
	if err != nil || stored != len(es) {
		t.Fatalf("PublishEvents = %d, %v; want %d, nil", stored, err, len(es))
	}
	if n := p.streamMsgs(t, StreamEvents); n != 2 {
		t.Fatalf("EVENTS holds %d messages for %d events, want 2 packs", n, len(es))
	}
	// The same batch again, as after a PubAck lost: dropped whole.
	if stored, err := p.pub.PublishEvents(ctx, es); err != nil || stored != len(es) {
		t.Fatalf("PublishEvents again = %d, %v", stored, err)
	}
	if n := p.streamMsgs(t, StreamEvents); n != 2 {
		t.Errorf("EVENTS holds %d messages after the repeat, want still 2", n)
	}
	// A batch that holds one event more is another message.
	if _, err := p.pub.PublishEvents(ctx, append(slices.Clone(es[:3]), testEvent("evt_new"))); err != nil {
		t.Fatal(err)
	}
	if n := p.streamMsgs(t, StreamEvents); n != 3 {
		t.Errorf("EVENTS holds %d messages, want 3", n)
	}

	s, err := p.js.Stream(ctx, StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != EventPackSubject {
			t.Errorf("message %d on %s, want %s", seq, m.Subject, EventPackSubject)
		}
		pack, err := wire.DecodeEvents(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pack {
			got = append(got, e.ID)
		}
	}
	want := make([]string, len(es))
	for i, e := range es {
		want[i] = e.ID
	}
	if !slices.Equal(got, want) {
		t.Errorf("the stream holds %d events, not the %d published in their order", len(got), len(want))
	}
}

func TestPublishEventRefused(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 10*time.Second)
	tests := []struct {
		name   string
		change func(*fluxhook.Event)
	}{
		{"wildcard name", func(e *fluxhook.Event) { e.Event = "user.*" }},
		{"name with a space", func(e *fluxhook.Event) { e.Event = "user. created" }},
		{"id injecting a header", func(e *fluxhook.Event) { e.ID = "x\r\nNats-Rollup: all" }},
		{"no id", func(e *fluxhook.Event) { e.ID = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := testEvent("evt_refused")
			tt.change(&e)
			if _, err := p.pub.PublishEvent(ctx, e); err == nil {
				t.Error("PublishEvent accepted it")
			}
		})
	}
	if n := p.streamMsgs(t, StreamEvents); n != 0 {
		t.Errorf("EVENTS holds %d messages, want none", n)
	}
}

func TestPublishWithoutStreamsFails(t *testing.T) {
	s := testenv.NATS(t)
	ctx := testenv.Context(t, 10*time.Second)
	nc, err := Connect(ctx, s.ClientURL(), "fluxhook-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub, err := NewPublisher(nc, PublisherOptions{AckTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	job := testJobs(1, "nostream")[0]
	tests := []struct {
		name    string
		publish func(context.Context) error
	}{
		{"event", func(ctx context.Context) error { _, err := pub.PublishEvent(ctx, testEvent("evt_1")); return err }},
		{"jobs", func(ctx context.Context) error { return pub.PublishJobs(ctx, []wire.Job{job}) }},
		{"retry", func(ctx context.Context) error { return pub.ScheduleRetry(ctx, job, time.Now().Add(time.Minute)) }},
		{"dead letter", func(ctx context.Context) error { return pub.PublishDead(ctx, job, "gone") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := tt.publish(ctx); err == nil {
				t.Fatal("publish succeeded with no stream to store it")
			}
			if took := time.Since(start); took > 4*time.Second {
				t.Errorf("failing took %s", took)
			}
		})
	}
}

// TestPublishJobsPacksThem: jobs handed over together are stored in
// packs of at most wire.MaxPackJobs, and each reaches the worker once.
func TestPublishJobsPacksThem(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 60*time.Second)
	const n = 10000
	jobs := testJobs(n, "d")
	if err := p.pub.PublishJobs(ctx, jobs); err != nil {
		t.Fatalf("PublishJobs: %v", err)
	}
	if got, want := p.streamMsgs(t, StreamDeliveries), uint64((n+wire.MaxPackJobs-1)/wire.MaxPackJobs); got != want {
		t.Fatalf("DELIVERIES holds %d messages, want %d packs", got, want)
	}

	var mu sync.Mutex
	seen := make(map[string]int, n)
	var wrong []string
	stop, _ := runConsume(t, p.worker(t), 64, func(ctx context.Context, msg jetstream.Msg) {
		pack, err := wire.DecodePack(msg.Data())
		mu.Lock()
		switch {
		case err != nil:
			wrong = append(wrong, err.Error())
		case msg.Subject() != PackSubject:
			wrong = append(wrong, fmt.Sprintf("a pack on %s", msg.Subject()))
		default:
			for _, j := range pack {
				seen[j.DeliveryID]++
			}
		}
		mu.Unlock()
		if err := msg.DoubleAck(ctx); err != nil {
			t.Errorf("ack: %v", err)
		}
	})
	handled := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) + len(wrong)
	}
	deadline := time.Now().Add(30 * time.Second)
	for handled() < n {
		if time.Now().After(deadline) {
			ci, err := p.worker(t).Info(ctx)
			t.Fatalf("timed out after 30s: %d of %d jobs handled; consumer %+v (err %v)", handled(), n, ci, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // room for any extra delivery to show
	if err := stop(); err != nil {
		t.Fatalf("Consume: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(wrong) > 0 {
		t.Fatalf("%d bad jobs, first: %s", len(wrong), wrong[0])
	}
	for _, j := range jobs {
		if c := seen[j.DeliveryID]; c != 1 {
			t.Errorf("job %s handled %d times", j.DeliveryID, c)
		}
	}
	if got := p.streamMsgs(t, StreamDeliveries); got != 0 {
		t.Errorf("DELIVERIES holds %d messages after every job was acked", got)
	}
}

func TestPublishJobsRefusesBadJobs(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 10*time.Second)
	tests := []struct {
		name   string
		change func(*wire.Job)
	}{
		{"bad payload", func(j *wire.Job) { j.Payload = json.RawMessage("{") }},
		{"no event id", func(j *wire.Job) { j.EventID = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs := testJobs(3, "bad")
			tt.change(&jobs[2])
			if err := p.pub.PublishJobs(ctx, jobs); err == nil {
				t.Error("PublishJobs accepted it")
			}
		})
	}
	// Jobs are checked before any is sent, so none of a bad batch lands.
	if got := p.streamMsgs(t, StreamDeliveries); got != 0 {
		t.Errorf("DELIVERIES holds %d messages", got)
	}
}

func TestScheduleRetry(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration // from now
	}{
		{"three seconds ahead", 3 * time.Second},
		{"a fraction of a second is rounded up", 2*time.Second + 300*time.Millisecond},
		{"in the past is delivered at once", -time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
			worker := p.worker(t)
			ctx := testenv.Context(t, 20*time.Second)

			job := testJobs(1, "sched")[0]
			job.Attempt = 2
			job.FirstAttemptAt = time.Now().UTC().Truncate(time.Millisecond)
			at := time.Now().Add(tt.after)
			if err := p.pub.ScheduleRetry(ctx, job, at); err != nil {
				t.Fatalf("ScheduleRetry: %v", err)
			}

			if tt.after > time.Second {
				// Waiting in the stream, invisible to the worker.
				if got := p.streamMsgs(t, StreamDeliveries); got != 1 {
					t.Errorf("DELIVERIES holds %d messages while the retry waits, want 1", got)
				}
				info, err := worker.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if info.NumPending != 0 || info.NumAckPending != 0 {
					t.Errorf("worker sees %d pending, %d ack pending before the retry is due", info.NumPending, info.NumAckPending)
				}
			}

			msg, err := worker.Next(jetstream.FetchMaxWait(max(time.Until(at), 0) + 5*time.Second))
			got := time.Now()
			if err != nil {
				t.Fatalf("no retry within 5s of its time: %v", err)
			}
			if tt.after > 0 {
				t.Logf("retry arrived %s after its time", got.Sub(at).Round(time.Millisecond))
				if got.Before(at) {
					t.Errorf("retry came %s early", at.Sub(got))
				}
				// Schedules have one-second resolution (the time is rounded
				// up), so up to a second late is by design; the rest is slack.
				if late := got.Sub(at); late > 4*time.Second {
					t.Errorf("retry came %s late", late)
				}
			} else if late := got.Sub(at.Add(-tt.after)); late > 4*time.Second {
				t.Errorf("overdue retry came %s after scheduling", late)
			}

			if msg.Subject() != PackSubject {
				t.Errorf("retry on %q, want %q", msg.Subject(), PackSubject)
			}
			decoded, err := wire.DecodePack(msg.Data())
			if err != nil {
				t.Fatal(err)
			}
			if len(decoded) != 1 || !reflect.DeepEqual(decoded[0], job) {
				t.Errorf("retry carries %+v, want [%+v]", decoded, job)
			}
			if err := msg.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}

			if extra, err := worker.Next(jetstream.FetchMaxWait(1500 * time.Millisecond)); err == nil {
				t.Errorf("a second retry arrived: %s", extra.Data())
			}
			// The schedule itself is gone once it fired.
			if got := p.streamMsgs(t, StreamDeliveries); got != 0 {
				t.Errorf("DELIVERIES holds %d messages after the retry was acked", got)
			}
		})
	}
}

func TestScheduleRetryRefused(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 10*time.Second)
	tests := []struct {
		name   string
		change func(*wire.Job)
	}{
		{"attempt 0", func(j *wire.Job) { j.Attempt = 0 }},
		{"delivery id with a wildcard", func(j *wire.Job) { j.DeliveryID = "d*" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := testJobs(1, "sched")[0]
			tt.change(&job)
			if err := p.pub.ScheduleRetry(ctx, job, time.Now()); err == nil {
				t.Error("ScheduleRetry accepted it")
			}
		})
	}
}

func TestPublishDead(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 10*time.Second)
	job := testJobs(1, "dead")[0]
	job.Attempt = 10

	for run := 1; run <= 2; run++ {
		if err := p.pub.PublishDead(ctx, job, "HTTP 500\r\nafter 10 attempts"); err != nil {
			t.Fatalf("PublishDead run %d: %v", run, err)
		}
	}
	if got := p.streamMsgs(t, StreamDeadLetters); got != 1 {
		t.Errorf("DEAD_LETTERS holds %d messages, want 1", got)
	}
	s, err := p.js.Stream(ctx, StreamDeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, DeadSubjects)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != DeadSubject(job.WebhookID) {
		t.Errorf("dead letter on %q, want %q", m.Subject, DeadSubject(job.WebhookID))
	}
	if got := m.Header.Get(DeadReasonHeader); got != "HTTP 500  after 10 attempts" {
		t.Errorf("reason %q", got)
	}
	decoded, err := wire.DecodeJob(m.Data)
	if err != nil || decoded.DeliveryID != job.DeliveryID || decoded.Attempt != 10 {
		t.Errorf("dead letter body %s (%v)", m.Data, err)
	}

	info, err := p.worker(t).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumPending != 0 {
		t.Errorf("the worker sees %d messages; dead letters must not reach it", info.NumPending)
	}
}

func TestPublisherOptionsRefused(t *testing.T) {
	nc, err := nats.Connect(testenv.NATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, opts := range []PublisherOptions{{AckTimeout: -time.Second}} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			if _, err := NewPublisher(nc, opts); err == nil {
				t.Error("NewPublisher accepted it")
			}
		})
	}
	if _, err := NewPublisher(nc, PublisherOptions{}); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}

// TestDeferAfterRetry: a job that arrived through a scheduled retry and
// is then deferred twice comes back each time.
func TestDeferAfterRetry(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	worker := p.worker(t)
	ctx := testenv.Context(t, 30*time.Second)
	job := testJobs(1, "defer")[0]
	job.Attempt = 2
	if err := p.pub.ScheduleRetry(ctx, job, time.Now()); err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		msg, err := worker.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("round %d: the job did not come back: %v", round, err)
		}
		got, err := wire.DecodeJob(msg.Data())
		if err != nil || got.DeliveryID != job.DeliveryID || got.Attempt != 2 {
			t.Fatalf("round %d: %+v %v", round, got, err)
		}
		if round < 2 {
			if err := p.pub.Defer(ctx, got, time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if err := msg.Ack(); err != nil {
			t.Fatal(err)
		}
	}
}
func TestHeaderSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTP 500", "HTTP 500"},
		{"line\r\nNats-Rollup: all", "line  Nats-Rollup: all"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("é", 600), strings.Repeat("é", 512)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.in), func(t *testing.T) {
			if got := headerSafe(tt.in, maxDeadReasonLen); got != tt.want {
				t.Errorf("headerSafe = %q, want %q", got, tt.want)
			}
		})
	}
}
