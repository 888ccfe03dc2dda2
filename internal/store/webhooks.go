package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const webhookCols = `id, user_id, url, events, description, is_active, secret_enc, prev_secret_enc, prev_secret_expires_at,
	rate_limit_per_second, headers, disabled_reason, failing_since, created_at, updated_at, filter, ordering`

var errWebhookExists = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "WEBHOOK_EXISTS", Message: "A webhook with this id already exists."}

// ActiveWebhook is an active webhook with its owner's role, which the
// dispatcher needs to decide which events the owner may receive.
type ActiveWebhook struct {
	*fluxhook.Webhook
	OwnerRole fluxhook.Role
}

func scanWebhook(row interface{ Scan(...any) error }, extra ...any) (*fluxhook.Webhook, error) {
	var w fluxhook.Webhook
	var events, headers []byte
	var ordering *string
	dest := []any{&w.ID, &w.UserID, &w.URL, &events, &w.Description, &w.IsActive, &w.SecretEnc, &w.PrevSecretEnc, nullTimeCol{&w.PrevSecretExpires},
		&w.RateLimitPerSecond, &headers, &w.DisabledReason, nullTimeCol{&w.FailingSince}, timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt}, &w.Filter, &ordering}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(events, &w.Events); err != nil {
		return nil, fmt.Errorf("decode events of webhook %s: %w", w.ID, err)
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	if ordering != nil {
		w.Ordering = *ordering
	}
	if headers != nil {
		if err := json.Unmarshal(headers, &w.Headers); err != nil {
			return nil, fmt.Errorf("decode headers of webhook %s: %w", w.ID, err)
		}
		if len(w.Headers) == 0 {
			w.Headers = nil
		}
	}
	return &w, nil
}

// webhookArgs encodes the JSON columns: no headers is NULL, so that "none"
// has one representation.
func webhookArgs(w *fluxhook.Webhook) (events string, headers any, err error) {
	if w.Events == nil {
		w.Events = []string{}
	}
	if events, err = jsonArray(w.Events); err != nil {
		return "", nil, fmt.Errorf("encode events: %w", err)
	}
	if len(w.Headers) == 0 {
		return events, nil, nil
	}
	b, err := json.Marshal(w.Headers)
	if err != nil {
		return "", nil, fmt.Errorf("encode headers: %w", err)
	}
	return events, string(b), nil
}

// checkWebhook applies the store's text rule (text.go) to a webhook's
// fields, as webhookArgs encodes them.
func checkWebhook(w *fluxhook.Webhook, events string, headers any) error {
	h, _ := headers.(string)
	return checkText(textField("url", w.URL), jsonField("events", []byte(events)), textPtrField("description", w.Description),
		jsonField("headers", []byte(h)), textPtrField("disabled_reason", w.DisabledReason), textPtrField("filter", w.Filter), textField("ordering", w.Ordering))
}

func nullInt(n *int) any {
	if n == nil {
		return nil
	}
	return int64(*n)
}

// CreateWebhook inserts w, filling in ID and times when empty. The caller
// may set ID beforehand: it seals the secret with the id as associated
// data.
func (q *Queries) CreateWebhook(ctx context.Context, w *fluxhook.Webhook) error {
	if w.ID == "" {
		w.ID = NewID()
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = q.now()
	}
	w.CreatedAt = ts(w.CreatedAt)
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = w.CreatedAt
	}
	w.UpdatedAt = ts(w.UpdatedAt)
	w.PrevSecretExpires, w.FailingSince = tsp(w.PrevSecretExpires), tsp(w.FailingSince)
	events, headers, err := webhookArgs(w)
	if err != nil {
		return err
	}
	if err := checkWebhook(w, events, headers); err != nil {
		return err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO webhooks (`+webhookCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
		w.ID, w.UserID, w.URL, events, nullString(w.Description), w.IsActive, w.SecretEnc, w.PrevSecretEnc, q.d.tp(w.PrevSecretExpires),
		nullInt(w.RateLimitPerSecond), headers, nullString(w.DisabledReason), q.d.tp(w.FailingSince), q.d.t(w.CreatedAt), q.d.t(w.UpdatedAt), nullString(w.Filter), nullStr(w.Ordering))
	if isUnique(err) {
		return errWebhookExists
	}
	return wrapErr("create webhook", err)
}

// Webhook returns the webhook with the given id, whoever owns it.
func (q *Queries) Webhook(ctx context.Context, id string) (*fluxhook.Webhook, error) {
	if !validID(id) {
		return nil, fluxhook.NotFound("webhook")
	}
	w, err := scanWebhook(q.r.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("webhook")
	}
	return w, wrapErr("get webhook", err)
}

// ListWebhooks returns the webhooks of one user, or of everyone when
// userID is empty, newest first.
func (q *Queries) ListWebhooks(ctx context.Context, userID string) ([]*fluxhook.Webhook, error) {
	hooks := []*fluxhook.Webhook{}
	query, args := `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at DESC, id DESC`, []any(nil)
	if userID != "" {
		if !validID(userID) {
			return hooks, nil
		}
		query, args = `SELECT `+webhookCols+` FROM webhooks WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, []any{userID}
	}
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrapErr("list webhooks", err)
	}
	defer rows.Close()
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, wrapErr("list webhooks", err)
		}
		hooks = append(hooks, w)
	}
	return hooks, wrapErr("list webhooks", rows.Err())
}

