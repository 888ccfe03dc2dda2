package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// Source is where the cache reads webhooks and writes their health
// (webhooks.Service), so that every write announces itself to the other
// replicas' caches.
type Source interface {
	Load(ctx context.Context, id string) (*fluxhook.Webhook, webhooks.Keys, error)
	MarkFailing(ctx context.Context, id string, t *time.Time) error
	Disable(ctx context.Context, id, reason string) error
}

// HookCache serves webhooks with their decrypted secrets from memory.
// Entries expire after a minute as a backstop; a change on any replica
// marks them stale at once (cachebus). A stale entry is read again from
// the database. While the database is unavailable, an entry that only
// expired, or whose failure bookkeeping changed, is served as it is, so
// deliveries go on through a database restart; one whose webhook or user
// changed is not (it may be disabled or deleted), and its jobs wait.
type HookCache struct {
	src   Source
	now   func() time.Time
	ttl   time.Duration
	mu    sync.RWMutex
	byID  map[string]hookEntry
	gen   uint64 // bumped when every entry changed (a user did)
	drops uint64 // bumped on every invalidation, to catch one racing a load
}

type hookEntry struct {
	hook    *fluxhook.Webhook
	keys    webhooks.Keys
	expires time.Time // the zero time: marked stale
	gen     uint64    // c.gen when loaded: older means changed
	changed bool      // the webhook changed since it was loaded
}

// LoadTimeout bounds reading a webhook from the database: a database
// that hangs must not hold deliveries for longer.
const LoadTimeout = 5 * time.Second

// staleHold is how long a copy served because the database did not
// answer is served again before the next attempt to read it.
const staleHold = 10 * time.Second

// maxCachedHooks bounds the cache; past it the cache starts over.
const maxCachedHooks = 100_000

// NewHookCache returns a cache that drops entries when bus announces a
// change to a webhook; now is its clock (nil: time.Now).
func NewHookCache(src Source, bus cachebus.Bus, now func() time.Time) *HookCache {
	if now == nil {
		now = time.Now
	}
	c := &HookCache{src: src, now: now, ttl: time.Minute, byID: map[string]hookEntry{}}
	bus.Subscribe(cachebus.Webhook, func(id string) { c.invalidate(id, true) })
	bus.Subscribe(cachebus.WebhookHealth, func(id string) { c.invalidate(id, false) })
	bus.Subscribe(cachebus.User, func(string) { c.dropAll() })
	return c
}

func (c *HookCache) invalidate(id string, changed bool) {
	c.mu.Lock()
	c.drops++
	if e, ok := c.byID[id]; ok {
		e.expires = time.Time{}
		e.changed = e.changed || changed
		c.byID[id] = e
	}
	c.mu.Unlock()
}

func (c *HookCache) dropAll() {
	c.mu.Lock()
	c.drops++
	c.gen++
	c.mu.Unlock()
}

// Get returns a webhook and the secrets a delivery made now is signed
// with (current first).
func (c *HookCache) Get(ctx context.Context, id string) (*fluxhook.Webhook, []string, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.byID[id]
	gen, drops := c.gen, c.drops
	c.mu.RUnlock()
	if ok && e.gen == gen && now.Before(e.expires) {
		return e.hook, e.keys.At(now), nil
	}
	// A database that hangs must not hold the delivery for long.
	lctx, cancel := context.WithTimeout(ctx, LoadTimeout)
	w, keys, err := c.src.Load(lctx, id)
	cancel()
	if err != nil {
		if ok && !fluxhook.IsNotFound(err) && c.serveStale(id, e, now) {
			return e.hook, e.keys.At(now), nil
		}
		if fluxhook.IsNotFound(err) {
			c.mu.Lock()
			delete(c.byID, id)
			c.mu.Unlock()
		}
		return nil, nil, err
	}
	entry := hookEntry{hook: w, keys: keys, expires: now.Add(c.ttl), gen: gen}
	c.mu.Lock()
	if c.drops != drops {
		// An invalidation arrived while we read: what we read may predate
		// it. Serve it this once; the next Get reads again, and does not
		// fall back on it.
		entry.expires, entry.gen, entry.changed = time.Time{}, c.gen, true
	}
	if len(c.byID) >= maxCachedHooks {
		c.byID = map[string]hookEntry{}
	}
	c.byID[id] = entry
	c.mu.Unlock()
	return w, keys.At(now), nil
}

// serveStale decides, after a failed read, whether the copy e (read
// before the failure) may be served: only if nothing announced a change
// to the webhook or its user since it was loaded, checked now rather
// than before the read, which may have taken the load timeout. A served
// copy is kept for staleHold without asking the database again: one that
// hangs would otherwise hold every delivery to the webhook for the load
// timeout.
func (c *HookCache) serveStale(id string, e hookEntry, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, found := c.byID[id]
	if !found || cur.hook != e.hook || cur.gen != c.gen || cur.changed {
		return false
	}
	// Whatever was announced meanwhile about this webhook shows in cur:
	// a change makes it unservable above, a health change leaves it
	// servable, as it is.
	cur.expires = now.Add(staleHold)
	c.byID[id] = cur
	return true
}

// MarkFailing records the start (or, with nil, the end) of a run of failures.
func (c *HookCache) MarkFailing(ctx context.Context, id string, t *time.Time) error {
	return c.src.MarkFailing(ctx, id, t)
}

// Disable turns a webhook off.
func (c *HookCache) Disable(ctx context.Context, id, reason string) error {
	return c.src.Disable(ctx, id, reason)
}
