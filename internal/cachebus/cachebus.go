// Package cachebus tells every replica that cached state changed: a
// revoked client key, an edited webhook, an ended session. Each process caches what it
// reads on the hot path; a change published here drops the cached copy
// everywhere at once. Messages go over core NATS (fire and forget): a
// replica that misses one still expires its entry by TTL.
package cachebus

import (
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// Kinds of cached things.
const (
	ClientKey = "clientkey" // id: the key's id
	User      = "user"      // id: a user whose role or existence changed
	Webhook   = "webhook"   // id: a webhook that changed
	// WebhookHealth: only a webhook's failure bookkeeping changed, which
	// the workers' caches need and the dispatchers' subscriptions do not.
	WebhookHealth = "webhook-health"
	// Session: a session ended (id: the session id); its access tokens
	// stop working on every replica at once.
	Session = "session"
	// Circuit: a worker opened or closed a webhook's circuit (id:
	// dispatch.CircuitMessage); the dispatchers park its new jobs while
	// it is open. Not an invalidation, but the same fire-and-forget news.
	Circuit = "circuit"
)

const subjectPrefix = "fluxhook.invalidate."

// Bus publishes and delivers invalidations.
type Bus interface {
	// Publish announces that the thing of kind with id changed.
	Publish(kind, id string)
	// Subscribe calls fn for every invalidation of kind, including this
	// process's own.
	Subscribe(kind string, fn func(id string))
}

// NATS is a Bus over a NATS connection.
type NATS struct {
	nc *nats.Conn
	mu sync.Mutex
	fn map[string][]func(string)
}

// NewNATS returns a Bus on nc and subscribes to all invalidations.
func NewNATS(nc *nats.Conn) (*NATS, error) {
	b := &NATS{nc: nc, fn: map[string][]func(string){}}
	_, err := nc.Subscribe(subjectPrefix+">", func(m *nats.Msg) {
		b.deliver(strings.TrimPrefix(m.Subject, subjectPrefix), string(m.Data))
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Publish announces a change. A failure to publish is not returned: the
// change is committed already, and TTLs bound the staleness.
func (b *NATS) Publish(kind, id string) {
	b.deliver(kind, id) // at once here, not after a round trip
	_ = b.nc.Publish(subjectPrefix+kind, []byte(id))
}

// Subscribe registers fn for kind.
func (b *NATS) Subscribe(kind string, fn func(id string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fn[kind] = append(b.fn[kind], fn)
}

func (b *NATS) deliver(kind, id string) {
	b.mu.Lock()
	fns := b.fn[kind]
	b.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
}

// Local is a Bus within one process, for tests.
type Local struct {
	mu sync.Mutex
	fn map[string][]func(string)
}

// Publish delivers the change to this process's subscribers.
func (b *Local) Publish(kind, id string) {
	b.mu.Lock()
	fns := b.fn[kind]
	b.mu.Unlock()
	for _, fn := range fns {
		fn(id)
	}
}

// Subscribe registers fn for kind.
func (b *Local) Subscribe(kind string, fn func(id string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fn == nil {
		b.fn = map[string][]func(string){}
	}
	b.fn[kind] = append(b.fn[kind], fn)
}
