package delivery

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// keeper tells JetStream, for every message registered with it, that
// the message is still being worked on, every third of the ack wait, so
// that a slow endpoint or a database restart that outlasts the ack wait
// does not send a live worker's job to another worker. One goroutine and
// one ticker serve all of a worker's messages; it runs while messages
// are registered.
type keeper struct {
	every time.Duration // a third of the ack wait

	mu      sync.Mutex
	msgs    map[jetstream.Msg]struct{}
	running bool
}

// keep registers msg until the returned func is called.
func (k *keeper) keep(msg jetstream.Msg) (stop func()) {
	k.mu.Lock()
	if k.msgs == nil {
		k.msgs = map[jetstream.Msg]struct{}{}
	}
	k.msgs[msg] = struct{}{}
	if !k.running {
		k.running = true
		go k.run()
	}
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		delete(k.msgs, msg)
		k.mu.Unlock()
	}
}

// run refreshes every registered message at each tick, so none goes a
// third of the ack wait without (one registered just before a tick is
// refreshed early, which costs a message, not a redelivery).
func (k *keeper) run() {
	t := time.NewTicker(k.every)
	defer t.Stop()
	var due []jetstream.Msg
	for range t.C {
		k.mu.Lock()
		if len(k.msgs) == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		due = due[:0]
		for m := range k.msgs {
			due = append(due, m)
		}
		k.mu.Unlock()
		for _, m := range due {
			_ = m.InProgress()
		}
		clear(due) // no reference kept to messages until the next tick
	}
}
