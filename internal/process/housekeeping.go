package process

import (
	"context"
	"time"

	"github.com/fluxhook/fluxhook/internal/lifecycle"
)

// housekeeping deletes what has outlived its use every interval, in
// small batches so that no statement holds locks for long: prune is
// called until it deletes fewer than batch rows.
func (p *Process) housekeeping(name string, every time.Duration, prune func(ctx context.Context, batch int) (int64, error)) {
	const batch = 5000
	p.Add(name, lifecycle.Func(func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			for ctx.Err() == nil {
				n, err := prune(ctx, batch)
				if err != nil {
					p.Logger.Warn("housekeeping", "task", name, "err", err)
					break
				}
				if n < batch {
					break
				}
			}
		}
	}))
}
