package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const clientKeyCols = `id, user_id, name, description, key_prefix, key_hash, scopes, rate_limit_per_minute,
	created_at, updated_at, expires_at, revoked_at, last_used_at`

// touchChunk caps the keys per TouchClientKeys statement: two parameters
// each keeps a statement far below both drivers' parameter limits.
const touchChunk = 500

var (
	errKeyRevoked = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "ALREADY_REVOKED", Message: "The client key is already revoked."}
	errKeyExists  = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "CLIENT_KEY_EXISTS", Message: "A client key with this id or hash already exists."}
)

func scanClientKey(row interface{ Scan(...any) error }) (*fluxhook.ClientKey, error) {
	var k fluxhook.ClientKey
	var scopes []byte
	if err := row.Scan(&k.ID, &k.UserID, &k.Name, &k.Description, &k.KeyPrefix, &k.KeyHash, &scopes, &k.RateLimitPerMinute,
		timeCol{&k.CreatedAt}, timeCol{&k.UpdatedAt}, nullTimeCol{&k.ExpiresAt}, nullTimeCol{&k.RevokedAt}, nullTimeCol{&k.LastUsedAt}); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(scopes, &k.Scopes); err != nil {
		return nil, fmt.Errorf("decode scopes of client key %s: %w", k.ID, err)
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	return &k, nil
}

// jsonArray encodes a string list; nil becomes [] because the columns are
// NOT NULL and readers expect a list.
func jsonArray(s []string) (string, error) {
	if s == nil {
		return "[]", nil
	}
	b, err := json.Marshal(s)
	return string(b), err
}

// nullString turns a nil *string into SQL NULL without relying on each
// driver's handling of pointers.
func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// tsp truncates an optional time the way the database will, so that the
// struct a caller keeps matches what a later read returns.
func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// CreateClientKey inserts k, filling in ID and times when empty. A
// duplicate id or key hash is a conflict.
func (q *Queries) CreateClientKey(ctx context.Context, k *fluxhook.ClientKey) error {
	if k.ID == "" {
		k.ID = NewID()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = q.now()
	}
	k.CreatedAt = ts(k.CreatedAt)
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	k.UpdatedAt = ts(k.UpdatedAt)
	k.ExpiresAt, k.RevokedAt, k.LastUsedAt = tsp(k.ExpiresAt), tsp(k.RevokedAt), tsp(k.LastUsedAt)
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	scopes, err := jsonArray(k.Scopes)
	if err != nil {
		return fmt.Errorf("encode scopes: %w", err)
	}
	if err := checkText(textField("name", k.Name), textPtrField("description", k.Description), jsonField("scopes", []byte(scopes))); err != nil {
		return err
	}
	_, err = q.w.ExecContext(ctx, `INSERT INTO client_keys (`+clientKeyCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		k.ID, k.UserID, k.Name, nullString(k.Description), k.KeyPrefix, k.KeyHash, scopes, k.RateLimitPerMinute,
		q.d.t(k.CreatedAt), q.d.t(k.UpdatedAt), q.d.tp(k.ExpiresAt), q.d.tp(k.RevokedAt), q.d.tp(k.LastUsedAt))
	if isUnique(err) {
		return errKeyExists
	}
	return wrapErr("create client key", err)
}

// ClientKey returns the client key with the given id, whoever owns it.
func (q *Queries) ClientKey(ctx context.Context, id string) (*fluxhook.ClientKey, error) {
	if !validID(id) {
		return nil, fluxhook.NotFound("client key")
	}
	k, err := scanClientKey(q.r.QueryRowContext(ctx, `SELECT `+clientKeyCols+` FROM client_keys WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("client key")
	}
	return k, wrapErr("get client key", err)
}

// ClientKeyByHash returns the key with the given SHA-256, revoked or
// expired alike: the authenticator decides what it accepts.
func (q *Queries) ClientKeyByHash(ctx context.Context, hash []byte) (*fluxhook.ClientKey, error) {
	k, err := scanClientKey(q.r.QueryRowContext(ctx, `SELECT `+clientKeyCols+` FROM client_keys WHERE key_hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("client key")
	}
	return k, wrapErr("get client key by hash", err)
}

// ListClientKeys returns the keys of one user, or of everyone when userID
// is empty, newest first.
func (q *Queries) ListClientKeys(ctx context.Context, userID string) ([]*fluxhook.ClientKey, error) {
	keys := []*fluxhook.ClientKey{}
	query, args := `SELECT `+clientKeyCols+` FROM client_keys ORDER BY created_at DESC, id DESC`, []any(nil)
	if userID != "" {
		if !validID(userID) {
			return keys, nil
		}
		query, args = `SELECT `+clientKeyCols+` FROM client_keys WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, []any{userID}
	}
	rows, err := q.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrapErr("list client keys", err)
	}
	defer rows.Close()
	for rows.Next() {
		k, err := scanClientKey(rows)
		if err != nil {
			return nil, wrapErr("list client keys", err)
		}
		keys = append(keys, k)
	}
	return keys, wrapErr("list client keys", rows.Err())
}

// UpdateClientKey writes the editable fields of k and stamps UpdatedAt.
// Revocation and usage have their own methods, so that an edit never
// undoes a concurrent revoke.
func (q *Queries) UpdateClientKey(ctx context.Context, k *fluxhook.ClientKey) error {
	if !validID(k.ID) {
		return fluxhook.NotFound("client key")
	}
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	scopes, err := jsonArray(k.Scopes)
	if err != nil {
		return fmt.Errorf("encode scopes: %w", err)
	}
	if err := checkText(textField("name", k.Name), textPtrField("description", k.Description), jsonField("scopes", []byte(scopes))); err != nil {
		return err
	}
	k.UpdatedAt = ts(q.now())
	k.ExpiresAt = tsp(k.ExpiresAt)
	res, err := q.w.ExecContext(ctx, `UPDATE client_keys SET name = $2, description = $3, scopes = $4,
		rate_limit_per_minute = $5, expires_at = $6, updated_at = $7 WHERE id = $1`,
		k.ID, k.Name, nullString(k.Description), scopes, k.RateLimitPerMinute, q.d.tp(k.ExpiresAt), q.d.t(k.UpdatedAt))
	if err != nil {
		return wrapErr("update client key", err)
	}
	return mustAffect(res, "client key")
}

// RevokeClientKey stamps revoked_at. The conditional UPDATE makes the
// revocation atomic, so of concurrent revokes exactly one succeeds; the
// others learn whether the key was revoked or is gone.
func (q *Queries) RevokeClientKey(ctx context.Context, id string, at time.Time) error {
	if !validID(id) {
		return fluxhook.NotFound("client key")
	}
	res, err := q.w.ExecContext(ctx, `UPDATE client_keys SET revoked_at = $2, updated_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, q.d.t(at))
	if err != nil {
		return wrapErr("revoke client key", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return wrapErr("revoke client key", err)
	}
	// revoked_at is never cleared, so a row that still exists was revoked.
	var one int
	err = q.w.QueryRowContext(ctx, `SELECT 1 FROM client_keys WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fluxhook.NotFound("client key")
	}
	if err != nil {
		return wrapErr("revoke client key", err)
	}
	return errKeyRevoked
}

// DeleteClientKey deletes a key.
func (q *Queries) DeleteClientKey(ctx context.Context, id string) error {
	if !validID(id) {
		return fluxhook.NotFound("client key")
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM client_keys WHERE id = $1`, id)
	if err != nil {
		return wrapErr("delete client key", err)
	}
	return mustAffect(res, "client key")
}

// TouchClientKeys records when keys were last used, from a buffer the API
// flushes periodically instead of writing on every request. It runs one
// joined UPDATE per 500 keys (four to six times faster than an UPDATE per
// key in one transaction); a time older than the stored one is ignored
// (flushes from several replicas arrive in any order), and so are keys
// deleted meanwhile.
func (q *Queries) TouchClientKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	ids := make([]string, 0, len(lastUsed))
	for id := range lastUsed {
		// A malformed id would make PostgreSQL reject the whole batch.
		if validID(id) {
			ids = append(ids, id)
		}
	}
	// A fixed order makes concurrent flushes over the same keys less
	// likely to lock rows in opposite orders.
	slices.Sort(ids)
	// PostgreSQL types a VALUES list by its contents, and parameters alone
	// would be text, which does not compare with uuid or timestamptz.
	// SQLite resolves each $N by a linear search of the names seen so far,
	// quadratic in a statement this size; anonymous ? parameters are bound
	// by position, which made a 1,000-key flush three times faster.
	row := func(i int) string { return "(?,?)" }
	if q.d.name == "postgres" {
		row = func(i int) string { return fmt.Sprintf("($%d::uuid,$%d::timestamptz)", 2*i+1, 2*i+2) }
	}
	for chunk := range slices.Chunk(ids, touchChunk) {
		var sb strings.Builder
		args := make([]any, 0, 2*len(chunk))
		sb.WriteString(`WITH v (id, t) AS (VALUES `)
		for i, id := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(row(i))
			args = append(args, id, q.d.t(lastUsed[id]))
		}
		sb.WriteString(`) UPDATE client_keys SET last_used_at = v.t FROM v
			WHERE client_keys.id = v.id AND (client_keys.last_used_at IS NULL OR client_keys.last_used_at < v.t)`)
		if _, err := q.w.ExecContext(ctx, sb.String(), args...); err != nil {
			return wrapErr("touch client keys", err)
		}
	}
	return nil
}
