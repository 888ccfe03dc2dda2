package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const invitationCols = `id, email, role, token_hash, token_enc, invited_by, accepted_at, expires_at, created_at, revoked_at`

var (
	errInvitationAccepted = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "INVITATION_ACCEPTED", Message: "Invitation has already been accepted."}
	errInvitationExists   = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "INVITATION_EXISTS", Message: "An invitation with this id or token already exists."}
)

func scanInvitation(row interface{ Scan(...any) error }) (*fluxhook.Invitation, error) {
	var inv fluxhook.Invitation
	var role string
	var invitedBy sql.NullString
	if err := row.Scan(&inv.ID, &inv.Email, &role, &inv.TokenHash, &inv.TokenEnc, &invitedBy,
		nullTimeCol{&inv.AcceptedAt}, timeCol{&inv.ExpiresAt}, timeCol{&inv.CreatedAt}, nullTimeCol{&inv.RevokedAt}); err != nil {
		return nil, err
	}
	inv.Role = fluxhook.Role(role)
	inv.InvitedBy = invitedBy.String
	return &inv, nil
}

// CreateInvitation inserts inv, filling in ID and CreatedAt when empty.
// The email is stored lower-cased; an empty InvitedBy (an inviter from
// configuration, or one since deleted) is stored as NULL.
func (q *Queries) CreateInvitation(ctx context.Context, inv *fluxhook.Invitation) error {
	if inv.ID == "" {
		inv.ID = NewID()
	}
	if inv.CreatedAt.IsZero() {
		inv.CreatedAt = q.now()
	}
	inv.CreatedAt = ts(inv.CreatedAt)
	inv.ExpiresAt = ts(inv.ExpiresAt)
	inv.AcceptedAt, inv.RevokedAt = tsp(inv.AcceptedAt), tsp(inv.RevokedAt)
	inv.Email = strings.ToLower(inv.Email)
	if err := checkText(textField("email", inv.Email)); err != nil {
		return err
	}
	var invitedBy any
	if inv.InvitedBy != "" {
		invitedBy = inv.InvitedBy
	}
	_, err := q.w.ExecContext(ctx, `INSERT INTO invitations (`+invitationCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		inv.ID, inv.Email, string(inv.Role), inv.TokenHash, inv.TokenEnc, invitedBy,
		q.d.tp(inv.AcceptedAt), q.d.t(inv.ExpiresAt), q.d.t(inv.CreatedAt), q.d.tp(inv.RevokedAt))
	if isUnique(err) {
		return errInvitationExists
	}
	return wrapErr("create invitation", err)
}

// InvitationByHash returns the invitation with the given token hash,
// whatever its state: the caller tells expired, accepted and revoked
// apart, because the API answers each differently.
func (q *Queries) InvitationByHash(ctx context.Context, hash []byte) (*fluxhook.Invitation, error) {
	inv, err := scanInvitation(q.r.QueryRowContext(ctx, `SELECT `+invitationCols+` FROM invitations WHERE token_hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fluxhook.NotFound("invitation")
	}
	return inv, wrapErr("get invitation", err)
}

// ListInvitations returns the pending invitations, plus the accepted
// and/or expired ones if asked, newest first. Revoked invitations are
// never listed. An accepted invitation counts as accepted, not expired,
// however old.
func (q *Queries) ListInvitations(ctx context.Context, includeAccepted, includeExpired bool) ([]*fluxhook.Invitation, error) {
	states := []string{`(accepted_at IS NULL AND expires_at > $1)`}
	if includeAccepted {
		states = append(states, `accepted_at IS NOT NULL`)
	}
	if includeExpired {
		states = append(states, `(accepted_at IS NULL AND expires_at <= $1)`)
	}
	rows, err := q.r.QueryContext(ctx, `SELECT `+invitationCols+` FROM invitations
		WHERE revoked_at IS NULL AND (`+strings.Join(states, " OR ")+`) ORDER BY created_at DESC, id DESC`, q.d.t(q.now()))
	if err != nil {
		return nil, wrapErr("list invitations", err)
	}
	defer rows.Close()
	invs := []*fluxhook.Invitation{}
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, wrapErr("list invitations", err)
		}
		invs = append(invs, inv)
	}
	return invs, wrapErr("list invitations", rows.Err())
}

// DeletePendingInvitations deletes the open (not accepted, not revoked)
// invitations for an email, expired or not, so that a new invitation
// replaces them. Accepted and revoked ones stay as history.
func (q *Queries) DeletePendingInvitations(ctx context.Context, email string) (int64, error) {
	if !storableText(email) {
		return 0, nil // no stored invitation has such an address
	}
	res, err := q.w.ExecContext(ctx, `DELETE FROM invitations WHERE email = $1 AND accepted_at IS NULL AND revoked_at IS NULL`, strings.ToLower(email))
	if err != nil {
		return 0, wrapErr("delete pending invitations", err)
	}
	n, err := res.RowsAffected()
	return n, wrapErr("delete pending invitations", err)
}

// AcceptInvitation marks an invitation accepted. The conditional UPDATE
// makes acceptance atomic: of two concurrent accepts exactly one creates
// the account. Expiry is the caller's check, made before.
func (q *Queries) AcceptInvitation(ctx context.Context, id string, at time.Time) error {
	if !validID(id) {
		return fluxhook.NotFound("invitation")
	}
	res, err := q.w.ExecContext(ctx, `UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL`, id, q.d.t(at))
	if err != nil {
		return wrapErr("accept invitation", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return wrapErr("accept invitation", err)
	}
	var accepted bool
	err = q.w.QueryRowContext(ctx, `SELECT accepted_at IS NOT NULL FROM invitations WHERE id = $1`, id).Scan(&accepted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fluxhook.NotFound("invitation")
	case err != nil:
		return wrapErr("accept invitation", err)
	case accepted:
		return errInvitationAccepted
	}
	// Revoked, and not accepted before that: as good as gone.
	return fluxhook.NotFound("invitation")
}

// RevokeInvitation marks an invitation revoked. Revoking twice is not
// found: to the API a revoked invitation no longer exists.
func (q *Queries) RevokeInvitation(ctx context.Context, id string, at time.Time) error {
	if !validID(id) {
		return fluxhook.NotFound("invitation")
	}
	res, err := q.w.ExecContext(ctx, `UPDATE invitations SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, q.d.t(at))
	if err != nil {
		return wrapErr("revoke invitation", err)
	}
	return mustAffect(res, "invitation")
}
