package process

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/jackc/pgx/v5/pgconn"
)

// Start-up waits for a dependency that is not there yet: pods of a fresh
// cluster start in any order, and a process that exited instead would
// leave the recovery to Kubernetes' restarts, whose back-off grows to
// five minutes. Waits start at awaitFirstWait and grow to awaitMaxWait
// (jittered, so that replicas do not knock together); each try gets
// awaitTryTimeout.
const (
	awaitFirstWait  = 250 * time.Millisecond
	awaitMaxWait    = 10 * time.Second
	awaitTryTimeout = time.Minute
)

// await runs try until it succeeds, for as long as ctx lasts, waiting
// between tries with exponential backoff. Each failure is logged, and
// /readyz says what the process waits for and why. An error for which
// permanent reports true (a setting that no wait can fix) ends the wait
// at once; so does the end of ctx, with ctx's error.
func (p *Process) await(ctx context.Context, what string, permanent func(error) bool, try func(ctx context.Context) error) error {
	b := awaitBackoff(0)
	attempts := 0
	p.Health.Waiting("waiting for " + what)
	err := backoff.RetryNotify(func() error {
		attempts++
		tctx, cancel := context.WithTimeout(ctx, awaitTryTimeout)
		defer cancel()
		err := try(tctx)
		if err != nil && (ctx.Err() != nil || permanent(err)) {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		p.Logger.Warn("waiting for "+what, "attempt", attempts, "retry_in", wait.Round(time.Millisecond).String(), "err", err)
		p.Health.Waiting(fmt.Sprintf("waiting for %s (attempt %d): %v", what, attempts, err))
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		return err
	}
	if attempts > 1 {
		p.Logger.Info(what+" is there", "attempts", attempts)
	}
	p.Health.Waiting("")
	return nil
}

// awaitBackoff is the waits between tries of a dependency, for at most
// maxElapsed in all (0: for ever).
func awaitBackoff(maxElapsed time.Duration) *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = awaitFirstWait
	b.MaxInterval = awaitMaxWait
	b.MaxElapsedTime = maxElapsed
	return b
}

// forOperators drops the sentence a *fluxhook.Error carries for API
// clients ("The service is temporarily unavailable…"), which tells an
// operator reading the log or /readyz nothing, and keeps its cause.
func forOperators(err error) error {
	var fe *fluxhook.Error
	if errors.As(err, &fe) && fe.Err != nil {
		return fe.Err
	}
	return err
}

// never is the permanent of a dependency whose every error may pass.
func never(error) bool { return false }

// permanentDB reports the database errors that waiting cannot fix: a
// local SQLite file that will not open, a PostgreSQL URL that does not
// parse, and credentials PostgreSQL refuses (as events.Permanent does
// for NATS's).
func permanentDB(sqlite bool) func(error) bool {
	return func(err error) bool {
		if sqlite {
			return true
		}
		var parseErr *pgconn.ParseConfigError
		var pgErr *pgconn.PgError
		return errors.As(err, &parseErr) ||
			errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") // invalid password, invalid authorization
	}
}
