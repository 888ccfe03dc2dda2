package process

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/attempts"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/delivery"
	"github.com/fluxhook/fluxhook/internal/dispatch"
	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/lifecycle"
	"github.com/fluxhook/fluxhook/internal/ordered"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
	"github.com/fluxhook/fluxhook/internal/replay"
	"github.com/fluxhook/fluxhook/internal/retry"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// watchConsumer exports a consumer's backlog as gauges, read every 10 s.
func (p *Process) watchConsumer(cons jetstream.Consumer, name string) {
	pending := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fluxhook_consumer_pending", Help: "Messages waiting for the consumer (JetStream's num_pending).", ConstLabels: prometheus.Labels{"consumer": name}})
	ackPending := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fluxhook_consumer_ack_pending", Help: "Messages handed out and not yet acknowledged.", ConstLabels: prometheus.Labels{"consumer": name}})
	redelivered := prometheus.NewGauge(prometheus.GaugeOpts{Name: "fluxhook_consumer_redelivered", Help: "Messages being redelivered (not acked in time or nak'ed).", ConstLabels: prometheus.Labels{"consumer": name}})
	p.Registry.MustRegister(pending, ackPending, redelivered)
	p.Add(name+"-watch", lifecycle.Func(func(ctx context.Context) error {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if info, err := cons.Info(ictx); err == nil {
				pending.Set(float64(info.NumPending))
				ackPending.Set(float64(info.NumAckPending))
				redelivered.Set(float64(info.NumRedelivered))
			}
			cancel()
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}))
}

// AddDispatcher adds the dispatcher role: it consumes EVENTS and
// publishes one job per subscribed webhook to DELIVERIES.
func (p *Process) AddDispatcher(ctx context.Context, s *Shared) error {
	subs := dispatch.NewSubscriptions(s.DB)
	s.Bus.Subscribe(cachebus.Webhook, subs.Invalidate)
	s.Bus.Subscribe(cachebus.User, subs.Invalidate)
	// Jobs of webhooks with ordering fifo go to the ordered lane's queue.
	router := ordered.NewRouter(s.DB, s.Publisher)
	d := dispatch.New(subs, router, p.Logger, dispatch.NewMetrics(p.Registry, subs))
	circuits := dispatch.NewCircuits(nil)
	s.Bus.Subscribe(cachebus.Circuit, circuits.Heard)
	d.ParkOpenCircuits(circuits, s.Publisher)
	cons := s.Dispatch
	p.watchConsumer(cons, events.ConsumerDispatcher)
	p.Health.AddCheck("subscriptions", func(context.Context) error {
		if subs.Size() == 0 && !subs.Loaded() {
			return fmt.Errorf("webhook subscriptions not loaded yet")
		}
		return nil
	})
	p.Add("subscriptions", lifecycle.Func(subs.Run))
	// Replays run beside the dispatch of live events, paced by
	// FLUXHOOK_REPLAY_RATE and held back while the workers have a backlog.
	deliver := s.Deliver
	backlog := func(ctx context.Context) (uint64, error) {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		info, err := deliver.Info(ictx)
		if err != nil {
			return 0, err
		}
		return info.NumPending, nil
	}
	// The router: an ordered webhook's replayed events go to its ordered
	// lane, in acceptance order per key, never beside a live one of it.
	runner := replay.NewRunner(s.DB, s.JetStream, router, backlog, p.Name+"-"+wire.NewID(), p.Logger,
		replay.Options{Rate: float64(p.Config.ReplayRate)})
	p.Add("replays", lifecycle.Func(runner.Run))
	p.Add("dispatcher", lifecycle.Func(func(ctx context.Context) error {
		for subs.Load(ctx) != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
		}
		return events.Consume(ctx, cons, dispatcherConcurrency, d.Handle)
	}))
	return nil
}

