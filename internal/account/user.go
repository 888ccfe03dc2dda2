package account

import (
	"context"
	"encoding/json"
	"time"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/store"
)

// User returns a user.
func (s *Service) User(ctx context.Context, id string) (*fluxhook.User, error) {
	return s.db.User(ctx, id)
}

// UpdateInput is a partial update: nil fields stay as they are.
type UpdateInput struct {
	Name          *string          `json:"name"`
	Email         *string          `json:"email"`
	Password      *string          `json:"password"`
	Metadata      *json.RawMessage `json:"metadata"`
	Role          *fluxhook.Role   `json:"role"`           // admin only
	EmailVerified *bool            `json:"email_verified"` // admin only
}

// UpdateSelf applies a user's change to their own account. A new
// password ends the user's other sessions; a new email must be verified
// again. It emits user.updated.
func (s *Service) UpdateSelf(ctx context.Context, id, sessionID string, in UpdateInput) (*fluxhook.User, error) {
	if in.Role != nil || in.EmailVerified != nil {
		return nil, fluxhook.Invalid(map[string]string{"role": "cannot be changed by the user themselves"})
	}
	return s.update(ctx, id, sessionID, in)
}

// UpdateByAdmin applies an admin's change to any account. It emits user.updated.
func (s *Service) UpdateByAdmin(ctx context.Context, id string, in UpdateInput) (*fluxhook.User, error) {
	return s.update(ctx, id, "", in)
}

func (s *Service) update(ctx context.Context, id, keepSession string, in UpdateInput) (*fluxhook.User, error) {
	u, err := s.db.User(ctx, id)
	if err != nil {
		return nil, err
	}
	details := map[string]string{}
	var changed []string
	if in.Name != nil {
		u.Name = validateName(details, "name", *in.Name, 0)
		changed = append(changed, "name")
	}
	emailChanged := false
	if in.Email != nil {
		email := validateEmail(details, "email", *in.Email)
		if email != u.Email {
			u.Email, emailChanged = email, true
			u.EmailVerified = false
			changed = append(changed, "email")
		}
	}
	if in.Password != nil {
		s.validatePassword(details, "password", *in.Password)
		changed = append(changed, "password")
	}
	if in.Metadata != nil {
		u.Metadata = validateMetadata(details, "metadata", *in.Metadata)
		changed = append(changed, "metadata")
	}
	if in.Role != nil {
		if !in.Role.Valid() {
			details["role"] = "must be one of user, dashboard_user, dashboard_admin"
		} else if *in.Role != u.Role {
			u.Role = *in.Role
			changed = append(changed, "role")
		}
	}
	if in.EmailVerified != nil && *in.EmailVerified != u.EmailVerified {
		u.EmailVerified = *in.EmailVerified
		changed = append(changed, "email_verified")
	}
	if err := invalidIf(details); err != nil {
		return nil, err
	}
	if in.Password != nil {
		if u.PasswordHash, err = s.hasher.Hash(ctx, *in.Password); err != nil {
			return nil, err
		}
	}
	if len(changed) == 0 {
		return u, nil
	}
	var verifyToken string
	var ended []string
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if in.Role != nil && u.Role != fluxhook.RoleDashboardAdmin {
			if err := s.keepOneAdmin(ctx, q, u.ID); err != nil {
				return err
			}
		}
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		if in.Password != nil {
			if ended, err = q.RevokeUserRefreshTokens(ctx, u.ID, keepSession, s.now()); err != nil {
				return err
			}
			if err := s.endSessions(ctx, q, ended...); err != nil {
				return err
			}
		}
		if emailChanged {
			if verifyToken, err = s.newOneTimeToken(ctx, q, u.ID, fluxhook.PurposeEmailVerification, VerificationTokenTTL); err != nil {
				return err
			}
		}
		return q.InsertOutbox(ctx, s.userEvent(fluxhook.EventUserUpdated, u, map[string]any{"changed": changed}))
	})
	if err != nil {
		return nil, err
	}
	s.announceEnded(ended...)
	if emailChanged {
		s.mailVerification(u, verifyToken)
	}
	if in.Role != nil {
		s.bus.Publish(cachebus.User, u.ID) // the user's keys act with the new role
	}
	return u, nil
}

// Delete deletes an account with its sessions, keys and webhooks. It
// emits user.deleted.
func (s *Service) Delete(ctx context.Context, id string) error {
	u, err := s.db.User(ctx, id)
	if err != nil {
		return err
	}
	var ended []string
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if u.Role == fluxhook.RoleDashboardAdmin {
			if err := s.keepOneAdmin(ctx, q, u.ID); err != nil {
				return err
			}
		}
		// The account's sessions end with it, access tokens included.
		if ended, err = q.RevokeUserRefreshTokens(ctx, u.ID, "", s.now()); err != nil {
			return err
		}
		if err := s.endSessions(ctx, q, ended...); err != nil {
			return err
		}
		if err := q.DeleteUser(ctx, u.ID); err != nil {
			return err
		}
		return q.InsertOutbox(ctx, s.userEvent(fluxhook.EventUserDeleted, u, nil))
	})
	if err == nil {
		s.announceEnded(ended...)
		s.bus.Publish(cachebus.User, u.ID) // their keys and webhooks are gone
	}
	return err
}

