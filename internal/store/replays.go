package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Replays: the progress of replays and bulk retries, and the leases of
// the dispatchers that run them. A runner claims an active replay whose
// lease is free or lapsed, renews the lease with every step of progress,
// and may write only while it holds the lease and the replay is still
// running: a cancelled replay, or one another runner took over, stops
// its old runner at its next step.

const replayCols = `id, webhook_id, kind, since_at, until_at, status_filter, state, resume_cursor, events_scanned,
	events_matched, queued, error, created_at, updated_at, started_at, finished_at`

var (
	errReplayActive = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "REPLAY_IN_PROGRESS",
		Message: "This webhook has a replay or retry under way; cancel it or wait for it to finish."}
	errReplayFinished = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "REPLAY_FINISHED",
		Message: "This replay has already finished."}
)

func scanReplay(row interface{ Scan(...any) error }) (*fluxhook.Replay, error) {
	var r fluxhook.Replay
	var errText, status sql.NullString
	if err := row.Scan(&r.ID, &r.WebhookID, &r.Kind, nullTimeCol{&r.Since}, nullTimeCol{&r.Until}, &status, &r.State, &r.Cursor,
		&r.EventsScanned, &r.EventsMatched, &r.Queued, &errText, timeCol{&r.CreatedAt}, timeCol{&r.UpdatedAt},
		nullTimeCol{&r.StartedAt}, nullTimeCol{&r.FinishedAt}); err != nil {
		return nil, err
	}
	if errText.Valid {
		r.Error = &errText.String
	}
	if status.Valid {
		r.Status = &status.String
	}
	return &r, nil
}

