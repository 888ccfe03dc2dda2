package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const attemptCols = `id, delivery_id, webhook_id, event_id, event, payload, status, attempt, status_code,
	response_body, error, duration_ms, created_at, delivered_at, next_attempt_at`

// attemptParams is the number of columns, hence parameters, per attempt row.
const attemptParams = 15

// attemptChunk caps the rows per INSERT. Beyond a few hundred rows a
// statement gets no faster per row, and 500 × 15 parameters stays far
// below both drivers' limits (PostgreSQL 65,535; SQLite 32,766 as
// modernc.org/sqlite is built).
const attemptChunk = 500

func scanAttempt(row interface{ Scan(...any) error }) (*fluxhook.Attempt, error) {
	var a fluxhook.Attempt
	var payload []byte
	var statusCode, durationMS sql.NullInt64
	var body, errText sql.NullString
	if err := row.Scan(&a.ID, &a.DeliveryID, &a.WebhookID, &a.EventID, &a.Event, &payload, &a.Status, &a.Attempt, &statusCode,
		&body, &errText, &durationMS, timeCol{&a.CreatedAt}, nullTimeCol{&a.DeliveredAt}, nullTimeCol{&a.NextAttemptAt}); err != nil {
		return nil, err
	}
	// An empty payload reads back as nil, which encodes as JSON null; an
	// empty json.RawMessage would make encoding/json fail.
	if len(payload) > 0 {
		a.Payload = json.RawMessage(payload)
	}
	if statusCode.Valid {
		v := int(statusCode.Int64)
		a.StatusCode = &v
	}
	if durationMS.Valid {
		v := int(durationMS.Int64)
		a.DurationMS = &v
	}
	if body.Valid {
		a.ResponseBody = &body.String
	}
	if errText.Valid {
		a.Error = &errText.String
	}
	return &a, nil
}

// pgText makes s storable in a PostgreSQL TEXT column, which rejects
// invalid UTF-8 and NUL bytes. Response bodies and error messages come
// from arbitrary endpoints; one bad byte must not make a whole batch of
// attempts unwritable (the recorder would retry it forever), and a log
// line with U+FFFD in it is worth more than none. SQLite gets the same
// text so that both stores return the same thing.
func pgText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

func pgTextp(s *string) *string {
	if s == nil {
		return nil
	}
	if v := pgText(*s); v != *s {
		return &v
	}
	return s
}

// int32Field reports a value an INTEGER column (32 bits in PostgreSQL)
// cannot hold.
func int32Field(details map[string]string, name string, v *int) {
	if v != nil && (*v < math.MinInt32 || *v > math.MaxInt32) {
		details[name] = "is out of range"
	}
}

// prepareAttempt fills in and normalises a the way the database will
// store it, so that the caller's struct matches a later read, and
// rejects what no retry could ever write.
func prepareAttempt(a *fluxhook.Attempt, now time.Time) error {
	if a.ID == "" {
		a.ID = NewID()
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	a.CreatedAt = ts(a.CreatedAt)
	a.DeliveredAt, a.NextAttemptAt = tsp(a.DeliveredAt), tsp(a.NextAttemptAt)
	a.Event, a.Status = pgText(a.Event), pgText(a.Status)
	a.ResponseBody, a.Error = pgTextp(a.ResponseBody), pgTextp(a.Error)

	details := map[string]string{}
	for name, id := range map[string]string{"id": a.ID, "delivery_id": a.DeliveryID, "webhook_id": a.WebhookID, "event_id": a.EventID} {
		if !validID(id) {
			details[name] = "must be a UUID"
		}
	}
	attempt := a.Attempt
	int32Field(details, "attempt", &attempt)
	int32Field(details, "status_code", a.StatusCode)
	int32Field(details, "duration_ms", a.DurationMS)
	if len(details) > 0 {
		e := fluxhook.Invalid(details)
		e.Message = fmt.Sprintf("Attempt %q of delivery %q cannot be stored. %s", a.ID, a.DeliveryID, e.Message)
		return e
	}
	return nil
}

// InsertAttempts writes attempts to the delivery log in multi-row
// INSERTs of up to 500 rows. It fills in ID and CreatedAt where they are
// empty, before writing anything, and normalises the structs the way the
// database stores them (times to microseconds, text made valid UTF-8
// without NUL bytes).
//
// Rows whose id already exists are skipped, so calling it again with the
// same structs after an error — even one that hid a successful commit —
// never duplicates a row. Outside a transaction each chunk of 500 commits
// on its own; a retry writes whatever an earlier call did not.
//
// An attempt that cannot be stored (an id that is not a UUID, a number
// beyond 32 bits) fails the whole call with a KindInvalid error before
// anything is written: no retry could store it.
func (q *Queries) InsertAttempts(ctx context.Context, as []*fluxhook.Attempt) error {
	now := q.now()
	for i, a := range as {
		if a == nil {
			return fluxhook.Errorf(fluxhook.KindInvalid, "VALIDATION_FAILED", "Attempt %d of %d is nil.", i, len(as))
		}
		if err := prepareAttempt(a, now); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(as, attemptChunk) {
		query, args := q.insertAttemptsQuery(chunk)
		if _, err := q.w.ExecContext(ctx, query, args...); err != nil {
			return wrapErr("insert attempts", err)
		}
	}
	return nil
}

func (q *Queries) insertAttemptsQuery(as []*fluxhook.Attempt) (string, []any) {
	// SQLite binds anonymous ? parameters by position, while numbered ones
	// cost a search of the names seen so far (see TouchClientKeys).
	pg := q.d.name == "postgres"
	rows := len(as)
	if pg {
		rows = paddedRows(rows)
	}
	var sb strings.Builder
	sb.Grow(rows * attemptParams * 6)
	sb.WriteString(`INSERT INTO delivery_attempts (` + attemptCols + `) VALUES `)
	args := make([]any, 0, rows*attemptParams)
	for i := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('(')
		for j := range attemptParams {
			if j > 0 {
				sb.WriteByte(',')
			}
			if pg {
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(i*attemptParams + j + 1))
			} else {
				sb.WriteByte('?')
			}
		}
		sb.WriteByte(')')
		a := as[min(i, len(as)-1)]
		payload := []byte(a.Payload)
		if payload == nil {
			// nil would be NULL, and the column is NOT NULL.
			payload = []byte{}
		}
		args = append(args, a.ID, a.DeliveryID, a.WebhookID, a.EventID, a.Event, payload, a.Status, a.Attempt,
			nullInt(a.StatusCode), nullString(a.ResponseBody), nullString(a.Error), nullInt(a.DurationMS),
			q.d.t(a.CreatedAt), q.d.tp(a.DeliveredAt), q.d.tp(a.NextAttemptAt))
	}
	sb.WriteString(` ON CONFLICT (id) DO NOTHING`)
	return sb.String(), args
}

