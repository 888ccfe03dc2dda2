// Package clientkey manages client keys — service credentials that act
// as their owner within their scopes — and authenticates requests with
// them without touching the database on the hot path: keys are cached
// (dropped on every replica at once when they change, through
// cachebus) and last_used_at is written in batches.
package clientkey

import (
	"context"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Limits on key fields (API.md).
const (
	MaxName           = 100
	MaxDescription    = 1000
	MaxScopes         = 50
	MaxRatePerMinute  = 100000
	cacheTTL          = time.Minute
	cacheMaxEntries   = 100_000
	DefaultFlushEvery = 30 * time.Second
)

var errInvalidKey = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "INVALID_CLIENT_KEY", Message: "Invalid client key"}

// Service creates, lists, changes and authenticates client keys.
type Service struct {
	db    *store.DB
	bus   cachebus.Bus
	now   func() time.Time
	cache *cache
	used  *usage
}

// New returns a Service. Run its Run method to write last_used_at.
func New(db *store.DB, bus cachebus.Bus, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{db: db, bus: bus, now: now, cache: newCache(), used: &usage{last: map[string]time.Time{}}}
	bus.Subscribe(cachebus.ClientKey, s.cache.dropKey)
	bus.Subscribe(cachebus.User, s.cache.dropUser)
	return s
}

// Authenticate returns the actor a client key stands for. Unknown,
// revoked and expired keys are 401 INVALID_CLIENT_KEY.
func (s *Service) Authenticate(ctx context.Context, key string) (*fluxhook.Actor, *fluxhook.ClientKey, error) {
	if !auth.IsClientKey(key) {
		return nil, nil, errInvalidKey
	}
	hash := auth.HashOpaque(key)
	now := s.now()
	e, ok := s.cache.get(string(hash), now)
	if !ok {
		var err error
		e, err = s.load(ctx, hash, now)
		if err != nil {
			return nil, nil, err
		}
	}
	k := e.key
	if k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		return nil, nil, errInvalidKey
	}
	s.used.mark(k.ID, now)
	return &fluxhook.Actor{UserID: k.UserID, Role: e.role, KeyID: k.ID, Scopes: k.Scopes}, k, nil
}

// loadTimeout bounds reading a key from the database, and staleHold is
// how long a copy served because the database did not answer is served
// again before the next try (as delivery.HookCache does for webhooks).
const (
	loadTimeout = 3 * time.Second
	staleHold   = 10 * time.Second
)

// load reads a key and its owner's role from the database and caches
// them. While the database is unavailable, a cached copy that only
// expired is served as it is: an entry is deleted, not left to expire,
// when the key or its owner changes (cachebus), so an expired one is one
// nobody changed, and POST /events, which needs no database otherwise,
// goes on accepting events through a database outage longer than the
// cache's minute (make chaos, pg-unreachable).
func (s *Service) load(ctx context.Context, hash []byte, now time.Time) (*entry, error) {
	lctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	e, err := s.read(lctx, hash, now)
	if fluxhook.ErrorKind(err) == fluxhook.KindUnavailable && ctx.Err() == nil {
		if old, ok := s.cache.expired(string(hash)); ok {
			held := *old
			held.expires = now.Add(staleHold)
			s.cache.put(string(hash), &held)
			return &held, nil
		}
	}
	return e, err
}

func (s *Service) read(ctx context.Context, hash []byte, now time.Time) (*entry, error) {
	k, err := s.db.ClientKeyByHash(ctx, hash)
	if fluxhook.IsNotFound(err) {
		return nil, errInvalidKey
	}
	if err != nil {
		return nil, err
	}
	owner, err := s.db.User(ctx, k.UserID)
	if fluxhook.IsNotFound(err) {
		return nil, errInvalidKey
	}
	if err != nil {
		return nil, err
	}
	e := &entry{key: k, role: owner.Role, expires: now.Add(cacheTTL)}
	s.cache.put(string(hash), e)
	return e, nil
}

// CreateInput is the body of POST /client-keys.
type CreateInput struct {
	Name               string     `json:"name"`
	Description        *string    `json:"description"`
	Scopes             []string   `json:"scopes"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute"`
	ExpiresAt          *time.Time `json:"expires_at"`
}

// UpdateInput is the body of PATCH /client-keys/{id}: nil fields stay.
type UpdateInput struct {
	Name               *string    `json:"name"`
	Description        *string    `json:"description"`
	Scopes             []string   `json:"scopes"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute"`
	ExpiresAt          *time.Time `json:"expires_at"`
}