// UpdateWebhook writes every mutable field of w and stamps UpdatedAt.
func (q *Queries) UpdateWebhook(ctx context.Context, w *fluxhook.Webhook) error {
	if !validID(w.ID) {
		return fluxhook.NotFound("webhook")
	}
	events, headers, err := webhookArgs(w)
	if err != nil {
		return err
	}
	if err := checkWebhook(w, events, headers); err != nil {
		return err
	}
	w.UpdatedAt = ts(q.now())
	w.PrevSecretExpires, w.FailingSince = tsp(w.PrevSecretExpires), tsp(w.FailingSince)
	res, err := q.w.ExecContext(ctx, `UPDATE webhooks SET url = $2, events = $3, description = $4, is_active = $5,
		secret_enc = $6, prev_secret_enc = $7, prev_secret_expires_at = $8, rate_limit_per_second = $9, headers = $10,
		disabled_reason = $11, failing_since = $12, updated_at = $13, filter = $14, ordering = $15 WHERE id = $1`,
		w.ID, w.URL, events, nullString(w.Description), w.IsActive, w.SecretEnc, w.PrevSecretEnc, q.d.tp(w.PrevSecretExpires),
		nullInt(w.RateLimitPerSecond), headers, nullString(w.DisabledReason), q.d.tp(w.FailingSince), q.d.t(w.UpdatedAt), nullString(w.Filter), nullStr(w.Ordering))
	if err != nil {
		return wrapErr("update webhook", err)
	}
	return mustAffect(res, "webhook")
}

// DeleteWebhook deletes a webhook. Its delivery attempts stay until
// retention prunes them.
func (q *Queries) DeleteWebhook(ctx context.Context, id string) error {
	if !validID(id) {
		return fluxhook.NotFound("webhook")
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err != nil {
		return wrapErr("delete webhook", err)
	}
	return mustAffect(res, "webhook")
}

// ActiveWebhooks returns every active webhook with its owner's role,
// oldest first, for the dispatcher's cache.
func (q *Queries) ActiveWebhooks(ctx context.Context) ([]ActiveWebhook, error) {
	rows, err := q.r.QueryContext(ctx, `SELECT `+prefixCols("w.", webhookCols)+`, u.role
		FROM webhooks w JOIN users u ON u.id = w.user_id WHERE w.is_active ORDER BY w.created_at, w.id`)
	if err != nil {
		return nil, wrapErr("list active webhooks", err)
	}
	defer rows.Close()
	hooks := []ActiveWebhook{}
	for rows.Next() {
		var role string
		w, err := scanWebhook(rows, &role)
		if err != nil {
			return nil, wrapErr("list active webhooks", err)
		}
		hooks = append(hooks, ActiveWebhook{Webhook: w, OwnerRole: fluxhook.Role(role)})
	}
	return hooks, wrapErr("list active webhooks", rows.Err())
}

// prefixCols qualifies a column list with a table alias, for joins where
// a column name is ambiguous.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = prefix + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// SetWebhookFailing records when a webhook's current run of failures
// began (nil after a success); a start is kept when one is set already.
// started reports that this call began the run. Only the worker calls
// it, on transitions.
func (q *Queries) SetWebhookFailing(ctx context.Context, id string, since *time.Time) (started bool, err error) {
	if !validID(id) {
		return false, fluxhook.NotFound("webhook")
	}
	if since == nil {
		res, err := q.w.ExecContext(ctx, `UPDATE webhooks SET failing_since = NULL WHERE id = $1`, id)
		if err != nil {
			return false, wrapErr("set webhook failing", err)
		}
		return false, mustAffect(res, "webhook")
	}
	// A start already noted is kept: workers noting the same run race,
	// and only the first starts it.
	res, err := q.w.ExecContext(ctx, `UPDATE webhooks SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL`, id, q.d.tp(since))
	if err != nil {
		return false, wrapErr("set webhook failing", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return true, nil
	}
	_, err = q.Webhook(ctx, id)
	return false, err
}

// DisableWebhook turns a webhook off with a reason, touching nothing else
// (a user's concurrent edit of other fields survives). disabled reports
// that this call turned it off; one that is off already keeps its reason.
func (q *Queries) DisableWebhook(ctx context.Context, id, reason string) (disabled bool, err error) {
	if !validID(id) {
		return false, fluxhook.NotFound("webhook")
	}
	now := ts(q.now())
	res, err := q.w.ExecContext(ctx, `UPDATE webhooks SET is_active = $2, disabled_reason = $3, updated_at = $4 WHERE id = $1 AND is_active = $5`,
		id, false, reason, q.d.t(now), true)
	if err != nil {
		return false, wrapErr("disable webhook", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return true, nil
	}
	// Off already (its reason stays) or gone.
	_, err = q.Webhook(ctx, id)
	return false, err
}
