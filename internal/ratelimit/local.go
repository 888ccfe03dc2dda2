package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

const (
	// localShards spreads keys over independent locks so concurrent
	// requests for different keys rarely wait on each other.
	localShards = 32
	// defaultMaxKeys caps memory at a few tens of MB whatever the keys
	// are (the per-IP login limits take keys from the outside world).
	defaultMaxKeys = 1 << 18
	// sweepEvery bounds how long forgotten keys linger when a shard
	// stops growing, so memory follows the live set down again.
	sweepEvery = time.Minute
	// minSweepLen keeps tiny shards from sweeping on every insert.
	minSweepLen = 64
	// evictSample is how many entries are looked at to choose a victim
	// when a shard is full; looking at all of them would make every
	// insert into a full shard cost the whole shard.
	evictSample = 8
)

// Local is an in-process GCRA limiter. Its state is one TAT per key; a
// key whose TAT has passed is indistinguishable from one never seen, so it
// is dropped by periodic sweeps, and a hard cap bounds memory even when
// every key is live.
type Local struct {
	now     func() time.Time
	base    time.Time // times are kept as offsets from it, so the monotonic clock is used when there is one
	seed    maphash.Seed
	maxKeys int // per shard
	shards  [localShards]localShard
}

type localShard struct {
	mu        sync.Mutex
	tats      map[string]int64 // key -> TAT, nanoseconds after base
	nextSweep int64
	sweepLen  int // sweep early once the shard grows to this, so bursts of new keys are reclaimed without waiting a minute
	peak      int // most entries since tats was allocated; Go maps never give memory back, so a much smaller live set gets a new map
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an empty Local reading time from now (time.Now when
// nil).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	l := &Local{now: now, base: now(), seed: maphash.MakeSeed()}
	l.setMaxKeys(defaultMaxKeys)
	for i := range l.shards {
		l.shards[i].tats = make(map[string]int64)
	}
	return l
}

func (l *Local) setMaxKeys(n int) {
	l.maxKeys = max(1, n/localShards)
}

// Allow decides one request for key. It never fails for a valid Limit.
func (l *Local) Allow(_ context.Context, key string, lim Limit) (Decision, error) {
	interval, err := lim.interval()
	if err != nil {
		return Decision{}, err
	}
	now := int64(l.now().Sub(l.base))
	s := &l.shards[maphash.String(l.seed, key)%localShards]

	s.mu.Lock()
	defer s.mu.Unlock()
	if now >= s.nextSweep || len(s.tats) >= s.sweepLen {
		s.sweep(now)
	}
	tat, ok := s.tats[key]
	if !ok {
		tat = now // a clock set back before base must not make 0 look like a future TAT
	}
	d, newTAT := gcra(now, tat, int64(interval), lim.Burst)
	if d.Allowed {
		if !ok && len(s.tats) >= l.maxKeys {
			s.evict(now)
		}
		s.tats[key] = newTAT
		s.peak = max(s.peak, len(s.tats))
	}
	return d, nil
}

// sweep drops every key whose TAT has passed.
func (s *localShard) sweep(now int64) {
	for k, tat := range s.tats {
		if tat <= now {
			delete(s.tats, k)
		}
	}
	n := len(s.tats)
	if s.peak >= 4*minSweepLen && n < s.peak/4 {
		m := make(map[string]int64, n)
		for k, v := range s.tats {
			m[k] = v
		}
		s.tats = m
		s.peak = n
	}
	s.nextSweep = now + int64(sweepEvery)
	s.sweepLen = max(2*n, minSweepLen)
}

// evict makes room in a full shard: expired entries among a sample if
// there are any, else the sampled entry closest to expiring, whose key
// loses the least by being forgotten.
func (s *localShard) evict(now int64) {
	var (
		victim    string
		victimTAT int64
		found     bool
		removed   bool
		seen      int
	)
	for k, tat := range s.tats {
		switch {
		case tat <= now:
			delete(s.tats, k)
			removed = true
		case !found || tat < victimTAT:
			victim, victimTAT, found = k, tat, true
		}
		if seen++; seen == evictSample {
			break
		}
	}
	if !removed && found {
		delete(s.tats, victim)
	}
}

// len counts the keys held, for tests.
func (l *Local) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.tats)
		s.mu.Unlock()
	}
	return n
}
