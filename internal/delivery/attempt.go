package delivery

import (
	"context"
	"time"

	"github.com/fluxhook/fluxhook/internal/wire"
)

// Step is what became of one job handed to Attempt.
type Step struct {
	// Done: the job's outcome is durable (delivered and recorded, its
	// retry or dead letter stored through the Scheduler) or nothing is
	// left to do (its webhook is gone). Otherwise it is to be tried again
	// after Delay, without an attempt used up, or with its attempt
	// recorded when storing what followed it failed.
	Done    bool
	Outcome string // success, retry, failed, gone, dropped, deferred, …
	Delay   time.Duration
	// Job is the job as it left: Parked counts a parking.
	Job wire.Job
}

// Delivered reports whether the job reached its endpoint (and its
// attempt is recorded).
func (s Step) Delivered() bool { return s.Done && s.Outcome == "success" }

// disabledHold is how long a held job of a disabled webhook waits
// before its webhook is looked at again (Options.HoldDisabled).
const disabledHold = 5 * time.Second

// Attempt makes one attempt of job on the caller's goroutine, through
// the same steps as a job from DELIVERIES (webhook, circuit, rate limit,
// in-flight cap, signing, POST, recording, retry or dead letter through
// the Scheduler), and says what became of it. It is the ordered lane's
// way in: the lane holds the job's key and stores the outcome itself.
func (w *Worker) Attempt(ctx context.Context, job wire.Job) Step {
	v, finish := w.try(ctx, &job)
	if finish != nil {
		v = finish(ctx)
	}
	if v.outcome != "" {
		w.metrics.outcome(v.outcome)
	}
	return Step{Done: v.action == ack, Outcome: v.outcome, Delay: v.delay, Job: job}
}
