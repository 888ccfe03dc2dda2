package account

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxhook/fluxhook/internal/store"
)

// DefaultSessionResync is how often a replica re-reads the ended sessions
// from the database, in case it missed an announcement on the bus (core
// NATS drops messages while a connection is down): the longest a missed
// sign-out can go unnoticed.
const DefaultSessionResync = 5 * time.Second

// resyncOverlap widens each re-read backwards, so that a session recorded
// with a time just before the previous read but committed after it (or
// stamped by a replica whose clock is behind) is not missed.
const resyncOverlap = time.Minute

// endedSessions is this replica's copy of the sessions that ended while
// their access tokens could still be presented. Checking a token is a map
// lookup: the database is read once when the first token is checked, then
// in the background every resync interval, and announcements on the bus
// add sessions as they end anywhere.
type endedSessions struct {
	db       *store.DB
	now      func() time.Time
	lifetime time.Duration // how long a session's access tokens last
	resync   time.Duration
	logger   *slog.Logger

	mu  sync.RWMutex
	ids map[string]time.Time // session id → when its last token expires

	loadMu   sync.Mutex   // held by the first load, which checks wait for
	loaded   atomic.Bool  // the first load succeeded
	syncedAt atomic.Int64 // unix nanoseconds: the start of the last successful read
	syncing  atomic.Bool  // a background re-read is running
}

func newEndedSessions(db *store.DB, now func() time.Time, lifetime, resync time.Duration, logger *slog.Logger) *endedSessions {
	return &endedSessions{db: db, now: now, lifetime: lifetime, resync: resync, logger: logger, ids: map[string]time.Time{}}
}

// ended reports whether session id has ended. Only the first call (and
// calls made while it runs) waits for the database.
func (e *endedSessions) ended(ctx context.Context, id string) (bool, error) {
	if !e.loaded.Load() {
		if err := e.load(ctx); err != nil {
			return false, err
		}
	}
	now := e.now()
	if now.Sub(time.Unix(0, e.syncedAt.Load())) >= e.resync && e.syncing.CompareAndSwap(false, true) {
		go e.reread()
	}
	e.mu.RLock()
	until, ok := e.ids[id]
	e.mu.RUnlock()
	return ok && now.Before(until), nil
}

// load reads every ended session, once.
func (e *endedSessions) load(ctx context.Context) error {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()
	if e.loaded.Load() {
		return nil
	}
	if err := e.read(ctx, time.Time{}); err != nil {
		return err
	}
	e.loaded.Store(true)
	return nil
}

// reread reads the sessions ended since the last read, off the request
// path; a failure is retried at the next check after the interval.
func (e *endedSessions) reread() {
	defer e.syncing.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	since := time.Unix(0, e.syncedAt.Load()).Add(-resyncOverlap)
	if err := e.read(ctx, since); err != nil && e.logger != nil {
		e.logger.Warn("re-reading ended sessions failed; sessions ended on other replicas are known from their announcements only", "err", err)
	}
}

func (e *endedSessions) read(ctx context.Context, since time.Time) error {
	start := e.now()
	list, err := e.db.EndedSessions(ctx, since, start)
	if err != nil {
		return err
	}
	e.mu.Lock()
	for _, s := range list {
		e.ids[s.ID] = s.Until
	}
	for id, until := range e.ids {
		if !start.Before(until) {
			delete(e.ids, id) // its tokens have expired: nothing left to refuse
		}
	}
	e.mu.Unlock()
	e.syncedAt.Store(start.UnixNano())
	return nil
}

// add records sessions that ended just now, here or on another replica.
func (e *endedSessions) add(ids ...string) {
	until := e.now().Add(e.lifetime)
	e.mu.Lock()
	for _, id := range ids {
		if until.After(e.ids[id]) {
			e.ids[id] = until
		}
	}
	e.mu.Unlock()
}
