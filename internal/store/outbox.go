package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// InsertOutbox writes events to the outbox. Call it inside the
// transaction that makes the change the events describe.
func (q *Queries) InsertOutbox(ctx context.Context, events ...fluxhook.Event) error {
	for i := range events {
		e := &events[i]
		if e.ID == "" {
			e.ID = NewID()
		}
		if e.Timestamp.IsZero() {
			e.Timestamp = q.now().UTC()
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.Event, err)
		}
		var userID any
		if e.UserID != "" {
			userID = e.UserID
		}
		if _, err := q.w.ExecContext(ctx, `INSERT INTO outbox (id, event, user_id, payload, created_at) VALUES ($1,$2,$3,$4,$5)`,
			e.ID, e.Event, userID, payload, q.d.t(q.now())); err != nil {
			return wrapErr("insert outbox", err)
		}
	}
	return nil
}

// PendingOutbox returns up to limit unpublished events in the order they
// were written. Inside a transaction on PostgreSQL the rows are locked
// with SKIP LOCKED, so relays on several replicas take different batches.
func (q *Queries) PendingOutbox(ctx context.Context, limit int) ([]fluxhook.OutboxEvent, error) {
	rows, err := q.w.QueryContext(ctx, `SELECT payload, created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1`+q.d.skipLocked, limit)
	if err != nil {
		return nil, wrapErr("read outbox", err)
	}
	defer rows.Close()
	var out []fluxhook.OutboxEvent
	for rows.Next() {
		var payload []byte
		var oe fluxhook.OutboxEvent
		if err := rows.Scan(&payload, timeCol{&oe.CreatedAt}); err != nil {
			return nil, wrapErr("read outbox", err)
		}
		if err := json.Unmarshal(payload, &oe.Event); err != nil {
			return nil, fmt.Errorf("decode outbox payload: %w", err)
		}
		out = append(out, oe)
	}
	return out, wrapErr("read outbox", rows.Err())
}

// MarkOutboxPublished stamps events as published.
func (q *Queries) MarkOutboxPublished(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, q.d.t(at))
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = fmt.Sprintf("$%d", i+2)
	}
	_, err := q.w.ExecContext(ctx, `UPDATE outbox SET published_at = $1 WHERE id IN (`+strings.Join(ph, ",")+`)`, args...)
	return wrapErr("mark outbox published", err)
}

// OutboxBacklog counts unpublished events and the age of the oldest.
func (q *Queries) OutboxBacklog(ctx context.Context) (n int, oldest time.Duration, err error) {
	var created *time.Time
	err = q.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(created_at) FROM outbox WHERE published_at IS NULL`).Scan(&n, nullTimeCol{&created})
	if err != nil {
		return 0, 0, wrapErr("outbox backlog", err)
	}
	if created != nil {
		oldest = q.now().Sub(*created)
	}
	return n, oldest, nil
}

// PruneOutbox deletes up to limit events published before the given time.
func (q *Queries) PruneOutbox(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := q.w.ExecContext(ctx, `DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE published_at IS NOT NULL AND published_at < $1 LIMIT $2)`, q.d.t(before), limit)
	if err != nil {
		return 0, wrapErr("prune outbox", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
