package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const refreshCols = `id, user_id, family_id, token_hash, created_at, expires_at, used_at, revoked_at`

// CreateRefreshToken inserts t, filling in ID and CreatedAt when empty.
func (q *Queries) CreateRefreshToken(ctx context.Context, t *fluxhook.RefreshToken) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = ts(q.now())
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		t.ID, t.UserID, t.FamilyID, t.TokenHash, q.d.t(t.CreatedAt), q.d.t(t.ExpiresAt), q.d.tp(t.UsedAt), q.d.tp(t.RevokedAt))
	return wrapErr("create refresh token", err)
}

// RefreshTokenByHash returns the refresh token with the given hash, used
// or not: the caller needs to see used tokens to detect reuse.
func (q *Queries) RefreshTokenByHash(ctx context.Context, hash []byte) (*fluxhook.RefreshToken, error) {
	var t fluxhook.RefreshToken
	err := q.r.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(
		&t.ID, &t.UserID, &t.FamilyID, &t.TokenHash, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, nullTimeCol{&t.UsedAt}, nullTimeCol{&t.RevokedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("refresh token")
	}
	return &t, wrapErr("get refresh token", err)
}

// UseRefreshToken marks a token used, if it is still unused and not
// revoked, and reports whether it did. Two concurrent refreshes with the
// same token cannot both succeed.
func (q *Queries) UseRefreshToken(ctx context.Context, id string, at time.Time) (bool, error) {
	res, err := q.w.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL`, id, q.d.t(at))
	if err != nil {
		return false, wrapErr("use refresh token", err)
	}
	n, err := res.RowsAffected()
	return n == 1, wrapErr("use refresh token", err)
}

// RevokeRefreshFamily revokes every token of one session.
func (q *Queries) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	if !validID(familyID) {
		return nil
	}
	_, err := q.w.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`, familyID, q.d.t(at))
	return wrapErr("revoke refresh family", err)
}

// RevokeUserRefreshTokens revokes every session of a user but the one
// named by exceptFamily (may be empty): a password change ends the other
// sessions, not the one that changed it. It returns the sessions it
// ended, for their access tokens to be ended too (EndSessions).
func (q *Queries) RevokeUserRefreshTokens(ctx context.Context, userID, exceptFamily string, at time.Time) ([]string, error) {
	if exceptFamily == "" || !validID(exceptFamily) {
		exceptFamily = "00000000-0000-0000-0000-000000000000"
	}
	rows, err := q.w.QueryContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND family_id <> $3 AND revoked_at IS NULL
		RETURNING family_id`, userID, q.d.t(at), exceptFamily)
	if err != nil {
		return nil, wrapErr("revoke user refresh tokens", err)
	}
	defer rows.Close()
	var families []string
	seen := map[string]bool{}
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, wrapErr("revoke user refresh tokens", err)
		}
		if !seen[f] {
			seen[f] = true
			families = append(families, f)
		}
	}
	return families, wrapErr("revoke user refresh tokens", rows.Err())
}

// CreateOneTimeToken inserts t and discards the user's other unused
// tokens of the same purpose: only the newest mailed link works.
func (q *Queries) CreateOneTimeToken(ctx context.Context, t *fluxhook.OneTimeToken) error {
	if t.ID == "" {
		t.ID = NewID()
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = ts(q.now())
	}
	if _, err := q.w.ExecContext(ctx, `DELETE FROM one_time_tokens WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`, t.UserID, string(t.Purpose)); err != nil {
		return wrapErr("create one-time token", err)
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO one_time_tokens (id, user_id, purpose, token_hash, created_at, expires_at, used_at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		t.ID, t.UserID, string(t.Purpose), t.TokenHash, q.d.t(t.CreatedAt), q.d.t(t.ExpiresAt), q.d.tp(t.UsedAt))
	return wrapErr("create one-time token", err)
}

// ConsumeOneTimeToken marks the unused, unexpired token with the given
// purpose and hash as used and returns it; anything else is not found.
func (q *Queries) ConsumeOneTimeToken(ctx context.Context, purpose fluxhook.TokenPurpose, hash []byte) (*fluxhook.OneTimeToken, error) {
	now := ts(q.now())
	var t fluxhook.OneTimeToken
	var p string
	err := q.w.QueryRowContext(ctx, `UPDATE one_time_tokens SET used_at = $3
		WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING id, user_id, purpose, token_hash, created_at, expires_at, used_at`,
		hash, string(purpose), q.d.t(now)).Scan(&t.ID, &t.UserID, &p, &t.TokenHash, timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, nullTimeCol{&t.UsedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("token")
	}
	t.Purpose = fluxhook.TokenPurpose(p)
	return &t, wrapErr("consume one-time token", err)
}

// DeleteExpiredTokens removes refresh and one-time tokens, and records of
// ended sessions, that expired before the given time, at most limit rows
// of each per call, so that the housekeeping never holds long locks.
func (q *Queries) DeleteExpiredTokens(ctx context.Context, before time.Time, limit int) (int64, error) {
	var total int64
	for _, table := range []string{"refresh_tokens", "one_time_tokens", "revoked_sessions"} {
		res, err := q.w.ExecContext(ctx, `DELETE FROM `+table+` WHERE id IN (SELECT id FROM `+table+` WHERE expires_at < $1 LIMIT $2)`, q.d.t(before), limit)
		if err != nil {
			return total, wrapErr("delete expired tokens", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
