package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/nats-io/nats.go/jetstream"
)

// Handle delivers the jobs of one message: a pack (wire.DecodePack).
// Each job is attempted on a goroutine of its own as soon as one of the
// worker's attempt slots is free, so a hanging endpoint holds its own
// jobs only; Handle returns once every job has started. The message is
// acked once every job has a durable outcome: delivered and recorded,
// its retry, deferral or dead letter stored, or its webhook gone. A job
// whose outcome could not be stored (the database or NATS away) is
// deferred, which is durable too; only if that fails as well is the
// whole message handed back, and the jobs of it already delivered are
// then not sent again.
func (w *Worker) Handle(ctx context.Context, msg jetstream.Msg) {
	jobs, err := wire.DecodePack(msg.Data())
	if err != nil {
		w.logger.Error("undecodable delivery jobs dropped", "subject", msg.Subject(), "err", err)
		w.settle(msg, []verdict{{action: term, outcome: "invalid"}})
		return
	}
	w.packs.Add(1)
	p := &pack{msg: msg, stop: w.keeper.keep(msg), verdicts: make([]verdict, len(jobs)), left: len(jobs)}
	delivered := w.alreadyDelivered(ctx, msg, jobs)
	for i, job := range jobs {
		if delivered[job.DeliveryID] {
			p.done(w, i, verdict{action: ack, outcome: "duplicate"})
			continue
		}
		w.slots <- struct{}{}
		go func() { p.done(w, i, w.deliver(ctx, job)) }()
	}
}

// alreadyDelivered returns which of a message's jobs are recorded as
// delivered, when it may hold some: the message was delivered before
// (the worker that had it crashed, or it was handed back), or its jobs
// were dispatched again (wire.Job.Again). A first delivery of fresh
// jobs costs no lookup. When the lookup fails, every job is tried: a
// duplicate, with the same webhook-id, rather than a loss.
func (w *Worker) alreadyDelivered(ctx context.Context, msg jetstream.Msg, jobs []wire.Job) map[string]bool {
	again := false
	if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
		again = true
	}
	ids := make([]string, 0, len(jobs))
	for _, j := range jobs {
		if again || j.Again {
			ids = append(ids, j.DeliveryID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, LoadTimeout)
	defer cancel()
	delivered, err := w.recorder.Delivered(lctx, ids)
	if err != nil {
		w.logger.Warn("look up the delivered jobs of a message delivered again; trying them all", "err", err)
		return nil
	}
	return delivered
}

// deliver makes job's attempt, with one of the attempt slots taken by
// Handle, and stores its outcome, and returns the verdict. A job put
// back for a moment (its webhook busy, or rate-limited) waits here, up
// to three times, rather than being written back to the stream, if one
// of the waiting places is free.
//
// A job that gives its attempt slot back still holds a finishing slot
// (storing its outcome or its deferral) or a waiting place (sleeping)
// until it is done: Handle starts a job whenever an attempt slot is
// free, so a job that held neither would let a pack's jobs pile up as
// goroutines. That happened in the soak: parked jobs of a hanging
// endpoint coming due by the thousand each gave the slot back at once
// and waited for its deferral to be stored, ~14,000 goroutines and
// ~260 MiB per worker. Now a worker has at most Concurrency + 2 x
// MaxFinishing jobs in hand (as many waiting places as finishing
// slots: a busy healthy endpoint's jobs wait a moment here rather than
// a second in the stream), whatever the backlog. The order is always
// attempt slot, then finishing slot (never the other way), and waiting
// places are only taken without waiting, so no cycle of waits can form.
func (w *Worker) deliver(ctx context.Context, job wire.Job) verdict {
	for tries := 1; ; tries++ {
		v, finish := w.try(ctx, &job)
		if finish == nil && v.action == nak && v.delay < time.Second && tries < 3 && w.takeWaitingPlace() {
			<-w.slots
			w.metrics.outcome(v.outcome)
			time.Sleep(v.delay)
			w.slots <- struct{}{}
			<-w.waiting
			continue
		}
		// With every finishing slot taken (outcomes cannot be stored as
		// fast as attempts end), the attempt slot stays taken too:
		// attempts stop until outcomes are stored.
		w.finishSlots <- struct{}{}
		<-w.slots
		if finish != nil {
			v = finish(ctx)
		}
		v = w.durable(ctx, job, v)
		<-w.finishSlots
		return v
	}
}

// takeWaitingPlace takes one of the places for jobs waiting a moment in
// the process, if one is free.
func (w *Worker) takeWaitingPlace() bool {
	select {
	case w.waiting <- struct{}{}:
		return true
	default:
		return false
	}
}

// durable makes a verdict to hand the job back into a deferral: a pack's
// message cannot be handed back job by job, so the job is stored for
// later on its own, and the verdict becomes an ack.
func (w *Worker) durable(ctx context.Context, job wire.Job, v verdict) verdict {
	if v.action != nak {
		return v
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.sched.Defer(dctx, job, w.now().Add(max(v.delay, time.Second))); err != nil {
		w.logger.Warn("defer delivery job", "delivery_id", job.DeliveryID, "err", err)
		return v
	}
	return verdict{action: ack, outcome: v.outcome}
}

// pack is one message's jobs on their way to their verdicts.
type pack struct {
	msg  jetstream.Msg
	stop func() // stops keeping msg alive

	mu       sync.Mutex
	verdicts []verdict
	left     int
}

// done takes job i's verdict; the last one settles the message.
func (p *pack) done(w *Worker, i int, v verdict) {
	p.mu.Lock()
	p.verdicts[i] = v
	p.left--
	last := p.left == 0
	p.mu.Unlock()
	if !last {
		return
	}
	p.stop()
	w.settle(p.msg, p.verdicts)
	w.packs.Done()
}
