package events

import (
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPublishKeyedSurvivesRestart: an event accepted with an idempotency
// key is a duplicate when it comes again after it was dispatched (the
// work queue dropped it) and the server restarted (its in-memory
// duplicate window is gone), and for a second publisher: the record is
// in the server's storage. Another id is not a duplicate.
func TestPublishKeyedSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	p, stop := embeddedPipeline(t, dir)
	ctx := testenv.Context(t, 20*time.Second)
	e := testEvent("0190b5f2-7c1e-7000-8000-00000000abcd")
	if dup, err := p.pub.PublishKeyed(ctx, e); err != nil || dup {
		t.Fatalf("first publish: duplicate %v, %v", dup, err)
	}
	// The dispatcher takes and acks it (EVENTS keeps it for replays).
	cons, err := p.js.Consumer(ctx, StreamEvents, ConsumerDispatcher)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}

	// The whole server restarts on the same storage.
	stop()
	p2, _ := embeddedPipeline(t, dir)
	if dup, err := p2.pub.PublishKeyed(ctx, e); err != nil || !dup {
		t.Fatalf("repeat after the restart: duplicate %v, %v; want true", dup, err)
	}
	// A second publisher (another api replica) sees the same record.
	other, err := NewPublisher(p2.nc, PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := other.PublishKeyed(ctx, e); err != nil || !dup {
		t.Fatalf("repeat on another publisher: duplicate %v, %v; want true", dup, err)
	}
	if dup, err := other.PublishKeyed(ctx, testEvent("0190b5f2-7c1e-7000-8000-00000000abce")); err != nil || dup {
		t.Fatalf("another id: duplicate %v, %v; want false", dup, err)
	}
	if n := p2.streamMsgs(t, StreamEvents); n != 2 {
		t.Fatalf("EVENTS holds %d messages after the repeats, want the first event and the new id's", n)
	}
}

// embeddedPipeline starts an embedded server storing in dir, with the
// streams and consumers; stop shuts it down (the test's end does too).
func embeddedPipeline(t *testing.T, dir string) (*pipeline, func()) {
	t.Helper()
	s, err := StartEmbedded(EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ConnectEmbedded(s, "fluxhook-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { nc.Close(); s.Shutdown(); s.WaitForShutdown() })
	t.Cleanup(stop)
	return pipelineOn(t, nc, ConsumersConfig{}), stop
}