// paddedRows rounds a row count up to a power of two (or the chunk
// size). pgx prepares and caches every distinct statement on each
// PostgreSQL connection, and the recorder's batches come in every size
// from 1 to 500: measured, one connection's backend held 326 MB after
// seeing each size once; with these ten sizes it stayed under 6 MB. The
// extra rows repeat the last one, which ON CONFLICT (id) DO NOTHING skips.
func paddedRows(n int) int {
	p := 1
	for p < n {
		p *= 2
	}
	return min(p, max(n, attemptChunk))
}

// Attempts returns up to limit attempts made for a webhook, newest first.
func (q *Queries) Attempts(ctx context.Context, webhookID string, limit int) ([]*fluxhook.Attempt, error) {
	out := []*fluxhook.Attempt{}
	if !validID(webhookID) || limit <= 0 {
		return out, nil
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+attemptCols+` FROM delivery_attempts WHERE webhook_id = $1
		ORDER BY created_at DESC, id DESC LIMIT $2`, webhookID, limit)
	if err != nil {
		return nil, wrapErr("list attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, wrapErr("list attempts", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list attempts", err)
	}
	return out, nil
}

// Attempt returns one attempt by its own id (a delivery row's "id", as
// opposed to the delivery_id its attempts share).
func (q *Queries) Attempt(ctx context.Context, id string) (*fluxhook.Attempt, error) {
	if !validID(id) {
		return nil, fluxhook.NotFound("delivery")
	}
	a, err := scanAttempt(q.r.QueryRowContext(ctx, `SELECT `+attemptCols+` FROM delivery_attempts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("delivery")
	}
	if err != nil {
		return nil, wrapErr("get attempt", err)
	}
	return a, nil
}

// LatestAttempt returns the attempt of a delivery with the highest
// attempt number: the delivery's current state.
func (q *Queries) LatestAttempt(ctx context.Context, deliveryID string) (*fluxhook.Attempt, error) {
	if !validID(deliveryID) {
		return nil, fluxhook.NotFound("delivery")
	}
	// The attempt number decides; created_at and id only break ties
	// between duplicates that at-least-once delivery can record.
	a, err := scanAttempt(q.r.QueryRowContext(ctx, `SELECT `+attemptCols+` FROM delivery_attempts WHERE delivery_id = $1
		ORDER BY attempt DESC, created_at DESC, id DESC LIMIT 1`, deliveryID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("delivery")
	}
	if err != nil {
		return nil, wrapErr("get latest attempt", err)
	}
	return a, nil
}

// PruneAttempts deletes up to limit attempts created before the given
// time, oldest first, and returns how many it deleted. Retention calls
// it in a loop until it deletes fewer than limit: each statement is short
// and locks only the rows it deletes, so pruning a month of history
// never stalls the recorder's inserts.
func (q *Queries) PruneAttempts(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM delivery_attempts WHERE id IN
		(SELECT id FROM delivery_attempts WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, q.d.t(before), limit)
	if err != nil {
		return 0, wrapErr("prune attempts", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrapErr("prune attempts", err)
	}
	return n, nil
}
