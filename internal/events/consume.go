package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	// consumeRetryWait paces re-creating the message iterator after it
	// failed, so a server that is down is not asked in a tight loop.
	consumeRetryWait = time.Second
	// consumeDrainWait bounds handing back the buffered messages at
	// shutdown; what is left is redelivered after AckWait anyway.
	consumeDrainWait = 2 * time.Second
	// consumePullExpiry is how long one pull request lasts; the server
	// sends heartbeats at half of it, and the client re-pulls after two
	// are missed. nats.go's default (30 s) means a pull request lost to a
	// hiccup stalls the handlers for half a minute; 5 s bounds that, at
	// the price of one pull request every 5 s on an idle consumer.
	consumePullExpiry = 5 * time.Second
	// consumeHeartbeat is how often the server tells a waiting pull
	// request it is alive; two missed, and the client re-pulls. nats.go
	// (v1.55) decides whether to ask for more only as messages are handed
	// out, and skips that while its previous pull request is still being
	// written out: on a busy connection the buffered messages can all be
	// handed out in the meantime, and it then waits with no pull request
	// at the server until a heartbeat is missed. With the default (half
	// the expiry) that was 5 s with nothing delivered and thousands of
	// jobs pending, seen in the benchmark; with 1 s it is 2 s at most. Not
	// shorter: a server that stalls for two heartbeats makes the client
	// re-pull while its first request is still open, and messages beyond
	// the iterator's buffer are dropped and come back after AckWait.
	consumeHeartbeat = time.Second
	// consumeNudge bounds that lost wake-up far more tightly: after each
	// message, the next one is waited for this long only, and then
	// asked for again. nats.go checks whether to pull at the start of
	// every wait, so a pull skipped while the previous one was still
	// being written out is made up for this much later. Only that first
	// wait is short: a second one waits as long as it takes, so the
	// missed-heartbeat watch (which restarts with every wait) still
	// catches a pull request the server lost.
	consumeNudge = 50 * time.Millisecond
)

// Consume takes messages from cons and runs handler on up to concurrency
// of them at a time, until ctx ends. It returns nil then, once every
// handler already running has returned; an error means consuming cannot
// go on (the consumer was deleted, the connection closed for good).
//
// The handler acks, naks or terms each message itself. It gets a context
// that carries ctx's values but is not cancelled with it, so that an
// attempt under way at shutdown can finish and record its result and its
// ack can land; the handler must bound its own work (every outbound call
// has a deadline anyway).
//
// The client buffers one message per handler ahead: a buffered message
// ages against AckWait before any handler sees it, so the buffer stays
// small. At shutdown the buffered messages are nak'ed, so another
// replica gets them at once rather than after AckWait.
//
// Losing the server is not an error: the connection reconnects by
// itself, and the iterator is re-created when it fails, so consuming
// resumes after a NATS restart. Messages that were in flight then come
// back after AckWait, which at-least-once delivery allows.
func Consume(ctx context.Context, cons jetstream.Consumer, concurrency int, handler func(ctx context.Context, msg jetstream.Msg)) error {
	if concurrency < 1 {
		return fmt.Errorf("consume: concurrency %d: at least 1 handler is needed", concurrency)
	}
	// Handing over on an unbuffered channel keeps only the client's
	// buffer between the server and the handlers.
	work := make(chan jetstream.Msg)
	hctx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for msg := range work {
				handler(hctx, msg)
			}
		})
	}
	err := pull(ctx, cons, concurrency, work)
	close(work)
	wg.Wait()
	return err
}

// pull feeds work from one iterator after another until ctx ends or an
// error that re-creating the iterator cannot fix.
func pull(ctx context.Context, cons jetstream.Consumer, buffer int, work chan<- jetstream.Msg) error {
	for {
		iter, err := cons.Messages(jetstream.PullMaxMessages(buffer), jetstream.PullExpiry(consumePullExpiry), jetstream.PullHeartbeat(consumeHeartbeat))
		if err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		err = feed(ctx, iter, work)
		if ctx.Err() != nil {
			handBack(iter)
			return nil
		}
		// What the failed iterator still holds goes back at once rather
		// than after AckWait.
		handBack(iter)
		if permanentConsumeError(err) {
			return fmt.Errorf("consume: %w", err)
		}
		if !sleep(ctx, consumeRetryWait) {
			return nil
		}
	}
}

// feed hands messages from iter to the handlers until ctx ends or the
// iterator fails.
func feed(ctx context.Context, iter jetstream.MessagesContext, work chan<- jetstream.Msg) error {
	nudge := true // one short wait after each message
	for {
		var (
			msg jetstream.Msg
			err error
		)
		if nudge {
			msg, err = iter.Next(jetstream.NextMaxWait(consumeNudge))
			if errors.Is(err, nats.ErrTimeout) {
				nudge = false
				continue
			}
		} else {
			msg, err = iter.Next(jetstream.NextContext(ctx))
		}
		if err != nil {
			// The iterator has already reset its pull and asks again
			// when it sees no heartbeat: nothing for us to re-create.
			if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
				continue
			}
			return err
		}
		nudge = true
		select {
		case work <- msg:
		case <-ctx.Done():
			_ = msg.Nak()
			return ctx.Err()
		}
	}
}

// handBack stops fetching and naks the messages already buffered, for
// another consumer to take without waiting for AckWait.
func handBack(iter jetstream.MessagesContext) {
	iter.Drain()
	deadline := time.Now().Add(consumeDrainWait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			iter.Stop()
			return
		}
		msg, err := iter.Next(jetstream.NextMaxWait(left))
		if errors.Is(err, jetstream.ErrNoHeartbeat) {
			// A drained iterator's pull requests are gone, so no
			// heartbeat comes; the buffered messages still do.
			continue
		}
		if err != nil {
			iter.Stop()
			return
		}
		// A failed nak only means the message comes back after AckWait.
		_ = msg.Nak()
	}
}

func permanentConsumeError(err error) bool {
	return errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrBadRequest) ||
		errors.Is(err, jetstream.ErrConnectionClosed)
}
