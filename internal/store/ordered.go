package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fluxhook/fluxhook/internal/wire"
)

// The ordered lane's queue (migration 0005): the jobs of webhooks with
// ordering "fifo", kept per (webhook, ordering key) and delivered head
// first by one worker at a time, which holds the key with a lease.

// OrderedKey names one queue of the ordered lane, as claimed by a
// worker: Owner is the claim's lease token.
type OrderedKey struct {
	WebhookID string
	Key       string
	Owner     string
}

// ErrLeaseLost is returned when a worker's lease on an ordered key has
// passed to another worker: it must stop delivering that key.
var ErrLeaseLost = errors.New("the lease on the ordered key was lost")

// EnqueueOrdered stores ordered jobs (each with its Order) in their keys'
// queues, in one transaction, and makes each key due now unless it waits
// for a retry. A job stored already (a redelivered event) is left as it
// is, and so is a job whose webhook is gone.
func (db *DB) EnqueueOrdered(ctx context.Context, jobs []wire.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	return db.Tx(ctx, func(q *Queries) error {
		now := q.d.t(q.now())
		for _, j := range jobs {
			if j.Order == nil {
				return fmt.Errorf("enqueue ordered job %s: it has no order", j.DeliveryID)
			}
			if !validID(j.WebhookID) {
				continue // no such webhook
			}
			res, err := q.w.ExecContext(ctx, `INSERT INTO ordered_jobs (delivery_id, webhook_id, ordering_key, event_seq, event_index,
				event_id, event, user_id, payload, event_at, attempt, parked, first_attempt_at, again, created_at)
				SELECT $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $2)
				ON CONFLICT (delivery_id) DO NOTHING`,
				j.DeliveryID, j.WebhookID, j.Order.Key, int64(j.Order.Seq), j.Order.Index, j.EventID, j.Event, nullStr(j.UserID),
				[]byte(j.Payload), q.d.tp(nonZero(j.EventAt)), j.Attempt, j.Parked, q.d.tp(nonZero(j.FirstAttemptAt)), j.Again, now)
			if err != nil {
				return wrapErr("enqueue ordered job", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if _, err := q.w.ExecContext(ctx, `INSERT INTO ordered_keys (webhook_id, ordering_key, next_at, version) VALUES ($1,$2,$3,1)
				ON CONFLICT (webhook_id, ordering_key) DO UPDATE SET version = ordered_keys.version + 1,
				next_at = COALESCE(ordered_keys.next_at, excluded.next_at)`, j.WebhookID, j.Order.Key, now); err != nil {
				return wrapErr("enqueue ordered job", err)
			}
		}
		return nil
	})
}

// ClaimOrderedKeys leases up to limit keys to owner until until: keys
// that are due at now, not leased (or whose lease ran out), of an active
// webhook, and whose head's event is at or below floor in the EVENTS
// stream (every event up to floor is dispatched, so nothing can still
// arrive ahead of that head). Several workers claiming at once get
// different keys.
func (db *DB) ClaimOrderedKeys(ctx context.Context, owner string, floor uint64, limit int, until time.Time) ([]OrderedKey, error) {
	if limit <= 0 {
		return nil, nil
	}
	now := db.now()
	lock := ""
	if db.dialect.name == "postgres" {
		lock = " FOR UPDATE OF k2 SKIP LOCKED"
	}
	rows, err := db.write.QueryContext(ctx, `UPDATE ordered_keys SET lease_owner = $1, lease_until = $2
		WHERE (webhook_id, ordering_key) IN (
			SELECT k2.webhook_id, k2.ordering_key FROM ordered_keys k2 JOIN webhooks w ON w.id = k2.webhook_id
			WHERE k2.next_at IS NOT NULL AND k2.next_at <= $3 AND (k2.lease_until IS NULL OR k2.lease_until < $3) AND w.is_active
			AND EXISTS (SELECT 1 FROM ordered_jobs j WHERE j.webhook_id = k2.webhook_id AND j.ordering_key = k2.ordering_key AND j.event_seq <= $4)
			ORDER BY k2.next_at LIMIT $5`+lock+`)
		RETURNING webhook_id, ordering_key`, owner, db.dialect.t(until), db.dialect.t(now), int64(floor), limit)
	if err != nil {
		return nil, wrapErr("claim ordered keys", err)
	}
	defer rows.Close()
	var out []OrderedKey
	for rows.Next() {
		k := OrderedKey{Owner: owner}
		if err := rows.Scan(&k.WebhookID, &k.Key); err != nil {
			return nil, wrapErr("claim ordered keys", err)
		}
		out = append(out, k)
	}
	return out, wrapErr("claim ordered keys", rows.Err())
}

// OrderedDue reports whether any key is due (leased or not): a read,
// so that a lane with nothing to do costs neither a write nor a look at
// the floor.
func (db *DB) OrderedDue(ctx context.Context) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM ordered_keys WHERE next_at IS NOT NULL AND next_at <= $1 LIMIT 1) due`,
		db.dialect.t(db.now())).Scan(&n)
	return n > 0, wrapErr("look for due ordered keys", err)
}

// OrderedHead returns the first job of a key's queue, or nil when it is
// empty, with the key's version as it was before the head was read (for
// IdleOrdered).
func (db *DB) OrderedHead(ctx context.Context, k OrderedKey) (*wire.Job, int64, error) {
	var version int64
	err := db.read.QueryRowContext(ctx, `SELECT version FROM ordered_keys WHERE webhook_id = $1 AND ordering_key = $2`,
		k.WebhookID, k.Key).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil // the webhook was deleted
	}
	if err != nil {
		return nil, 0, wrapErr("read ordered head", err)
	}
	j := wire.Job{Order: &wire.Order{Key: k.Key}}
	var seq int64
	var userID *string
	var payload []byte
	var eventAt, firstAt *time.Time
	err = db.read.QueryRowContext(ctx, `SELECT delivery_id, webhook_id, event_seq, event_index, event_id, event, user_id, payload,
		event_at, attempt, parked, first_attempt_at, again FROM ordered_jobs WHERE webhook_id = $1 AND ordering_key = $2
		ORDER BY event_seq, event_index LIMIT 1`, k.WebhookID, k.Key).Scan(&j.DeliveryID, &j.WebhookID, &seq, &j.Order.Index,
		&j.EventID, &j.Event, &userID, &payload, nullTimeCol{&eventAt}, &j.Attempt, &j.Parked, nullTimeCol{&firstAt}, &j.Again)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, version, nil
	}
	if err != nil {
		return nil, 0, wrapErr("read ordered head", err)
	}
	j.Order.Seq, j.Payload = uint64(seq), payload
	if userID != nil {
		j.UserID = *userID
	}
	if eventAt != nil {
		j.EventAt = *eventAt
	}
	if firstAt != nil {
		j.FirstAttemptAt = *firstAt
	}
	return &j, version, nil
}

// RenewOrderedLease extends k's lease to until, or returns ErrLeaseLost
// when another worker holds it now.
func (db *DB) RenewOrderedLease(ctx context.Context, k OrderedKey, until time.Time) error {
	res, err := db.write.ExecContext(ctx, `UPDATE ordered_keys SET lease_until = $4 WHERE webhook_id = $1 AND ordering_key = $2 AND lease_owner = $3`,
		k.WebhookID, k.Key, k.Owner, db.dialect.t(until))
	if err != nil {
		return wrapErr("renew ordered lease", err)
	}
	return leaseHeld(res)
}

// ReleaseOrdered lets k go as it is, for any worker to claim when due.
func (db *DB) ReleaseOrdered(ctx context.Context, k OrderedKey) error {
	res, err := db.write.ExecContext(ctx, `UPDATE ordered_keys SET lease_owner = NULL, lease_until = NULL WHERE webhook_id = $1 AND ordering_key = $2 AND lease_owner = $3`,
		k.WebhookID, k.Key, k.Owner)
	if err != nil {
		return wrapErr("release ordered key", err)
	}
	return leaseHeld(res)
}

// RemoveOrdered deletes a key's job, delivered or given up, and reports
// ErrLeaseLost when the key is no longer k's holder's (the job is
// deleted all the same: it is done).
func (db *DB) RemoveOrdered(ctx context.Context, k OrderedKey, deliveryID string) error {
	return db.Tx(ctx, func(q *Queries) error {
		if _, err := q.w.ExecContext(ctx, `DELETE FROM ordered_jobs WHERE delivery_id = $1`, deliveryID); err != nil {
			return wrapErr("remove ordered job", err)
		}
		res, err := q.w.ExecContext(ctx, `UPDATE ordered_keys SET lease_owner = lease_owner WHERE webhook_id = $1 AND ordering_key = $2 AND lease_owner = $3`,
			k.WebhookID, k.Key, k.Owner)
		if err != nil {
			return wrapErr("remove ordered job", err)
		}
		return leaseHeld(res)
	})
}

// PostponeOrdered stores what became of the head job (its attempt
// count, parkings and first attempt), and releases k until at, when the
// head is tried again.
func (db *DB) PostponeOrdered(ctx context.Context, k OrderedKey, j wire.Job, at time.Time) error {
	return db.Tx(ctx, func(q *Queries) error {
		res, err := q.w.ExecContext(ctx, `UPDATE ordered_keys SET next_at = $4, lease_owner = NULL, lease_until = NULL
			WHERE webhook_id = $1 AND ordering_key = $2 AND lease_owner = $3`, k.WebhookID, k.Key, k.Owner, q.d.t(at))
		if err != nil {
			return wrapErr("postpone ordered job", err)
		}
		if err := leaseHeld(res); err != nil {
			return err
		}
		_, err = q.w.ExecContext(ctx, `UPDATE ordered_jobs SET attempt = $2, parked = $3, first_attempt_at = $4 WHERE delivery_id = $1`,
			j.DeliveryID, j.Attempt, j.Parked, q.d.tp(nonZero(j.FirstAttemptAt)))
		return wrapErr("postpone ordered job", err)
	})
}

// IdleOrdered releases k, whose queue was found empty at version: the key
// rests until a job is enqueued, or, when one was enqueued since (the
// version moved on), it stays due (at the time it was claimed for).
func (db *DB) IdleOrdered(ctx context.Context, k OrderedKey, version int64) error {
	res, err := db.write.ExecContext(ctx, `UPDATE ordered_keys SET next_at = CASE WHEN version = $4 THEN NULL ELSE next_at END,
		lease_owner = NULL, lease_until = NULL WHERE webhook_id = $1 AND ordering_key = $2 AND lease_owner = $3`,
		k.WebhookID, k.Key, k.Owner, version)
	if err != nil {
		return wrapErr("idle ordered key", err)
	}
	return leaseHeld(res)
}

// OrderedBacklog counts the jobs waiting in the ordered lane.
func (db *DB) OrderedBacklog(ctx context.Context) (int, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM ordered_jobs`).Scan(&n)
	return n, wrapErr("ordered backlog", err)
}

func leaseHeld(res sql.Result) error {
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrLeaseLost
	}
	return nil
}

func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}
