package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// health keeps each webhook's run of failures (DESIGN.md "Retries and
// endpoint health"): a run that has lasted the grace is written down as
// the webhook's failing_since, and one longer than disableAfter turns
// the webhook off. An endpoint that fails now and then costs no
// database writes.
type health struct {
	hooks        Webhooks
	grace        time.Duration
	disableAfter time.Duration
	logger       *slog.Logger
	metrics      *Metrics

	mu        sync.Mutex
	firstFail map[string]time.Time // webhook → first failure of a run not yet written down
}

// maxFirstFail bounds the runs of failures kept in memory; past it the
// bookkeeping starts over (the runs are noted again on their next failure).
const maxFirstFail = 100_000

// failed notes a failure of hook at now.
func (h *health) failed(ctx context.Context, hook *fluxhook.Webhook, now time.Time) {
	since := hook.FailingSince
	if since == nil {
		h.mu.Lock()
		first, ok := h.firstFail[hook.ID]
		if !ok {
			if len(h.firstFail) >= maxFirstFail {
				h.firstFail = map[string]time.Time{}
			}
			first = now
			h.firstFail[hook.ID] = first
		}
		h.mu.Unlock()
		if now.Sub(first) < h.grace {
			return
		}
		// Now, not first: this replica may have missed the successes
		// that ended the run it started noting.
		if err := h.hooks.MarkFailing(ctx, hook.ID, &now); err != nil {
			h.logger.Warn("note webhook failing", "webhook_id", hook.ID, "err", err)
			return // noted again on the next failure
		}
		since = &now
	}
	h.forget(hook.ID)
	if h.disableAfter > 0 && now.Sub(*since) > h.disableAfter {
		h.disable(ctx, hook.ID, "failing without a single success since "+since.UTC().Format(time.RFC3339), "failing")
	}
}

// succeeded ends the webhook's run of failures, if it had one.
func (h *health) succeeded(ctx context.Context, hook *fluxhook.Webhook) {
	h.forget(hook.ID)
	if hook.FailingSince != nil {
		if err := h.hooks.MarkFailing(ctx, hook.ID, nil); err != nil {
			h.logger.Warn("note webhook healthy", "webhook_id", hook.ID, "err", err)
		}
	}
}

func (h *health) forget(id string) {
	h.mu.Lock()
	delete(h.firstFail, id)
	h.mu.Unlock()
}

// disable turns a webhook off; label is the metric's reason.
func (h *health) disable(ctx context.Context, id, reason, label string) {
	if err := h.hooks.Disable(ctx, id, reason); err != nil {
		h.logger.Warn("disable webhook", "webhook_id", id, "err", err)
		return
	}
	h.metrics.disabled.WithLabelValues(label).Inc()
	h.logger.Info("webhook disabled", "webhook_id", id, "reason", reason)
}