// keepOneAdmin refuses a change that would leave no dashboard admin
// besides the user being changed.
func (s *Service) keepOneAdmin(ctx context.Context, q *store.Queries, changing string) error {
	n, err := q.CountAdminsExcept(ctx, changing)
	if err != nil {
		return err
	}
	if n == 0 {
		return &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "LAST_ADMIN", Message: "This is the last dashboard admin; make another user an admin first."}
	}
	return nil
}

// RequestPasswordReset mails a reset link when the address has an
// account, and does nothing visible otherwise. It emits password.reset.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	details := map[string]string{}
	email = validateEmail(details, "email", email)
	if err := invalidIf(details); err != nil {
		return err
	}
	u, err := s.db.UserByEmail(ctx, email)
	if fluxhook.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var token string
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if token, err = s.newOneTimeToken(ctx, q, u.ID, fluxhook.PurposePasswordReset, ResetTokenTTL); err != nil {
			return err
		}
		return q.InsertOutbox(ctx, s.userEvent(fluxhook.EventPasswordReset, u, nil))
	})
	if err != nil {
		return err
	}
	s.mail.Enqueue(mail.Message{To: u.Email, Subject: "Reset your password",
		Text: "Someone asked to reset the password of your account.\n\nTo choose a new password, open this link within an hour:\n\n" +
			s.publicURL + "/reset-password?token=" + token + "\n\nIf it was not you, ignore this mail; your password stays as it is.\n"})
	return nil
}

var errBadToken = &fluxhook.Error{Kind: fluxhook.KindInvalid, Code: "INVALID_TOKEN", Message: "The token is invalid, expired or already used.", Details: map[string]string{"token": "is invalid, expired or already used"}}

// ConfirmPasswordReset sets a new password with a mailed token and ends
// every session of the user.
func (s *Service) ConfirmPasswordReset(ctx context.Context, token, password string) error {
	details := map[string]string{}
	if token == "" {
		details["token"] = "is required"
	}
	s.validatePassword(details, "password", password)
	if err := invalidIf(details); err != nil {
		return err
	}
	if !auth.IsOpaque(token, auth.PrefixOneTime) {
		return errBadToken
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	var ended []string
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		t, err := q.ConsumeOneTimeToken(ctx, fluxhook.PurposePasswordReset, auth.HashOpaque(token))
		if fluxhook.IsNotFound(err) {
			return errBadToken
		}
		if err != nil {
			return err
		}
		u, err := q.User(ctx, t.UserID)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		if ended, err = q.RevokeUserRefreshTokens(ctx, u.ID, "", s.now()); err != nil {
			return err
		}
		return s.endSessions(ctx, q, ended...)
	})
	if err != nil {
		return err
	}
	s.announceEnded(ended...)
	return nil
}

// VerifyEmail marks the address of the token's user verified. It emits email.verified.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if token == "" {
		return fluxhook.Invalid(map[string]string{"token": "is required"})
	}
	if !auth.IsOpaque(token, auth.PrefixOneTime) {
		return errBadToken
	}
	return s.db.Tx(ctx, func(q *store.Queries) error {
		t, err := q.ConsumeOneTimeToken(ctx, fluxhook.PurposeEmailVerification, auth.HashOpaque(token))
		if fluxhook.IsNotFound(err) {
			return errBadToken
		}
		if err != nil {
			return err
		}
		u, err := q.User(ctx, t.UserID)
		if err != nil {
			return err
		}
		u.EmailVerified = true
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		return q.InsertOutbox(ctx, s.userEvent(fluxhook.EventEmailVerified, u, nil))
	})
}

func (s *Service) newOneTimeToken(ctx context.Context, q *store.Queries, userID string, purpose fluxhook.TokenPurpose, ttl time.Duration) (string, error) {
	token, hash := auth.NewOpaque(auth.PrefixOneTime)
	err := q.CreateOneTimeToken(ctx, &fluxhook.OneTimeToken{UserID: userID, Purpose: purpose, TokenHash: hash, ExpiresAt: s.now().Add(ttl)})
	return token, err
}

func (s *Service) mailVerification(u *fluxhook.User, token string) {
	s.mail.Enqueue(mail.Message{To: u.Email, Subject: "Verify your email address",
		Text: "Please confirm that this is your email address by opening this link within 48 hours:\n\n" +
			s.publicURL + "/verify-email?token=" + token + "\n\nIf you did not create an account, ignore this mail.\n"})
}
