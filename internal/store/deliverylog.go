package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// The dashboard's reads of the delivery log: deliveries across webhooks
// with filters, one delivery's attempts, and the figures behind its
// health charts. They only read delivery_attempts, the rows the worker
// and the API already write, through the indexes it already has.

// DeliveryFilter selects deliveries for ListDeliveries. A delivery is
// shown as its latest attempt (the highest attempt number), so Status
// is its current state.
type DeliveryFilter struct {
	// OwnerID limits the list to the webhooks of one user; "" is every
	// webhook (an admin's view).
	OwnerID   string
	WebhookID string   // "" for every webhook
	Statuses  []string // any of these (fluxhook.Delivery*); none for all
	// Event is an exact event name, or a prefix ending in ".*".
	Event        string
	Since, Until time.Time // of the latest attempt; zero for no bound
	// After continues a list from the cursor of its last page.
	After *DeliveryCursor
	Limit int
}

// DeliveryCursor is where a page of deliveries ended: the latest attempt
// of its last delivery. Lists are ordered by it, newest first.
type DeliveryCursor struct {
	CreatedAt time.Time
	ID        string
}

// String encodes the cursor for a URL: opaque to clients.
func (c DeliveryCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID))
}

// ParseDeliveryCursor decodes a cursor that String made.
func ParseDeliveryCursor(s string) (*DeliveryCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("cursor: not one this server gave")
	}
	micros, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	// Years 1970 to 9999: a time PostgreSQL's timestamp holds (a forged
	// one outside made it answer 500).
	const maxMicros = 253402300799999999
	if !ok || err != nil || !validID(id) || n < 0 || n > maxMicros {
		return nil, fmt.Errorf("cursor: not one this server gave")
	}
	return &DeliveryCursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, nil
}

// args collects query parameters and writes their placeholders.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// maxOwnWebhooks is how many webhooks of one owner listOwnDeliveries
// reads one by one; an owner with more is listed by the query across
// webhooks.
const maxOwnWebhooks = 100

