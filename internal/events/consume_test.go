package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

func TestConsumeRunsHandlersInParallel(t *testing.T) {
	for _, concurrency := range []int{1, 4, 16} {
		t.Run(fmt.Sprint(concurrency), func(t *testing.T) {
			t.Parallel()
			p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
			ctx := testenv.Context(t, 30*time.Second)
			n := 3 * concurrency
			if err := p.publishEach(ctx, testJobs(n, "par")); err != nil {
				t.Fatal(err)
			}

			var running, maxRunning, handled atomic.Int64
			stop, _ := runConsume(t, p.worker(t), concurrency, func(ctx context.Context, msg jetstream.Msg) {
				now := running.Add(1)
				for {
					m := maxRunning.Load()
					if now <= m || maxRunning.CompareAndSwap(m, now) {
						break
					}
				}
				time.Sleep(150 * time.Millisecond)
				running.Add(-1)
				if err := msg.DoubleAck(ctx); err != nil {
					t.Errorf("ack: %v", err)
				}
				handled.Add(1)
			})
			waitFor(t, 20*time.Second, "every job handled", func() bool { return handled.Load() == int64(n) })
			if err := stop(); err != nil {
				t.Errorf("Consume: %v", err)
			}
			if got := maxRunning.Load(); got != int64(concurrency) {
				t.Errorf("at most %d handlers ran at once, want %d", got, concurrency)
			}
		})
	}
}

func TestConsumeDrainsOnCancel(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 30*time.Second)
	const concurrency, n = 4, 20
	if err := p.publishEach(ctx, testJobs(n, "drain")); err != nil {
		t.Fatal(err)
	}

	started := make(chan struct{}, n)
	release := make(chan struct{})
	var mu sync.Mutex
	var acked []string
	var ackErrs []error
	stop, done := runConsume(t, p.worker(t), concurrency, func(hctx context.Context, msg jetstream.Msg) {
		started <- struct{}{}
		<-release
		// The attempt in progress finishes with a live context.
		err := msg.DoubleAck(hctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			ackErrs = append(ackErrs, err)
			return
		}
		acked = append(acked, msg.Headers().Get(jetstream.MsgIDHeader))
	})
	for range concurrency {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("handlers did not start")
		}
	}

	// The hand-back is what is tested: wait until the client holds
	// messages beyond the ones the handlers took.
	waitFor(t, 10*time.Second, "messages buffered beyond the handlers' own", func() bool {
		info, err := p.worker(t).Info(ctx)
		return err == nil && info.Delivered.Consumer > concurrency+1
	})
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case <-done:
		t.Fatal("Consume returned while handlers were still running")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Consume: %v", err)
	}

	mu.Lock()
	if len(ackErrs) > 0 {
		t.Errorf("acks of in-flight handlers failed: %v", ackErrs)
	}
	if len(acked) != concurrency {
		t.Errorf("%d handlers completed, want the %d in flight and no new ones after the cancel", len(acked), concurrency)
	}
	mu.Unlock()
	if got := p.streamMsgs(t, StreamDeliveries); got != n-concurrency {
		t.Errorf("DELIVERIES holds %d messages, want %d: the in-flight acks did not land", got, n-concurrency)
	}
	// The buffered messages were nak'ed, not left to the 60 s AckWait: a
	// new Consume gets every remaining job at once. (NumAckPending is no
	// measure of the hand-back: the server counts a nak'ed message as
	// pending until it is delivered again.)
	start := time.Now()
	var rest atomic.Int64
	runConsume(t, p.worker(t), concurrency, func(ctx context.Context, msg jetstream.Msg) {
		if err := msg.DoubleAck(ctx); err == nil {
			rest.Add(1)
		}
	})
	waitFor(t, 20*time.Second, "the remaining jobs handled by a new Consume", func() bool { return rest.Load() == n-concurrency })
	t.Logf("the remaining %d jobs handled %v after the new Consume started", n-concurrency, time.Since(start).Round(time.Millisecond))
}

func TestConsumeRefusesNoHandlers(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	for _, c := range []int{0, -1} {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			err := Consume(context.Background(), p.worker(t), c, func(context.Context, jetstream.Msg) {})
			if err == nil {
				t.Error("Consume accepted it")
			}
		})
	}
}

