package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// settle makes one JetStream asset (what names it) hold the settings it
// should, beside other processes doing the same at the same moment.
// read returns whether the asset has a leader and how its settings
// differ (nil when they do not), or the server's error (not found, when
// the asset is not there); create and update write the settings.
//
// Why not CreateOrUpdateStream: it sends an update first, and nats-server
// (2.15.2) never answers an update of a replicated stream whose creation
// is committed but whose first leader is not elected yet, nor the create
// it raced with (processClusterUpdateStream answers only as leader, and
// marks the assignment answered on every member). Replicas started
// together against an R3 cluster hit that window, about 100 ms wide, and
// all waited out their deadline (#17). So settle:
//   - reads first and writes only what differs: replicas finding the
//     settings in place write nothing;
//   - creates with a create, which the server answers for every request
//     with equal settings, even while another is in flight, and which
//     fails with "already in use" when another process created the asset
//     with other settings meanwhile, which settle then reads;
//   - updates only an asset that has a leader, waiting for the election
//     otherwise, and waits for a cluster that cannot place the replicas
//     yet (its servers still joining);
//   - returns once the asset has a leader, so that what the caller does
//     next with it (look a consumer up, consume) is answered;
//   - gives each request readTimeout or writeTimeout, and takes a
//     request left unanswered as a reason to read again, not to give up.
//
// It gives up after settleFor, with an error for which Permanent is
// false.
func settle(ctx context.Context, what string, read func(context.Context) (led bool, err error),
	create, update func(context.Context) error) error {
	updated := false
	last := errors.New("nothing read yet")
	for try, give := 0, time.Now().Add(settleFor); time.Now().Before(give); try++ {
		if try > 0 && !sleep(ctx, settleWait) {
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), last)
		}
		led, err := withTimeout(ctx, readTimeout, read)
		var diff *mismatchError
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound):
			_, err := withTimeout(ctx, writeTimeout, none(create))
			switch {
			case err == nil, exists(err):
				last = errors.New("created; reading it back")
			case unanswered(ctx, err), placing(err):
				last = err
			default:
				return fmt.Errorf("create %s: %w", what, err)
			}
		case errors.As(err, &diff):
			if updated {
				// Asked for and not kept: an old server, or a setting
				// that cannot change on an existing asset.
				return err
			}
			if !led {
				last = errors.New("no leader elected yet")
				continue
			}
			if _, err := withTimeout(ctx, writeTimeout, none(update)); err != nil && !unanswered(ctx, err) {
				return fmt.Errorf("update %s: %w", what, err)
			}
			updated = true
			last = errors.New("updated; reading it back")
		case err == nil && !led:
			// Settled, but not answering yet: only a leader answers
			// the lookups and consumers that follow.
			last = errors.New("no leader elected yet")
		case err == nil:
			return nil
		case unanswered(ctx, err):
			last = err
		default:
			return fmt.Errorf("read %s: %w", what, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
	return fmt.Errorf("%s: not settled within %v (last: %v)", what, settleFor, last)
}

const (
	// readTimeout and writeTimeout bound one JetStream API request, so
	// that a request the server never answers costs a little, not the
	// caller's whole deadline. Reads go unanswered while a new R3 stream
	// elects its first leader (only its leader answers, and a server
	// falls silent rather than say there is none yet), for a few hundred
	// ms; a create of an R3 stream syncing every write is answered in
	// about 100 ms.
	readTimeout  = time.Second
	writeTimeout = 5 * time.Second
	// settleFor bounds how long settle waits for an election or its own
	// write to show (a few hundred ms, a second or two under load), so
	// that a cluster in trouble is reported, and waited for, by the
	// caller; settleWait is the pause between reads.
	settleFor  = 15 * time.Second
	settleWait = 100 * time.Millisecond
)

func withTimeout[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return fn(ctx)
}

// sleep waits d, or until ctx ends; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func none(fn func(context.Context) error) func(context.Context) (struct{}, error) {
	return func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }
}

// unanswered reports whether a request's err says only that no answer
// came in time, while the caller's ctx has time left.
func unanswered(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout))
}

// placing reports whether a create failed because the cluster does not
// know enough servers yet to place the replicas: its servers are still
// joining (just after its JetStream meta leader is elected, say).
func placing(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeNoPeers
}

// exists reports whether a create failed because another process created
// the asset meanwhile, with settings other than these.
func exists(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || errors.Is(err, jetstream.ErrConsumerExists) ||
		errors.Is(err, jetstream.ErrBucketExists)
}

// Permanent reports whether err, from Dial, EnsureStreams or
// EnsureConsumers, is one that the same call a little later would meet
// again: settings the server refuses or does not keep, credentials, an
// old server. Other errors (no server, no JetStream leader yet, a cluster
// still placing its peers, a request left unanswered) are worth waiting
// out.
func Permanent(err error) bool {
	var p *permanentError
	if errors.As(err, &p) || errors.Is(err, ErrConfigMismatch) || permanentDial(err) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeNoPeers:
		// "no suitable peers for placement": a cluster whose servers
		// have not all joined yet.
		return false
	case errCodeInvalidConfig, errCodeReplicasNotSupported:
		return true
	}
	// 400s are requests the server refuses as they are (subjects that
	// overlap another stream's, say); 503s and the rest are its state.
	return apiErr.Code == 400
}

// JetStream API error codes (nats-server's errors.json) that nats.go has
// no name for.
const (
	errCodeNoPeers              jetstream.ErrorCode = 10005
	errCodeInvalidConfig        jetstream.ErrorCode = 10052
	errCodeReplicasNotSupported jetstream.ErrorCode = 10074
)

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanentf is fmt.Errorf for errors that Permanent must recognise.
func permanentf(format string, args ...any) error {
	return &permanentError{fmt.Errorf(format, args...)}
}
