package clientkey

import (
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// entry is a cached key with its owner's role.
type entry struct {
	key     *fluxhook.ClientKey
	role    fluxhook.Role
	expires time.Time
}

// cache maps key hashes to keys. Entries expire after a TTL as a
// backstop; cachebus drops them at once when a key or its owner changes.
type cache struct {
	mu     sync.RWMutex
	byHash map[string]*entry
}

func newCache() *cache { return &cache{byHash: map[string]*entry{}} }

func (c *cache) get(hash string, now time.Time) (*entry, bool) {
	c.mu.RLock()
	e, ok := c.byHash[hash]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e, true
}

// expired returns the entry for hash even when it has expired.
func (c *cache) expired(hash string) (*entry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.byHash[hash]
	return e, ok
}

func (c *cache) put(hash string, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byHash) >= cacheMaxEntries {
		// Bounded memory: drop an arbitrary tenth; they reload on next use.
		n := 0
		for h := range c.byHash {
			delete(c.byHash, h)
			if n++; n >= cacheMaxEntries/10 {
				break
			}
		}
	}
	c.byHash[hash] = e
}

func (c *cache) dropWhere(match func(*entry) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.byHash {
		if match(e) {
			delete(c.byHash, h)
		}
	}
}

func (c *cache) dropKey(id string) { c.dropWhere(func(e *entry) bool { return e.key.ID == id }) }

func (c *cache) dropUser(id string) { c.dropWhere(func(e *entry) bool { return e.key.UserID == id }) }