func TestConsumeReturnsWhenConsumerDeleted(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{})
	ctx := testenv.Context(t, 10*time.Second)
	_, done := runConsume(t, p.worker(t), 2, func(context.Context, jetstream.Msg) {})
	// The deletion must find the pull request waiting at the server.
	waitFor(t, 10*time.Second, "the pull request to reach the server", func() bool {
		info, err := p.worker(t).Info(ctx)
		return err == nil && info.NumWaiting > 0
	})
	if err := p.js.DeleteConsumer(ctx, StreamDeliveries, ConsumerWorker); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Consume went on after its consumer was deleted")
	}
}

// TestConsumeSurvivesServerRestart is the worker's view of a NATS
// restart: one Consume call, running throughout, handles every job
// published before and after the restart.
func TestConsumeSurvivesServerRestart(t *testing.T) {
	opts := &server.Options{
		ServerName: "restart-test",
		Host:       "127.0.0.1",
		Port:       freePort(t),
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}
	s := startServer(t, opts)
	// A short AckWait brings back quickly the jobs whose acks the
	// restart lost.
	p := newPipeline(t, s.ClientURL(), ConsumersConfig{WorkerAckWait: 3 * time.Second})
	ctx := testenv.Context(t, 90*time.Second)

	const half = 300
	before, after := testJobs(half, "before"), testJobs(half, "after")
	if err := p.publishEach(ctx, before); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seen := make(map[string]int)
	distinct := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	_, done := runConsume(t, p.worker(t), 8, func(ctx context.Context, msg jetstream.Msg) {
		j, err := wire.DecodeJob(msg.Data())
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		time.Sleep(20 * time.Millisecond) // an attempt takes a while
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		// An ack lost to the restart is fine: the job comes back.
		if msg.DoubleAck(actx) == nil {
			mu.Lock()
			seen[j.DeliveryID]++
			mu.Unlock()
		}
	})

	waitFor(t, 20*time.Second, "some jobs handled", func() bool { return distinct() >= 50 })
	s.Shutdown()
	s.WaitForShutdown()
	if n := distinct(); n >= half {
		t.Fatalf("all %d jobs were handled before the restart; the test proves nothing", n)
	}
	t.Logf("%d of %d jobs handled before the restart", distinct(), half)
	startServer(t, opts)

	// Publishing waits out the reconnect, as the dispatcher would by
	// nak'ing its event and trying again.
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := p.publishEach(pctx, after)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("publishing after the restart: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	waitFor(t, 60*time.Second, "every job handled", func() bool { return distinct() == 2*half })
	select {
	case <-done:
		t.Fatal("Consume returned during the test")
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	for _, j := range append(before, after...) {
		if seen[j.DeliveryID] == 0 {
			t.Errorf("job %s never handled", j.DeliveryID)
		}
	}
}

// failingConsumer hands out iterators that fail after a few messages,
// which a real server does not do on demand: Consume must re-create the
// iterator and carry on.
type failingConsumer struct {
	jetstream.Consumer
	after   int
	created atomic.Int64
}

func (c *failingConsumer) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	c.created.Add(1)
	it, err := c.Consumer.Messages(opts...)
	if err != nil {
		return nil, err
	}
	return &failingIterator{MessagesContext: it, left: c.after}, nil
}

type failingIterator struct {
	jetstream.MessagesContext
	left int
}

func (it *failingIterator) Next(opts ...jetstream.NextOpt) (jetstream.Msg, error) {
	if it.left == 0 {
		return nil, errors.New("iterator broke")
	}
	it.left--
	return it.MessagesContext.Next(opts...)
}

func TestConsumeRecreatesFailedIterator(t *testing.T) {
	p := newPipeline(t, testenv.NATS(t).ClientURL(), ConsumersConfig{WorkerAckWait: 2 * time.Second})
	ctx := testenv.Context(t, 30*time.Second)
	const n = 12
	if err := p.publishEach(ctx, testJobs(n, "fail")); err != nil {
		t.Fatal(err)
	}
	cons := &failingConsumer{Consumer: p.worker(t), after: 5}
	var mu sync.Mutex
	seen := make(map[string]bool)
	_, done := runConsume(t, cons, 2, func(ctx context.Context, msg jetstream.Msg) {
		if msg.DoubleAck(ctx) == nil {
			mu.Lock()
			seen[string(msg.Data())] = true
			mu.Unlock()
		}
	})
	waitFor(t, 20*time.Second, "every job handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	select {
	case <-done:
		t.Fatal("Consume returned after an iterator failed")
	default:
	}
	if got := cons.created.Load(); got < 3 {
		t.Errorf("%d iterators made for %d jobs failing every 5", got, n)
	}
}