// listOwnDeliveries is ListDeliveries for one owner's webhooks, read
// webhook by webhook through the index by webhook and merged. The query
// across webhooks, limited to the owner's, walks the index by time
// through every tenant's attempts until it has a page: for an owner
// with few deliveries, the whole retention (1.5-2.7 s for one row on
// PostgreSQL with a million attempts). ok is false when the owner has
// too many webhooks for this.
func (q *Queries) listOwnDeliveries(ctx context.Context, f DeliveryFilter) (list []*fluxhook.Attempt, next *DeliveryCursor, ok bool, err error) {
	rows, err := q.r.QueryContext(ctx, `SELECT id FROM webhooks WHERE user_id = $1 LIMIT $2`, f.OwnerID, maxOwnWebhooks+1)
	if err != nil {
		return nil, nil, false, wrapErr("list deliveries", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, false, wrapErr("list deliveries", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, wrapErr("list deliveries", err)
	}
	if len(ids) > maxOwnWebhooks {
		return nil, nil, false, nil
	}
	list = []*fluxhook.Attempt{}
	more := false // a webhook has deliveries past its page
	one := f
	one.OwnerID = ""
	for _, id := range ids {
		one.WebhookID = id
		page, next, err := q.ListDeliveries(ctx, one)
		if err != nil {
			return nil, nil, false, err
		}
		list = append(list, page...)
		more = more || next != nil
	}
	// Each webhook's page is its newest Limit: the merged newest Limit
	// are among them.
	slices.SortFunc(list, func(x, y *fluxhook.Attempt) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	if len(list) < f.Limit || len(list) == f.Limit && !more {
		return list, nil, true, nil
	}
	list = list[:f.Limit]
	last := list[len(list)-1]
	return list, &DeliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID}, true, nil
}

// ownerClause limits the attempts aliased "a" to the webhooks of owner.
func ownerClause(a *args, owner string) string {
	return ` AND a.webhook_id IN (SELECT id FROM webhooks WHERE user_id = ` + a.add(owner) + `)`
}

// ListDeliveries returns up to f.Limit deliveries, newest first (by
// their latest attempt), each as its latest attempt, and the cursor of
// the next page (nil when this one is the last).
func (q *Queries) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*fluxhook.Attempt, *DeliveryCursor, error) {
	out := []*fluxhook.Attempt{}
	if f.Limit <= 0 || (f.OwnerID != "" && !validID(f.OwnerID)) || (f.WebhookID != "" && !validID(f.WebhookID)) {
		return out, nil, nil
	}
	if f.OwnerID != "" && f.WebhookID == "" {
		if merged, next, ok, err := q.listOwnDeliveries(ctx, f); ok || err != nil {
			return merged, next, err
		}
	}
	var a args
	var where strings.Builder
	// The latest attempt of its delivery: no attempt of the same delivery
	// comes after it in LatestAttempt's order.
	where.WriteString(`NOT EXISTS (SELECT 1 FROM delivery_attempts b WHERE b.delivery_id = a.delivery_id
		AND (b.attempt, b.created_at, b.id) > (a.attempt, a.created_at, a.id))`)
	if f.OwnerID != "" {
		where.WriteString(ownerClause(&a, f.OwnerID))
	}
	if f.WebhookID != "" {
		where.WriteString(` AND a.webhook_id = ` + a.add(f.WebhookID))
	}
	if len(f.Statuses) > 0 {
		ph := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ph[i] = a.add(s)
		}
		where.WriteString(` AND a.status IN (` + strings.Join(ph, ",") + `)`)
	}
	if prefix, ok := strings.CutSuffix(f.Event, "*"); ok {
		where.WriteString(` AND substr(a.event, 1, ` + a.add(len(prefix)) + `) = ` + a.add(prefix))
	} else if f.Event != "" {
		where.WriteString(` AND a.event = ` + a.add(f.Event))
	}
	if !f.Since.IsZero() {
		where.WriteString(` AND a.created_at >= ` + a.add(q.d.t(f.Since)))
	}
	if !f.Until.IsZero() {
		where.WriteString(` AND a.created_at < ` + a.add(q.d.t(f.Until)))
	}
	if f.After != nil {
		where.WriteString(` AND (a.created_at, a.id) < (` + a.add(q.d.t(f.After.CreatedAt)) + `, ` + a.add(f.After.ID) + `)`)
	}
	limit := a.add(f.Limit + 1)
	cols := "a." + strings.ReplaceAll(strings.Join(strings.Fields(attemptCols), " "), ", ", ", a.")
	rows, err := q.r.QueryContext(ctx, `SELECT `+cols+` FROM delivery_attempts a WHERE `+where.String()+`
		ORDER BY a.created_at DESC, a.id DESC LIMIT `+limit, a...)
	if err != nil {
		return nil, nil, wrapErr("list deliveries", err)
	}
	defer rows.Close()
	for rows.Next() {
		at, err := scanAttempt(rows)
		if err != nil {
			return nil, nil, wrapErr("list deliveries", err)
		}
		out = append(out, at)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, wrapErr("list deliveries", err)
	}
	if len(out) <= f.Limit {
		return out, nil, nil
	}
	out = out[:f.Limit]
	last := out[len(out)-1]
	return out, &DeliveryCursor{CreatedAt: last.CreatedAt, ID: last.ID}, nil
}

