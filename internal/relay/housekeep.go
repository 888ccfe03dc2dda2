package relay

import (
	"context"
	"time"
)

// housekeep refreshes the backlog gauges and prunes published rows,
// each when due. Their failures are logged and do not hold up relaying.
func (r *Relay) housekeep(ctx context.Context) {
	now := r.o.Now()
	if now.Sub(r.lastBacklog) >= r.o.BacklogInterval {
		r.lastBacklog = now
		bctx, cancel := context.WithTimeout(ctx, dbTimeout)
		n, oldest, err := r.db.OutboxBacklog(bctx)
		cancel()
		if err != nil {
			r.logger.Debug("outbox backlog not measured", "err", err)
		} else {
			r.m.setBacklog(n, oldest)
		}
	}
	if now.Sub(r.lastPrune) >= r.o.PruneInterval {
		if r.prune(ctx, now.Add(-r.o.Retention)) {
			r.lastPrune = now
		}
	}
}

// prune deletes published rows older than before in small batches and
// reports whether it is done; if not, it goes on after the next round.
func (r *Relay) prune(ctx context.Context, before time.Time) (done bool) {
	var total int64
	defer func() {
		if total > 0 {
			r.logger.Debug("pruned published outbox rows", "rows", total)
		}
	}()
	for range maxPruneRounds {
		pctx, cancel := context.WithTimeout(ctx, dbTimeout)
		n, err := r.db.PruneOutbox(pctx, before, r.o.PruneBatch)
		cancel()
		if err != nil {
			r.logger.Warn("pruning the outbox failed; trying again later", "err", err)
			return true
		}
		total += n
		if n < int64(r.o.PruneBatch) {
			return true
		}
	}
	return false
}

// graceContext returns a context that ends timeout from now, or
// stampGrace after ctx ends, whichever comes first: what has been
// published must still be stamped when shutdown begins, but not at the
// cost of hanging the shutdown on an unreachable database.
func graceContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(stampGrace, cancel)
		context.AfterFunc(c, func() { t.Stop() })
	})
	return c, func() {
		stop()
		cancel()
	}
}
