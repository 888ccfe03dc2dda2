// Package dispatch fans each event out to one delivery job per
// subscribed webhook. Subscriptions are cached in memory, indexed by
// event name, and reloaded whenever a webhook or user changes on any
// replica (cachebus), so matching an event costs no database round trip.
package dispatch

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluxhook/fluxhook/internal/filter"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Source loads the active webhooks with their owners' roles.
type Source interface {
	ActiveWebhooks(ctx context.Context) ([]store.ActiveWebhook, error)
}

// sub is one active webhook as the matcher needs it.
type sub struct {
	id     string
	userID string
	// all: the owner is a dashboard user, who receives every event;
	// otherwise only events that concern the owner.
	all bool
	// filter is the webhook's compiled filter (nil: none); filterErr is
	// why a stored filter did not compile, which then matches nothing.
	filter    *filter.Program
	filterErr error
	// ordered: the webhook's ordering is fifo; its jobs go to the
	// ordered lane (package ordered).
	ordered bool
}

// programs caches compiled filters by their text, from one load to the
// next: a reload compiles only the filters that changed, and webhooks
// with the same filter share one program.
type programs map[string]*compiled

type compiled struct {
	prg *filter.Program
	err error
}

// compile returns the program for src, compiling it only if the last
// load did not; next collects what this load uses, to be the next cache.
func (p programs) compile(src string, next programs) (*filter.Program, error) {
	c, ok := p[src]
	if !ok {
		c = &compiled{}
		c.prg, c.err = filter.Compile(src)
	}
	next[src] = c
	return c.prg, c.err
}

// bucket holds the webhooks under one pattern, split by who may see
// what: dashboard webhooks receive every event, users' webhooks only the
// events that concern their owner, so matching never scans other users'.
type bucket struct {
	all    []*sub
	byUser map[string][]*sub
}

func (b *bucket) add(s *sub) {
	if s.all {
		b.all = append(b.all, s)
		return
	}
	if b.byUser == nil {
		b.byUser = map[string][]*sub{}
	}
	b.byUser[s.userID] = append(b.byUser[s.userID], s)
}

// index finds the webhooks subscribed to an event name.
type index struct {
	exact    map[string]*bucket // "user.created"
	prefix   map[string]*bucket // "user." for "user.*"
	wildcard bucket             // "*"
	size     int
}

func getBucket(m map[string]*bucket, k string) *bucket {
	b := m[k]
	if b == nil {
		b = &bucket{}
		m[k] = b
	}
	return b
}

// buildIndex indexes hooks, taking compiled filters from cache; it
// returns the filters it used, the cache for the next load.
func buildIndex(hooks []store.ActiveWebhook, cache programs) (*index, programs) {
	ix := &index{exact: map[string]*bucket{}, prefix: map[string]*bucket{}, size: len(hooks)}
	next := programs{}
	for _, h := range hooks {
		s := &sub{id: h.ID, userID: h.UserID, all: h.OwnerRole.Dashboard(), ordered: h.Ordering == fluxhook.OrderingFIFO}
		if h.Filter != nil {
			s.filter, s.filterErr = cache.compile(*h.Filter, next)
		}
		seen := map[string]bool{}
		for _, p := range h.Events {
			if seen[p] {
				continue
			}
			seen[p] = true
			switch {
			case p == "*":
				ix.wildcard.add(s)
			case strings.HasSuffix(p, ".*"):
				getBucket(ix.prefix, strings.TrimSuffix(p, "*")).add(s)
			default:
				getBucket(ix.exact, p).add(s)
			}
		}
	}
	return ix, next
}

// keep returns the subs whose filter accepts e, decoding e's data only
// when one of them has a filter. A filter that fails to evaluate (a
// missing field, a type mismatch, the cost limit) does not match; failed
// is called for it, and the other webhooks are not affected.
func keep(subs []*sub, e *fluxhook.Event, failed func(s *sub, err error)) []*sub {
	var in *filter.Input
	out := subs[:0]
	for _, s := range subs {
		if s.filter == nil && s.filterErr == nil {
			out = append(out, s)
			continue
		}
		err := s.filterErr
		if err == nil {
			if in == nil {
				in = filter.NewInput(e)
			}
			var ok bool
			if ok, err = s.filter.Match(in); ok {
				out = append(out, s)
				continue
			}
		}
		if err != nil && failed != nil {
			failed(s, err)
		}
	}
	return out
}

