package account

import (
	"context"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// ListUsers returns a page of users and the total count.
func (s *Service) ListUsers(ctx context.Context, limit, offset int) ([]*fluxhook.User, int, error) {
	return s.db.ListUsers(ctx, limit, offset)
}

// EnsureAdmin creates the bootstrap dashboard admin from configuration
// if no user has that email. An existing user is never overwritten: a
// changed FLUXHOOK_ADMIN_PASSWORD does not reset a password someone may
// since have changed. It reports whether it created the admin.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (bool, error) {
	details := map[string]string{}
	email = validateEmail(details, "FLUXHOOK_ADMIN_EMAIL", email)
	s.validatePassword(details, "FLUXHOOK_ADMIN_PASSWORD", password)
	if err := invalidIf(details); err != nil {
		return false, err
	}
	if _, err := s.db.UserByEmail(ctx, email); err == nil {
		return false, nil
	} else if !fluxhook.IsNotFound(err) {
		return false, err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return false, err
	}
	u := &fluxhook.User{Email: email, Name: "Admin", Role: fluxhook.RoleDashboardAdmin, PasswordHash: hash, EmailVerified: true}
	if err := s.db.CreateUser(ctx, u); err != nil {
		if fluxhook.ErrorKind(err) == fluxhook.KindConflict {
			return false, nil // another replica created it first
		}
		return false, err
	}
	return true, nil
}