// CreateReplay stores a new pending replay; a webhook with an active one
// is a conflict (REPLAY_IN_PROGRESS).
func (q *Queries) CreateReplay(ctx context.Context, r *fluxhook.Replay) error {
	if r.ID == "" {
		r.ID = NewID()
	}
	now := ts(q.now())
	r.State, r.CreatedAt, r.UpdatedAt = fluxhook.ReplayPending, now, now
	if !validID(r.WebhookID) {
		return fluxhook.NotFound("webhook")
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO replays (id, webhook_id, kind, since_at, until_at, status_filter, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.WebhookID, r.Kind, q.d.tp(r.Since), q.d.tp(r.Until), r.Status, r.State, q.d.t(now), q.d.t(now))
	if isUnique(err) {
		return errReplayActive
	}
	return wrapErr("create replay", err)
}

// Replay returns one replay.
func (q *Queries) Replay(ctx context.Context, id string) (*fluxhook.Replay, error) {
	if !validID(id) {
		return nil, fluxhook.NotFound("replay")
	}
	r, err := scanReplay(q.r.QueryRowContext(ctx, `SELECT `+replayCols+` FROM replays WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("replay")
	}
	return r, wrapErr("get replay", err)
}

// ListReplays returns a webhook's latest replays, newest first.
func (q *Queries) ListReplays(ctx context.Context, webhookID string, limit int) ([]*fluxhook.Replay, error) {
	out := []*fluxhook.Replay{}
	if !validID(webhookID) || limit <= 0 {
		return out, nil
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+replayCols+` FROM replays WHERE webhook_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, webhookID, limit)
	if err != nil {
		return nil, wrapErr("list replays", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, wrapErr("list replays", err)
		}
		out = append(out, r)
	}
	return out, wrapErr("list replays", rows.Err())
}

// CancelReplay stops an active replay: its runner sees it at its next
// step and queues nothing more (deliveries already queued go ahead). A
// finished replay is a conflict (REPLAY_FINISHED).
func (q *Queries) CancelReplay(ctx context.Context, id string) (*fluxhook.Replay, error) {
	if !validID(id) {
		return nil, fluxhook.NotFound("replay")
	}
	now := q.d.t(q.now())
	// The lease owner stays, so that its runner can record what it
	// queued before it saw the cancel (StoppedReplay).
	res, err := q.w.ExecContext(ctx, `UPDATE replays SET state = $1, finished_at = $2, updated_at = $2, lease_until = NULL
		WHERE id = $3 AND state IN ($4, $5)`, fluxhook.ReplayCancelled, now, id, fluxhook.ReplayPending, fluxhook.ReplayRunning)
	if err != nil {
		return nil, wrapErr("cancel replay", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, wrapErr("cancel replay", err)
	}
	r, err := q.Replay(ctx, id)
	if err == nil && n == 0 {
		return r, errReplayFinished
	}
	return r, err
}

// ClaimReplay gives owner the oldest active replay whose lease is free or
// lapsed, leased until now+lease and marked running, or nil when there
// is none. Two runners claiming at once never get the same replay: the
// update takes it only while the lease it read is still lapsed.
func (q *Queries) ClaimReplay(ctx context.Context, owner string, lease time.Duration) (*fluxhook.Replay, error) {
	now := ts(q.now())
	rows, err := q.r.QueryContext(ctx, `SELECT id FROM replays WHERE state IN ($1, $2) AND (lease_until IS NULL OR lease_until < $3)
		ORDER BY created_at, id LIMIT 5`, fluxhook.ReplayPending, fluxhook.ReplayRunning, q.d.t(now))
	if err != nil {
		return nil, wrapErr("find a replay to run", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, wrapErr("find a replay to run", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrapErr("find a replay to run", err)
	}
	for _, id := range ids {
		res, err := q.w.ExecContext(ctx, `UPDATE replays SET state = $1, lease_owner = $2, lease_until = $3, updated_at = $4,
			started_at = COALESCE(started_at, $4)
			WHERE id = $5 AND state IN ($1, $6) AND (lease_until IS NULL OR lease_until < $4)`,
			fluxhook.ReplayRunning, owner, q.d.t(now.Add(lease)), q.d.t(now), id, fluxhook.ReplayPending)
		if err != nil {
			return nil, wrapErr("claim replay", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, wrapErr("claim replay", err)
		} else if n == 1 {
			return q.Replay(ctx, id)
		}
	}
	return nil, nil
}

// ReplayProgress is how far a runner got.
type ReplayProgress struct {
	Cursor                 string
	Scanned, Matched, Sent int64
}

// AdvanceReplay records owner's progress and extends its lease to
// now+lease. ok is false when owner may not go on: the replay was
// cancelled, or its lease lapsed and another runner took it.
func (q *Queries) AdvanceReplay(ctx context.Context, id, owner string, p ReplayProgress, lease time.Duration) (ok bool, err error) {
	now := ts(q.now())
	res, err := q.w.ExecContext(ctx, `UPDATE replays SET resume_cursor = $1, events_scanned = $2, events_matched = $3, queued = $4,
		lease_until = $5, updated_at = $6 WHERE id = $7 AND lease_owner = $8 AND state = $9`,
		p.Cursor, p.Scanned, p.Matched, p.Sent, q.d.t(now.Add(lease)), q.d.t(now), id, owner, fluxhook.ReplayRunning)
	return affectedOne(res, err, "record replay progress")
}

// FinishReplay ends owner's replay in state (done or failed, with
// errText) with its last progress; ok as for AdvanceReplay.
func (q *Queries) FinishReplay(ctx context.Context, id, owner, state string, errText *string, p ReplayProgress) (ok bool, err error) {
	now := q.d.t(q.now())
	res, err := q.w.ExecContext(ctx, `UPDATE replays SET state = $1, error = $2, resume_cursor = $3, events_scanned = $4, events_matched = $5,
		queued = $6, finished_at = $7, updated_at = $7, lease_owner = NULL, lease_until = NULL
		WHERE id = $8 AND lease_owner = $9 AND state = $10`,
		state, errText, p.Cursor, p.Scanned, p.Matched, p.Sent, now, id, owner, fluxhook.ReplayRunning)
	return affectedOne(res, err, "finish replay")
}

// StoppedReplay records the last progress of owner's replay after it
// was cancelled.
func (q *Queries) StoppedReplay(ctx context.Context, id, owner string, p ReplayProgress) error {
	_, err := q.w.ExecContext(ctx, `UPDATE replays SET resume_cursor = $1, events_scanned = $2, events_matched = $3, queued = $4
		WHERE id = $5 AND lease_owner = $6 AND state = $7`, p.Cursor, p.Scanned, p.Matched, p.Sent, id, owner, fluxhook.ReplayCancelled)
	return wrapErr("record a cancelled replay's progress", err)
}

func affectedOne(res sql.Result, err error, op string) (bool, error) {
	if err != nil {
		return false, wrapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrapErr(op, err)
	}
	return n == 1, nil
}

// DeliveryState is where a delivery stands: its latest attempt's number
// and status.
type DeliveryState struct {
	Attempt int
	Status  string
}

// DeliveryStates returns the state of each of the given deliveries that
// has an attempt recorded; the others are missing from the map.
func (q *Queries) DeliveryStates(ctx context.Context, deliveryIDs []string) (map[string]DeliveryState, error) {
	out := map[string]DeliveryState{}
	var a args
	var in strings.Builder
	for _, id := range deliveryIDs {
		if !validID(id) {
			continue
		}
		if len(a) > 0 {
			in.WriteByte(',')
		}
		in.WriteString(a.add(id))
	}
	if len(a) == 0 {
		return out, nil
	}
	rows, err := q.r.QueryContext(ctx, `SELECT delivery_id, attempt, status FROM delivery_attempts WHERE delivery_id IN (`+in.String()+`)
		ORDER BY attempt, created_at, id`, a...)
	if err != nil {
		return nil, wrapErr("look up delivery states", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var s DeliveryState
		if err := rows.Scan(&id, &s.Attempt, &s.Status); err != nil {
			return nil, wrapErr("look up delivery states", err)
		}
		out[id] = s // the rows come in LatestAttempt's order: the last wins
	}
	return out, wrapErr("look up delivery states", rows.Err())
}

// maxReplayCursor bounds a cursor: it is a stream sequence or a delivery
// log cursor, both short.
const maxReplayCursor = 200

// SeqCursor and ParseSeqCursor write and read a replay's cursor into
// EVENTS: the next stream sequence to read.
func SeqCursor(next uint64) string { return strconv.FormatUint(next, 10) }

// ParseSeqCursor reads SeqCursor's cursor; "" (or garbage) is 0, from
// the start of the window.
func ParseSeqCursor(c string) uint64 {
	if len(c) > maxReplayCursor {
		return 0
	}
	n, _ := strconv.ParseUint(c, 10, 64)
	return n
}
