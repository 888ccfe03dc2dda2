package events

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// pipeline is a connection to a test server with Fluxhook's streams and
// consumers in place.
type pipeline struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	pub *Publisher
}

// newPipeline connects to the server at url and ensures the streams and
// consumers, with cc for the consumers.
func newPipeline(tb testing.TB, url string, cc ConsumersConfig) *pipeline {
	tb.Helper()
	ctx := testenv.Context(tb, 10*time.Second)
	nc, err := Connect(ctx, url, "fluxhook-test", nil)
	if err != nil {
		tb.Fatalf("Connect: %v", err)
	}
	tb.Cleanup(nc.Close)
	return pipelineOn(tb, nc, cc)
}

func pipelineOn(tb testing.TB, nc *nats.Conn, cc ConsumersConfig) *pipeline {
	tb.Helper()
	ctx := testenv.Context(tb, 10*time.Second)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		tb.Fatalf("EnsureStreams: %v", err)
	}
	if err := EnsureConsumers(ctx, js, cc); err != nil {
		tb.Fatalf("EnsureConsumers: %v", err)
	}
	pub, err := NewPublisher(nc, PublisherOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return &pipeline{nc: nc, js: js, pub: pub}
}

func (p *pipeline) worker(tb testing.TB) jetstream.Consumer {
	tb.Helper()
	c, err := p.js.Consumer(testenv.Context(tb, 5*time.Second), StreamDeliveries, ConsumerWorker)
	if err != nil {
		tb.Fatalf("worker consumer: %v", err)
	}
	return c
}

func (p *pipeline) streamMsgs(tb testing.TB, name string) uint64 {
	tb.Helper()
	s, err := p.js.Stream(testenv.Context(tb, 5*time.Second), name)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(testenv.Context(tb, 5*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Msgs
}

// testJobs returns n first-attempt jobs of distinct deliveries spread
// over 50 webhooks, with delivery ids prefix0000001 and up.
func testJobs(n int, prefix string) []wire.Job {
	jobs := make([]wire.Job, n)
	for i := range jobs {
		eventID := fmt.Sprintf("%s-evt-%d", prefix, i/50)
		webhookID := fmt.Sprintf("0190b5f2-7c1e-7000-8000-%012d", i%50)
		jobs[i] = wire.Job{
			DeliveryID: fmt.Sprintf("%s%07d", prefix, i+1),
			EventID:    eventID,
			Event:      "user.created",
			WebhookID:  webhookID,
			Attempt:    1,
			Payload:    json.RawMessage(fmt.Sprintf(`{"id":%q,"event":"user.created","data":{"n":%d}}`, eventID, i)),
		}
	}
	return jobs
}

// runConsume runs Consume in the background; the returned function
// cancels it and returns its error, failing the test if it does not
// return within 10 seconds.
func runConsume(tb testing.TB, cons jetstream.Consumer, concurrency int, handler func(context.Context, jetstream.Msg)) (stop func() error, done <-chan struct{}) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		errc <- Consume(ctx, cons, concurrency, handler)
		close(finished)
	}()
	stopped := false
	var err error
	stop = func() error {
		if stopped {
			return err
		}
		stopped = true
		cancel()
		select {
		case err = <-errc:
		case <-time.After(10 * time.Second):
			tb.Fatal("Consume did not return within 10s of its context ending")
		}
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop, finished
}

// waitFor polls cond until it holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// publishEach stores each job as a message of its own (a pack of one),
// for tests about consuming messages rather than packing them.
func (p *pipeline) publishEach(ctx context.Context, jobs []wire.Job) error {
	for _, j := range jobs {
		if err := p.pub.PublishJobs(ctx, []wire.Job{j}); err != nil {
			return err
		}
	}
	return nil
}