// Create makes a key for the actor and returns it with the full key,
// which is shown this once; only its hash is kept.
func (s *Service) Create(ctx context.Context, a *fluxhook.Actor, in CreateInput) (*fluxhook.ClientKey, string, error) {
	details := map[string]string{}
	k := &fluxhook.ClientKey{UserID: a.UserID}
	k.Name = validName(details, in.Name)
	k.Description = validDescription(details, in.Description)
	k.Scopes = validScopes(details, in.Scopes)
	k.RateLimitPerMinute = validRate(details, in.RateLimitPerMinute)
	if in.ExpiresAt != nil {
		k.ExpiresAt = expiry(in.ExpiresAt)
	}
	if len(details) > 0 {
		return nil, "", fluxhook.Invalid(details)
	}
	if err := s.checkGrant(ctx, a, k, k.Scopes); err != nil {
		return nil, "", err
	}
	key, prefix, hash := auth.NewClientKey()
	k.KeyPrefix, k.KeyHash = prefix, hash
	if err := s.db.CreateClientKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, key, nil
}

// List returns the actor's keys (every key for an admin), newest first.
func (s *Service) List(ctx context.Context, a *fluxhook.Actor) ([]*fluxhook.ClientKey, error) {
	owner := a.UserID
	if a.IsAdmin() {
		owner = ""
	}
	keys, err := s.db.ListClientKeys(ctx, owner)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		s.used.overlay(k)
	}
	return keys, nil
}

// Get returns one key; another user's key is not found, so its
// existence is not revealed.
func (s *Service) Get(ctx context.Context, a *fluxhook.Actor, id string) (*fluxhook.ClientKey, error) {
	k, err := s.db.ClientKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Owns(k.UserID) {
		return nil, fluxhook.NotFound("client key")
	}
	s.used.overlay(k)
	return k, nil
}

// Update changes the given fields of a key; new scopes and limits apply
// at once on every replica.
func (s *Service) Update(ctx context.Context, a *fluxhook.Actor, id string, in UpdateInput) (*fluxhook.ClientKey, error) {
	k, err := s.Get(ctx, a, id)
	if err != nil {
		return nil, err
	}
	details := map[string]string{}
	if in.Name != nil {
		k.Name = validName(details, *in.Name)
	}
	if in.Description != nil {
		k.Description = validDescription(details, in.Description)
	}
	var granted []string
	if in.Scopes != nil {
		k.Scopes = validScopes(details, in.Scopes)
		granted = k.Scopes
	}
	if in.RateLimitPerMinute != nil {
		k.RateLimitPerMinute = validRate(details, in.RateLimitPerMinute)
	}
	if in.ExpiresAt != nil {
		k.ExpiresAt = expiry(in.ExpiresAt)
	}
	if len(details) > 0 {
		return nil, fluxhook.Invalid(details)
	}
	if err := s.checkGrant(ctx, a, k, granted); err != nil {
		return nil, err
	}
	if err := s.db.UpdateClientKey(ctx, k); err != nil {
		return nil, err
	}
	s.bus.Publish(cachebus.ClientKey, k.ID)
	return k, nil
}

// Revoke stops a key at once on every replica; the row stays for audit.
func (s *Service) Revoke(ctx context.Context, a *fluxhook.Actor, id string) error {
	if _, err := s.Get(ctx, a, id); err != nil {
		return err
	}
	if err := s.db.RevokeClientKey(ctx, id, s.now()); err != nil {
		return err
	}
	s.bus.Publish(cachebus.ClientKey, id)
	return nil
}

// Delete removes a key for good.
func (s *Service) Delete(ctx context.Context, a *fluxhook.Actor, id string) error {
	if _, err := s.Get(ctx, a, id); err != nil {
		return err
	}
	if err := s.db.DeleteClientKey(ctx, id); err != nil {
		return err
	}
	s.bus.Publish(cachebus.ClientKey, id)
	return nil
}

// Run writes last_used_at every interval (and once more when ctx ends),
// one batched statement for all keys used since the last write.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(DefaultFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = s.Flush(ctx) // what failed is kept for the next tick
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return s.Flush(fctx)
		}
	}
}

// Flush writes the pending last_used_at times now.
func (s *Service) Flush(ctx context.Context) error {
	pending := s.used.take()
	if len(pending) == 0 {
		return nil
	}
	if err := s.db.TouchClientKeys(ctx, pending); err != nil {
		s.used.restore(pending)
		return err
	}
	return nil
}

// usage collects last-used times between flushes.
type usage struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (u *usage) mark(id string, t time.Time) {
	u.mu.Lock()
	if t.After(u.last[id]) {
		u.last[id] = t
	}
	u.mu.Unlock()
}

func (u *usage) take() map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	p := u.last
	u.last = make(map[string]time.Time, len(p))
	return p
}

func (u *usage) restore(p map[string]time.Time) {
	for id, t := range p {
		u.mark(id, t)
	}
}

// overlay shows a use not yet written, so this replica's answer is fresh.
func (u *usage) overlay(k *fluxhook.ClientKey) {
	u.mu.Lock()
	t, ok := u.last[k.ID]
	u.mu.Unlock()
	if ok && (k.LastUsedAt == nil || t.After(*k.LastUsedAt)) {
		t = t.UTC().Truncate(time.Microsecond)
		k.LastUsedAt = &t
	}
}
