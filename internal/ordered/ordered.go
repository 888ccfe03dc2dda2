// Package ordered is the ordered lane: delivery for webhooks with
// ordering "fifo", one job at a time per (webhook, ordering key), in the
// order the events were accepted (API.md "Ordered delivery").
//
// The dispatcher's jobs for such a webhook go through Router into a
// queue in the database (store.EnqueueOrdered) instead of DELIVERIES. A
// worker's Lane claims keys that are due with a lease, so that one
// worker at a time delivers a key, and delivers each key's head through
// the worker's own attempt path (delivery.Worker.Attempt: the same
// signing, sending, recording, retry schedule and dead letters); a head
// that fails holds its key alone until its retry, and one given up lets
// the key move on. Jobs sort by their event's place in the EVENTS
// stream, and a key is claimed only once every event up to its head has
// been dispatched (the dispatcher consumer's ack floor), so an event
// that reached the dispatcher late still goes out in its place.
package ordered

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// Enqueuer stores ordered jobs (store.DB.EnqueueOrdered).
type Enqueuer interface {
	EnqueueOrdered(ctx context.Context, jobs []wire.Job) error
}

// Publisher stores the other jobs (events.Publisher.PublishJobs).
type Publisher interface {
	PublishJobs(ctx context.Context, jobs []wire.Job) error
}

// Router is the dispatcher's JobPublisher: jobs with an Order (their
// webhook's ordering is fifo) go to the ordered queue, in one
// transaction for a whole pack, and the rest to DELIVERIES as before.
type Router struct {
	queue Enqueuer
	next  Publisher
}

// NewRouter returns a Router over the ordered queue and the publisher.
func NewRouter(queue Enqueuer, next Publisher) *Router { return &Router{queue: queue, next: next} }

// PublishJobs stores jobs, returning once all are stored.
func (r *Router) PublishJobs(ctx context.Context, jobs []wire.Job) error {
	first := -1
	for i := range jobs {
		if jobs[i].Order != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return r.next.PublishJobs(ctx, jobs)
	}
	ordered, rest := []wire.Job{}, jobs[:first:first]
	for _, j := range jobs[first:] {
		if j.Order != nil {
			ordered = append(ordered, j)
		} else {
			rest = append(rest, j)
		}
	}
	if err := r.queue.EnqueueOrdered(ctx, ordered); err != nil {
		return fmt.Errorf("store ordered jobs: %w", err)
	}
	if len(rest) == 0 {
		return nil
	}
	return r.next.PublishJobs(ctx, rest)
}

// Queue is the ordered lane's queue (store.DB).
type Queue interface {
	OrderedDue(ctx context.Context) (bool, error)
	ClaimOrderedKeys(ctx context.Context, owner string, floor uint64, limit int, until time.Time) ([]store.OrderedKey, error)
	OrderedHead(ctx context.Context, k store.OrderedKey) (*wire.Job, int64, error)
	RenewOrderedLease(ctx context.Context, k store.OrderedKey, until time.Time) error
	ReleaseOrdered(ctx context.Context, k store.OrderedKey) error
	RemoveOrdered(ctx context.Context, k store.OrderedKey, deliveryID string) error
	PostponeOrdered(ctx context.Context, k store.OrderedKey, j wire.Job, at time.Time) error
	IdleOrdered(ctx context.Context, k store.OrderedKey, version int64) error
}

// DeadLetters stores a job given up (events.Publisher.PublishDead).
type DeadLetters interface {
	PublishDead(ctx context.Context, job wire.Job, reason string) error
}

// Scheduler is the delivery.Scheduler of the lane's worker: a retry of
// a head postpones its key, and a head given up goes to the dead letters
// and leaves its queue. It knows the key of each job under way from
// Lane.
type Scheduler struct {
	queue Queue
	dead  DeadLetters

	mu   sync.Mutex
	held map[string]store.OrderedKey // delivery id → the key it heads, while its attempt is made
}

// NewScheduler returns the lane's Scheduler.
func NewScheduler(queue Queue, dead DeadLetters) *Scheduler {
	return &Scheduler{queue: queue, dead: dead, held: map[string]store.OrderedKey{}}
}

func (s *Scheduler) hold(id string, k store.OrderedKey) {
	s.mu.Lock()
	s.held[id] = k
	s.mu.Unlock()
}

func (s *Scheduler) drop(id string) {
	s.mu.Lock()
	delete(s.held, id)
	s.mu.Unlock()
}

func (s *Scheduler) key(id string) (store.OrderedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.held[id]
	if !ok {
		return k, fmt.Errorf("ordered job %s is not under way in this lane", id)
	}
	return k, nil
}

// ScheduleRetry keeps the job at its key's head and makes the key due at at.
func (s *Scheduler) ScheduleRetry(ctx context.Context, job wire.Job, at time.Time) error {
	k, err := s.key(job.DeliveryID)
	if err != nil {
		return err
	}
	return s.queue.PostponeOrdered(ctx, k, job, at)
}

// Defer is ScheduleRetry without an attempt used up (the job says so).
func (s *Scheduler) Defer(ctx context.Context, job wire.Job, at time.Time) error {
	return s.ScheduleRetry(ctx, job, at)
}

// PublishDead stores the job in the dead letters and takes it off its
// key, which moves on to the next job.
func (s *Scheduler) PublishDead(ctx context.Context, job wire.Job, reason string) error {
	k, err := s.key(job.DeliveryID)
	if err != nil {
		return err
	}
	if err := s.dead.PublishDead(ctx, job, reason); err != nil {
		return err
	}
	return s.queue.RemoveOrdered(ctx, k, job.DeliveryID)
}
