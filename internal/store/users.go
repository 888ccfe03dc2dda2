package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const userCols = `id, email, name, role, password_hash, email_verified, metadata, created_at, updated_at, last_login_at`

func scanUser(row interface{ Scan(...any) error }) (*fluxhook.User, error) {
	var u fluxhook.User
	var meta []byte
	var role string
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &role, &u.PasswordHash, &u.EmailVerified, &meta,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, nullTimeCol{&u.LastLoginAt}); err != nil {
		return nil, err
	}
	u.Role = fluxhook.Role(role)
	u.Metadata = json.RawMessage(meta)
	return &u, nil
}

// checkUser applies the store's text rule (text.go) to a user's fields.
func checkUser(u *fluxhook.User) error {
	return checkText(textField("email", u.Email), textField("name", u.Name), jsonField("metadata", u.Metadata))
}

func metadataArg(m json.RawMessage) string {
	if len(m) == 0 {
		return "{}"
	}
	return string(m)
}

var errEmailTaken = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "EMAIL_TAKEN", Message: "An account with this email address already exists."}

// CreateUser inserts u, filling in ID and times when empty. The email is
// stored lower-cased; an address already in use is a conflict.
func (q *Queries) CreateUser(ctx context.Context, u *fluxhook.User) error {
	if u.ID == "" {
		u.ID = NewID()
	}
	now := ts(q.now())
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	u.UpdatedAt = u.CreatedAt
	u.Email = strings.ToLower(u.Email)
	if len(u.Metadata) == 0 {
		u.Metadata = json.RawMessage("{}")
	}
	if err := checkUser(u); err != nil {
		return err
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.EmailVerified, metadataArg(u.Metadata),
		q.d.t(u.CreatedAt), q.d.t(u.UpdatedAt), q.d.tp(u.LastLoginAt))
	if isUnique(err) {
		return errEmailTaken
	}
	return wrapErr("create user", err)
}

// User returns the user with the given id.
func (q *Queries) User(ctx context.Context, id string) (*fluxhook.User, error) {
	if !validID(id) {
		return nil, fluxhook.NotFound("user")
	}
	u, err := scanUser(q.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("user")
	}
	return u, wrapErr("get user", err)
}

// UserByEmail returns the user with the given email (case-insensitive).
func (q *Queries) UserByEmail(ctx context.Context, email string) (*fluxhook.User, error) {
	if !storableText(email) {
		return nil, fluxhook.NotFound("user")
	}
	u, err := scanUser(q.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, strings.ToLower(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("user")
	}
	return u, wrapErr("get user by email", err)
}

// UpdateUser writes every mutable field of u and stamps UpdatedAt.
func (q *Queries) UpdateUser(ctx context.Context, u *fluxhook.User) error {
	u.UpdatedAt = ts(q.now())
	u.Email = strings.ToLower(u.Email)
	if err := checkUser(u); err != nil {
		return err
	}
	res, err := q.w.ExecContext(ctx, `UPDATE users SET email = $2, name = $3, role = $4, password_hash = $5,
		email_verified = $6, metadata = $7, updated_at = $8, last_login_at = $9 WHERE id = $1`,
		u.ID, u.Email, u.Name, string(u.Role), u.PasswordHash, u.EmailVerified, metadataArg(u.Metadata),
		q.d.t(u.UpdatedAt), q.d.tp(u.LastLoginAt))
	if isUnique(err) {
		return errEmailTaken
	}
	if err != nil {
		return wrapErr("update user", err)
	}
	return mustAffect(res, "user")
}

// SetLastLogin records a sign-in time without touching UpdatedAt.
func (q *Queries) SetLastLogin(ctx context.Context, id string, at time.Time) error {
	_, err := q.w.ExecContext(ctx, `UPDATE users SET last_login_at = $2 WHERE id = $1`, id, q.d.t(at))
	return wrapErr("set last login", err)
}

// DeleteUser deletes a user and, by cascade, their tokens, keys and webhooks.
func (q *Queries) DeleteUser(ctx context.Context, id string) error {
	if !validID(id) {
		return fluxhook.NotFound("user")
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return wrapErr("delete user", err)
	}
	return mustAffect(res, "user")
}

// ListUsers returns a page of users, oldest first, and the total count.
func (q *Queries) ListUsers(ctx context.Context, limit, offset int) ([]*fluxhook.User, int, error) {
	var total int
	if err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&total); err != nil {
		return nil, 0, wrapErr("count users", err)
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, wrapErr("list users", err)
	}
	defer rows.Close()
	users := []*fluxhook.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, wrapErr("list users", err)
		}
		users = append(users, u)
	}
	return users, total, wrapErr("list users", rows.Err())
}

// CountAdminsExcept counts dashboard admins other than the given user.
func (q *Queries) CountAdminsExcept(ctx context.Context, id string) (int, error) {
	var n int
	err := q.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = 'dashboard_admin' AND id <> $1`, id).Scan(&n)
	return n, wrapErr("count admins", err)
}

func mustAffect(res sql.Result, thing string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrapErr("rows affected", err)
	}
	if n == 0 {
		return fluxhook.NotFound(thing)
	}
	return nil
}