// match returns the webhooks that receive e: subscribed to its name and
// allowed to see it. No webhook ever receives another tenant's data: a
// user's webhook gets only events that concern that user.
func (ix *index) match(e *fluxhook.Event) []*sub {
	var out []*sub
	var seen map[string]bool
	addList := func(list []*sub) {
		for _, s := range list {
			if seen == nil {
				seen = map[string]bool{}
			}
			if !seen[s.id] {
				seen[s.id] = true
				out = append(out, s)
			}
		}
	}
	add := func(b *bucket) {
		if b == nil {
			return
		}
		addList(b.all)
		if e.UserID != "" {
			addList(b.byUser[e.UserID])
		}
	}
	add(ix.exact[e.Event])
	for i := 0; i < len(e.Event); i++ {
		if e.Event[i] == '.' {
			add(ix.prefix[e.Event[:i+1]])
		}
	}
	add(&ix.wildcard)
	return out
}

// Subscriptions is the cached, indexed set of active webhooks.
type Subscriptions struct {
	src     Source
	current atomic.Pointer[index]
	dirty   chan struct{}
	every   time.Duration
	mu      sync.Mutex
	loaded  chan struct{}
	// requested counts invalidations; loadedGen is the count a load saw
	// before it read the webhooks. While requested is ahead, the cache
	// may miss a change that was committed before the event at hand.
	requested atomic.Uint64
	loadedGen atomic.Uint64
	programs  programs // guarded by mu
}

// NewSubscriptions returns a cache over src. Call Invalidate when a
// webhook or user changes, and run Run to keep it fresh.
func NewSubscriptions(src Source) *Subscriptions {
	return &Subscriptions{src: src, dirty: make(chan struct{}, 1), every: 30 * time.Second, loaded: make(chan struct{})}
}

// Invalidate asks for a reload soon. Bursts of changes cost one reload.
func (s *Subscriptions) Invalidate(string) {
	s.requested.Add(1)
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// Load reads the webhooks now.
func (s *Subscriptions) Load(ctx context.Context) error {
	return s.loadIfBehind(ctx, 0)
}

// loadIfBehind reloads unless a load that began after invalidation gen
// has finished meanwhile (concurrent callers share one reload).
func (s *Subscriptions) loadIfBehind(ctx context.Context, gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen > 0 && s.loadedGen.Load() >= gen {
		return nil
	}
	seen := s.requested.Load()
	hooks, err := s.src.ActiveWebhooks(ctx)
	if err != nil {
		return err
	}
	first := s.current.Load() == nil
	ix, cache := buildIndex(hooks, s.programs)
	s.current.Store(ix)
	s.programs = cache
	s.loadedGen.Store(seen)
	if first {
		close(s.loaded)
	}
	return nil
}

// Run reloads on invalidation (at most every 50 ms) and every 30 s as a
// backstop for a missed invalidation. Load errors are retried.
func (s *Subscriptions) Run(ctx context.Context) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
		case <-t.C:
		}
		if err := s.Load(ctx); err != nil && ctx.Err() == nil {
			s.Invalidate("") // try again after the pause
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
	}
}

// Match returns the webhooks that receive e, waiting for the first load.
// When a change has been announced that the cache has not loaded yet, it
// reloads first: a webhook created before an event was published gets
// that event, even when the event comes right after the 201.
func (s *Subscriptions) Match(ctx context.Context, e *fluxhook.Event) ([]*sub, error) {
	select {
	case <-s.loaded:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if gen := s.requested.Load(); gen > s.loadedGen.Load() {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := s.loadIfBehind(lctx, gen)
		cancel()
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// On a load error the cached set serves; the Run loop retries.
	}
	return s.current.Load().match(e), nil
}

// Size is how many active webhooks are cached.
func (s *Subscriptions) Size() int {
	if ix := s.current.Load(); ix != nil {
		return ix.size
	}
	return 0
}

// Loaded reports whether the first load has happened.
func (s *Subscriptions) Loaded() bool { return s.current.Load() != nil }