// AddWorker adds the worker role: it consumes DELIVERIES, delivers, and
// records every attempt.
func (p *Process) AddWorker(ctx context.Context, s *Shared) error {
	cfg := p.Config
	if s.Webhooks == nil {
		return errors.New("FLUXHOOK_ENCRYPTION_KEY: required: the worker decrypts webhook secrets to sign deliveries")
	}
	hooks := delivery.NewHookCache(s.Webhooks, s.Bus, nil)
	client := outbound.NewClient(s.Policy, outbound.ClientOptions{Timeout: cfg.DeliveryTimeout, UserAgent: s.UserAgent,
		MaxIdleConnsPerHost: delivery.DefaultPerWebhookInFlight})
	// Per-webhook limits: in Redis, shared by every worker, failing open
	// to this process's own limiter; or this process's own.
	var limiter ratelimit.Limiter = ratelimit.NewLocal(time.Now)
	if s.Redis != nil {
		limiter = ratelimit.NewFailOpen(ratelimit.NewRedis(s.Redis, "fluxhook:rl:", 0), limiter, nil)
	}
	limiter = ratelimit.Instrument(limiter, s.RateMetrics, "webhook")
	rec := newRecorder(s.DB, p.Registry)
	opts := delivery.Options{
		Concurrency:  cfg.WorkerConcurrency,
		Schedule:     retry.Schedule{Delays: cfg.RetrySchedule, Jitter: 0.2},
		DisableAfter: cfg.DisableAfter,
		AckWait:      cfg.WorkerAckWait,
		UserAgent:    s.UserAgent,
		Announce:     s.Publisher.PackEvent,
		CircuitChanged: func(id string, until time.Time, wait time.Duration) {
			s.Bus.Publish(cachebus.Circuit, dispatch.CircuitMessage(id, until, wait))
		},
	}
	metrics := delivery.NewMetrics(p.Registry)
	w := delivery.New(hooks, client, limiter, recorder{rec, s.DB}, s.Publisher, p.Logger, metrics, opts)
	lane := p.orderedLane(s, hooks, client, limiter, recorder{rec, s.DB}, metrics, opts)
	cons := s.Deliver
	// The delivery log is kept for FLUXHOOK_DELIVERY_RETENTION.
	p.housekeeping("prune-attempts", 10*time.Minute, func(ctx context.Context, n int) (int64, error) {
		return s.DB.PruneAttempts(ctx, time.Now().Add(-cfg.DeliveryRetention), n)
	})
	p.watchConsumer(cons, events.ConsumerWorker)
	p.Add("worker", lifecycle.Func(func(ctx context.Context) error {
		// The recorder outlives the consumer: handlers still finishing
		// after shutdown began need their attempts written. But not for
		// ever: with the database down, FLUXHOOK_SHUTDOWN_TIMEOUT after
		// shutdown began the recorder stops, writes what it can for its
		// drain time (10 s; the Deployment's grace period allows for
		// both), and fails the rest; those jobs are handed back and
		// delivered again by another worker, which at-least-once allows.
		rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer context.AfterFunc(ctx, func() { time.AfterFunc(cfg.ShutdownTimeout, stop) })()
		done := make(chan error, 1)
		go func() { done <- rec.Run(rctx) }()
		laneDone := make(chan error, 1)
		go func() { laneDone <- lane.Run(ctx) }()
		err := events.Consume(ctx, cons, workerHandlers, w.Handle)
		w.Wait() // attempts whose records and acks are still under way
		<-laneDone
		stop()
		if rerr := <-done; rerr != nil {
			// Not a failure of the shutdown: the jobs whose records were
			// not written were handed back, not acked.
			p.Logger.Warn("attempt records not written at shutdown; their jobs go back to the stream", "err", rerr)
		}
		return err
	}))
	return nil
}

// orderedLane is the worker's lane for webhooks with ordering fifo: a
// worker of its own over the same hooks, client, limiter, recorder and
// metrics, whose retries and dead letters go through the lane's queue,
// and which holds the jobs of a disabled webhook instead of giving them
// up.
func (p *Process) orderedLane(s *Shared, hooks *delivery.HookCache, client *http.Client, limiter ratelimit.Limiter, rec recorder,
	metrics *delivery.Metrics, opts delivery.Options) *ordered.Lane {
	sched := ordered.NewScheduler(s.DB, s.Publisher)
	opts.HoldDisabled = true
	w := delivery.New(hooks, client, limiter, rec, sched, p.Logger, metrics, opts)
	floor := func(ctx context.Context) (uint64, error) {
		info, err := s.Dispatch.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("dispatcher consumer's ack floor: %w", err)
		}
		return info.AckFloor.Stream, nil
	}
	return ordered.NewLane(s.DB, sched, w, s.DB, floor, p.Logger.With("lane", "ordered"), ordered.NewMetrics(p.Registry),
		ordered.Options{Concurrency: opts.Concurrency})
}

// newRecorder batches attempt records: group commit, up to 500 records
// a batch. The first record of a batch waits up to 5 ms for company:
// delivery latency does not include it (the POST is made before the
// record), but CPU does. An SQLite commit costs about the same for 5
// rows as for 70 (it writes every page it touched to the WAL, a system
// call each), and without the wait batches stayed at about 5 rows on
// the sustained benchmark, against 45-73 with it. The price is the ack
// of a job coming up to 5 ms later, so a worker killed in that window
// sends a few more jobs again.
func newRecorder(db *store.DB, reg prometheus.Registerer) *attempts.Recorder {
	return attempts.New(db, attempts.Options{MaxDelay: 5 * time.Millisecond}, attempts.NewMetrics(reg))
}

// recorder is the worker's Recorder: attempts written in group commits,
// and the delivered ones looked up in the database.
type recorder struct {
	*attempts.Recorder
	db *store.DB
}

func (r recorder) Delivered(ctx context.Context, ids []string) (map[string]bool, error) {
	return r.db.Delivered(ctx, ids)
}

// workerHandlers is how many messages of jobs a worker takes at once. A
// handler only starts a message's jobs, each on an attempt slot
// (FLUXHOOK_WORKER_CONCURRENCY of them), and returns; so a few keep the
// slots busy, and the client buffers no more messages than that ahead.
const workerHandlers = 4

// dispatcherConcurrency is how many events a dispatcher fans out at once.
// Each waits for its jobs' PubAcks, which on an R3 cluster are a
// replication round trip and on a single node an fsync, so the number in
// flight, not the CPU, bounds the events a second.
const dispatcherConcurrency = 64
