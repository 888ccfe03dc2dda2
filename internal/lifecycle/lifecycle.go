// Package lifecycle runs a process's long-lived components together and
// serves its admin port (/healthz, /readyz, /metrics). A process is up
// while all of its components are: when one stops, for whatever reason,
// the others are stopped too, so Kubernetes restarts a whole pod instead
// of leaving it half alive.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
)

// Component is something that runs until ctx is cancelled or it fails.
// Run must return promptly once ctx is done; it returns nil or ctx's
// error after a clean stop.
type Component interface {
	Run(ctx context.Context) error
}

// Func adapts a function to Component.
type Func func(ctx context.Context) error

// Run calls f(ctx).
func (f Func) Run(ctx context.Context) error { return f(ctx) }

// Named is a component with the name used in logs and errors.
type Named struct {
	Name      string
	Component Component
}

// Run runs the components concurrently until ctx is cancelled or any of
// them returns, with or without an error; then it cancels the rest and
// waits for all of them. It returns the first error other than
// context.Canceled, prefixed with the component's name, or nil. A panic
// in a component is recovered and returned as that component's error, so
// the others still shut down cleanly.
//
// logger may be nil; it records when each component stops.
func Run(ctx context.Context, logger *slog.Logger, components ...Named) error {
	return RunStarting(ctx, logger, nil, components...)
}

// Start is a process's start-up: it waits for what the process needs
// and returns the components that need it.
type Start func(ctx context.Context) ([]Named, error)

// RunStarting is Run for a process whose start-up takes a while: the
// components given run at once (the admin port answering probes, say)
// while start runs, and the components start returns join them. A start
// that fails stops them all, and Run returns its error prefixed with
// "start: "; a start that fails because ctx ended is a clean stop. start
// may be nil.
func RunStarting(ctx context.Context, logger *slog.Logger, start Start, components ...Named) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(name string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = fmt.Errorf("%s: %w", name, err)
		}
	}
	launch := func(nc Named) {
		wg.Go(func() {
			err := runOne(ctx, logger, nc)
			stopping := ctx.Err() != nil
			cancel()

			switch {
			case err != nil && !errors.Is(err, context.Canceled):
				logger.Error("component failed", "component", nc.Name, "err", err)
				fail(nc.Name, err)
			case !stopping:
				// Not an error, but it takes the process down with it.
				logger.Warn("component stopped on its own; stopping the others", "component", nc.Name)
			default:
				logger.Debug("component stopped", "component", nc.Name)
			}
		})
	}
	for _, nc := range components {
		launch(nc)
	}
	if start != nil {
		more, err := runStart(ctx, start)
		switch {
		case err != nil && ctx.Err() == nil:
			fail("start", err)
			cancel()
		case err == nil && ctx.Err() == nil:
			for _, nc := range more {
				launch(nc)
			}
		}
	}
	wg.Wait()
	return firstErr
}

func runStart(ctx context.Context, start Start) (more []Named, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return start(ctx)
}

func runOne(ctx context.Context, logger *slog.Logger, nc Named) (err error) {
	defer func() {
		if r := recover(); r != nil {
			logger.Error("component panicked", "component", nc.Name, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return nc.Component.Run(ctx)
}
