package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/wire"
)

// committer is group commit over JetStream: items handed to it while a
// round of messages is being stored wait, and leave together in the next
// round, so that one stored message (one fsync, with every write synced)
// covers many items. A round leaves at once when none is in flight, so
// there is no linger and a lone item goes out as fast as before; rounds
// grow only while the previous one waits for its fsync. Items with the
// same key share messages, of at most maxItems items and maxBytes bytes
// each; the messages of a round are stored concurrently. Each item's
// caller learns how its own message fared, so every promise is kept per
// item, never per message.
//
// A store that gets no answer within tryTimeout is tried again, until
// timeout: when a clustered stream's leader dies, a message sent to it
// just before is never answered, and the new leader, elected within
// seconds, takes only what is sent after. Waiting out the whole timeout
// held every item behind that round too (a dispatcher stalled 10 s in
// make chaos's nats-kill-one, though DELIVERIES had a leader again after
// five). A try that was stored but whose answer was lost is then stored
// twice: the jobs in it are delivered twice with the same webhook-id,
// which at-least-once allows; a schedule is stored under the same
// subject, which replaces it.
type committer struct {
	// store stores one message made of items, all with key, and returns
	// once it is stored (or could not be). id is the message's own, the
	// same on every try of it.
	store      func(ctx context.Context, key, id string, items [][]byte) error
	maxItems   int
	maxBytes   int
	timeout    time.Duration // of one message's store, all tries
	tryTimeout time.Duration // of one try; zero: defaultTryTimeout

	mu    sync.Mutex
	queue []*commitItem
	busy  bool // a round is in flight
}

type commitItem struct {
	key  string
	data []byte
	done chan error
}

// add hands data to the next round and waits until the message holding
// it is stored, or ctx ends (the item may then still be stored: callers
// treat that as a failure and try again, which at-least-once allows).
func (c *committer) add(ctx context.Context, key string, data []byte) error {
	it := &commitItem{key: key, data: data, done: make(chan error, 1)}
	c.enqueue(it)
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// addAll is add for several items with one key, all waited for; the
// first failure is returned.
func (c *committer) addAll(ctx context.Context, key string, data [][]byte) error {
	items := make([]*commitItem, len(data))
	for i, d := range data {
		items[i] = &commitItem{key: key, data: d, done: make(chan error, 1)}
	}
	c.enqueue(items...)
	var first error
	for _, it := range items {
		select {
		case err := <-it.done:
			if first == nil {
				first = err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return first
}

// enqueue queues items for the next round, starting one if none is in
// flight.
func (c *committer) enqueue(items ...*commitItem) {
	c.mu.Lock()
	c.queue = append(c.queue, items...)
	start := !c.busy
	var batch []*commitItem
	if start {
		c.busy = true
		batch, c.queue = c.queue, nil
	}
	c.mu.Unlock()
	if start {
		go c.run(batch)
	}
}

// run stores rounds until nothing is waiting.
func (c *committer) run(batch []*commitItem) {
	for {
		c.round(batch)
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, nil
		c.mu.Unlock()
	}
}

// round stores batch: one message per key and bound, all at once.
func (c *committer) round(batch []*commitItem) {
	var wg sync.WaitGroup
	for _, msg := range c.messages(batch) {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			data := make([][]byte, len(msg))
			for i, it := range msg {
				data[i] = it.data
			}
			err := c.tries(ctx, msg[0].key, wire.NewID(), data)
			for _, it := range msg {
				it.done <- err
			}
		})
	}
	wg.Wait()
}

// defaultTryTimeout is committer.tryTimeout's default: far above a
// store's time under load (milliseconds; an fsync stalled by a busy
// disk, hundreds), and below a Raft election's (4-9 s in nats-server).
const defaultTryTimeout = 2 * time.Second

// tries stores one message, trying again after a try that went
// unanswered or found no stream to answer, until ctx ends.
func (c *committer) tries(ctx context.Context, key, id string, data [][]byte) error {
	per := c.tryTimeout
	if per <= 0 {
		per = defaultTryTimeout
	}
	wait := 50 * time.Millisecond
	for {
		tctx, cancel := context.WithTimeout(ctx, per)
		err := c.store(tctx, key, id, data)
		cancel()
		if err == nil || !(unanswered(ctx, err) || electing(err)) {
			return err
		}
		if !sleep(ctx, wait) {
			return err
		}
		wait = min(2*wait, time.Second)
	}
}

// electing reports whether a publish found no server taking the
// stream's messages: its leader is being elected.
func electing(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// messages splits batch into messages: by key, in the order the items
// came, within the bounds.
func (c *committer) messages(batch []*commitItem) [][]*commitItem {
	var out [][]*commitItem
	open := map[string]int{} // key → index in out of its message being filled
	size := map[string]int{}
	for _, it := range batch {
		i, ok := open[it.key]
		if !ok || len(out[i]) >= c.maxItems || size[it.key]+len(it.data) > c.maxBytes {
			out = append(out, nil)
			i, size[it.key] = len(out)-1, 0
			open[it.key] = i
		}
		out[i] = append(out[i], it)
		size[it.key] += len(it.data) + 1
	}
	return out
}