// DeliveryAttempts returns every attempt of one delivery, first to
// last; none when there is no such delivery.
func (q *Queries) DeliveryAttempts(ctx context.Context, deliveryID string) ([]*fluxhook.Attempt, error) {
	out := []*fluxhook.Attempt{}
	if !validID(deliveryID) {
		return out, nil
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+attemptCols+` FROM delivery_attempts WHERE delivery_id = $1
		ORDER BY attempt, created_at, id`, deliveryID)
	if err != nil {
		return nil, wrapErr("list a delivery's attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		at, err := scanAttempt(rows)
		if err != nil {
			return nil, wrapErr("list a delivery's attempts", err)
		}
		out = append(out, at)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("list a delivery's attempts", err)
	}
	return out, nil
}

// AttemptCounts are a webhook's attempts over a window.
type AttemptCounts struct {
	Attempts  int
	Delivered int // attempts the endpoint answered with 2xx
}

// AttemptCountsSince counts the attempts made since a time, by webhook,
// for the webhooks of owner ("" for every webhook).
func (q *Queries) AttemptCountsSince(ctx context.Context, owner string, since time.Time) (map[string]AttemptCounts, error) {
	out := map[string]AttemptCounts{}
	if owner != "" && !validID(owner) {
		return out, nil
	}
	var a args
	delivered := a.add(fluxhook.DeliveryDelivered)
	var query string
	if owner != "" {
		// One owner's: driven from their webhooks, each read through the
		// (webhook_id, created_at) index; through the time index it
		// would read every tenant's day (1.2 s on PostgreSQL with a
		// million attempts).
		query = `SELECT a.webhook_id, COUNT(*), SUM(CASE WHEN a.status = ` + delivered + ` THEN 1 ELSE 0 END)
			FROM webhooks w JOIN delivery_attempts a ON a.webhook_id = w.id AND a.created_at >= ` + a.add(q.d.t(since)) + `
			WHERE w.user_id = ` + a.add(owner) + ` GROUP BY a.webhook_id`
	} else {
		// Everyone's. SQLite would walk the (webhook_id, created_at)
		// index to save the GROUP BY a sort, reading every row of the
		// table: measured, 4 s for a day of 300,000 attempts, against
		// 0.5 s through the time index.
		from := `delivery_attempts a`
		if q.d.name == "sqlite" {
			from += ` INDEXED BY delivery_attempts_created_idx`
		}
		query = `SELECT a.webhook_id, COUNT(*), SUM(CASE WHEN a.status = ` + delivered + ` THEN 1 ELSE 0 END)
			FROM ` + from + ` WHERE a.created_at >= ` + a.add(q.d.t(since)) + ` GROUP BY a.webhook_id`
	}
	rows, err := q.r.QueryContext(ctx, query, a...)
	if err != nil {
		return nil, wrapErr("count attempts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var c AttemptCounts
		if err := rows.Scan(&id, &c.Attempts, &c.Delivered); err != nil {
			return nil, wrapErr("count attempts", err)
		}
		out[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("count attempts", err)
	}
	return out, nil
}

// LastAttempt returns a webhook's most recent attempt, or nil when it has
// none. It reads one row of the (webhook_id, created_at) index.
func (q *Queries) LastAttempt(ctx context.Context, webhookID string) (*fluxhook.Attempt, error) {
	list, err := q.Attempts(ctx, webhookID, 1)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

// LatencyBounds are the upper bounds, in milliseconds, of the latency
// buckets that AttemptTimeline counts attempts in: each about 25 % above
// the one before, so a percentile read from them is within 25 %.
var LatencyBounds = func() []int {
	b := []int{1}
	for b[len(b)-1] < 60_000 {
		next := b[len(b)-1] * 5 / 4
		b = append(b, max(next, b[len(b)-1]+1))
	}
	return b
}()

// TimelineRow counts the attempts of one minute that came to one outcome
// and took one bucket's time.
type TimelineRow struct {
	Minute    time.Time // the minute's start, UTC
	Delivered bool
	// Bucket indexes LatencyBounds; len(LatencyBounds) is slower than the
	// last bound, and -1 is no duration (the request never went out).
	Bucket int
	Count  int
}

// AttemptTimeline counts the attempts made in [from, to) by minute,
// outcome and latency bucket, for one webhook (webhookID) or the webhooks
// of owner ("" for both: every webhook). The database does the counting,
// so the answer stays small however many attempts the window holds.
func (q *Queries) AttemptTimeline(ctx context.Context, owner, webhookID string, from, to time.Time) ([]TimelineRow, error) {
	out := []TimelineRow{}
	if (owner != "" && !validID(owner)) || (webhookID != "" && !validID(webhookID)) {
		return out, nil
	}
	var a args
	var bucket strings.Builder
	bucket.WriteString(`CASE WHEN a.duration_ms IS NULL THEN -1`)
	for i, b := range LatencyBounds {
		fmt.Fprintf(&bucket, ` WHEN a.duration_ms <= %d THEN %d`, b, i)
	}
	fmt.Fprintf(&bucket, ` ELSE %d END`, len(LatencyBounds))
	// The minute as text of the same form in both databases; SQLite's
	// fixed-width times start with it.
	minute := `substr(a.created_at, 1, 16)`
	if q.d.name == "postgres" {
		minute = `to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI')`
	}
	where := `a.created_at >= ` + a.add(q.d.t(from)) + ` AND a.created_at < ` + a.add(q.d.t(to))
	if owner != "" {
		where += ownerClause(&a, owner)
	}
	if webhookID != "" {
		where += ` AND a.webhook_id = ` + a.add(webhookID)
	}
	ok := `CASE WHEN a.status = ` + a.add(fluxhook.DeliveryDelivered) + ` THEN 1 ELSE 0 END`
	rows, err := q.r.QueryContext(ctx, `SELECT m, ok, bucket, COUNT(*) FROM (SELECT `+minute+` AS m, `+ok+` AS ok, `+bucket.String()+` AS bucket
		FROM delivery_attempts a WHERE `+where+`) t GROUP BY m, ok, bucket ORDER BY m`, a...)
	if err != nil {
		return nil, wrapErr("count attempts by minute", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m string
		var okN int
		var r TimelineRow
		if err := rows.Scan(&m, &okN, &r.Bucket, &r.Count); err != nil {
			return nil, wrapErr("count attempts by minute", err)
		}
		if r.Minute, err = time.Parse("2006-01-02T15:04", m); err != nil {
			return nil, wrapErr("count attempts by minute", err)
		}
		r.Delivered = okN == 1
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr("count attempts by minute", err)
	}
	return out, nil
}
