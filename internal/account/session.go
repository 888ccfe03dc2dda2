package account

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// SignUpInput is the body of POST /auth/signup.
type SignUpInput struct {
	Email    string          `json:"email"`
	Password string          `json:"password"`
	Name     string          `json:"name"`
	Metadata json.RawMessage `json:"metadata"`
}

// SignUp creates an app user, signs them in and mails an email
// verification link. It emits user.created.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (*AuthResult, error) {
	details := map[string]string{}
	email := validateEmail(details, "email", in.Email)
	s.validatePassword(details, "password", in.Password)
	name := validateName(details, "name", in.Name, 0)
	meta := validateMetadata(details, "metadata", in.Metadata)
	if err := invalidIf(details); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	u := &fluxhook.User{Email: email, Name: name, Role: fluxhook.RoleUser, PasswordHash: hash, Metadata: meta}
	var res *AuthResult
	var verifyToken string
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := q.InsertOutbox(ctx, s.userEvent(fluxhook.EventUserCreated, u, map[string]any{"email_verified": false, "created_at": u.CreatedAt})); err != nil {
			return err
		}
		if verifyToken, err = s.newOneTimeToken(ctx, q, u.ID, fluxhook.PurposeEmailVerification, VerificationTokenTTL); err != nil {
			return err
		}
		res, err = s.startSession(ctx, q, u, AudienceApp)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.mailVerification(u, verifyToken)
	return res, nil
}

// SignIn checks an email and password and starts a session. Admin logins
// (audience AudienceAdmin) are for dashboard users only. It emits
// auth.login.
func (s *Service) SignIn(ctx context.Context, email, password, audience string) (*AuthResult, error) {
	details := map[string]string{}
	if email == "" {
		details["email"] = "is required"
	}
	if password == "" {
		details["password"] = "is required"
	}
	if err := invalidIf(details); err != nil {
		return nil, err
	}
	if len(password) > 4*MaxPassword {
		return nil, errInvalidCredentials
	}
	u, err := s.db.UserByEmail(ctx, email)
	if fluxhook.IsNotFound(err) {
		// Spend the same time as a wrong password, so that response
		// times do not reveal which addresses have accounts.
		if err := s.hasher.DummyVerify(ctx); err != nil {
			return nil, err
		}
		return nil, errInvalidCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, rehash, err := s.hasher.Verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errInvalidCredentials
	}
	if audience == AudienceAdmin && !u.Role.Dashboard() {
		return nil, &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "NOT_A_DASHBOARD_USER", Message: "Only dashboard users and admins can sign in to the dashboard."}
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			u.PasswordHash = h
		}
	}
	var res *AuthResult
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		now := s.now()
		u.LastLoginAt = &now
		if rehash {
			if err := q.UpdateUser(ctx, u); err != nil {
				return err
			}
		} else if err := q.SetLastLogin(ctx, u.ID, now); err != nil {
			return err
		}
		if err := q.InsertOutbox(ctx, s.userEvent(fluxhook.EventAuthLogin, u, map[string]any{"audience": audience})); err != nil {
			return err
		}
		res, err = s.startSession(ctx, q, u, audience)
		return err
	})
	if err != nil {
		return nil, err
	}
	u.LastLoginAt = ptr(u.LastLoginAt.UTC().Truncate(time.Microsecond))
	return res, nil
}

func ptr[T any](v T) *T { return &v }

// startSession creates a refresh-token family and the first token of it,
// and issues an access token bound to the family.
func (s *Service) startSession(ctx context.Context, q *store.Queries, u *fluxhook.User, audience string) (*AuthResult, error) {
	return s.issue(ctx, q, u, store.NewID(), audience)
}

func (s *Service) issue(ctx context.Context, q *store.Queries, u *fluxhook.User, family, audience string) (*AuthResult, error) {
	refresh, hash := auth.NewOpaque(auth.PrefixRefresh)
	rt := &fluxhook.RefreshToken{UserID: u.ID, FamilyID: family, TokenHash: hash, ExpiresAt: s.now().Add(s.refreshTTL)}
	if err := q.CreateRefreshToken(ctx, rt); err != nil {
		return nil, err
	}
	access, ttl, err := s.tokens.Issue(auth.Claims{UserID: u.ID, Role: u.Role, SessionID: family, Audience: audience})
	if err != nil {
		return nil, err
	}
	return &AuthResult{User: u, AccessToken: access, RefreshToken: refresh, ExpiresIn: int(ttl / time.Second)}, nil
}

var (
	errInvalidRefresh = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "INVALID_REFRESH_TOKEN", Message: "The refresh token is invalid, expired or revoked; sign in again."}
	errRefreshRace    = &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "REFRESH_RACE", Message: "This refresh token was used a moment ago by another tab or request; send the session's current one (the cookie holds it by now)."}
	errRefreshReused  = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "REFRESH_TOKEN_REUSED", Message: "This refresh token was already used, so the session has been ended for safety; sign in again."}
)

// Refresh exchanges a refresh token for a new pair. Each token works
// once: presenting a used token again means it leaked (or a client
// misbehaves), and ends the whole session.
func (s *Service) Refresh(ctx context.Context, token, audience string) (*AuthResult, error) {
	return s.refresh(ctx, token, audience, 0)
}

// SharedRefreshGrace is how long after a refresh token's use
// RefreshShared takes a second use of it for a race, not a theft.
const SharedRefreshGrace = 10 * time.Second

// RefreshShared is Refresh for a refresh token that several clients hold
// at once: a browser's tabs, which share the dashboard's cookie. Where
// the tabs cannot take turns (browsers offer Web Locks only to https and
// localhost pages), two may send the cookie together; the one that comes
// second, within SharedRefreshGrace of the first, gets 409
// REFRESH_RACE and keeps the session, and sends the cookie again, which
// by then holds the new token. A use after the grace is reuse, as with
// Refresh. Whoever replays a stolen token in the grace gets nothing
// either.
func (s *Service) RefreshShared(ctx context.Context, token, audience string) (*AuthResult, error) {
	return s.refresh(ctx, token, audience, SharedRefreshGrace)
}

func (s *Service) refresh(ctx context.Context, token, audience string, grace time.Duration) (*AuthResult, error) {
	if token == "" {
		return nil, fluxhook.Invalid(map[string]string{"refresh_token": "is required"})
	}
	if !auth.IsOpaque(token, auth.PrefixRefresh) {
		return nil, errInvalidRefresh
	}
	rt, err := s.db.RefreshTokenByHash(ctx, auth.HashOpaque(token))
	if fluxhook.IsNotFound(err) {
		return nil, errInvalidRefresh
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case rt.RevokedAt != nil:
		return nil, errInvalidRefresh
	case rt.UsedAt != nil && now.Sub(*rt.UsedAt) < grace:
		return nil, errRefreshRace
	case rt.UsedAt != nil:
		if err := s.endSession(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		return nil, errRefreshReused
	case !now.Before(rt.ExpiresAt):
		return nil, errInvalidRefresh
	}
	u, err := s.db.User(ctx, rt.UserID)
	if fluxhook.IsNotFound(err) {
		return nil, errInvalidRefresh
	}
	if err != nil {
		return nil, err
	}
	if audience == AudienceAdmin && !u.Role.Dashboard() {
		return nil, errInvalidRefresh
	}
	var res *AuthResult
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		ok, err := q.UseRefreshToken(ctx, rt.ID, now)
		if err != nil {
			return err
		}
		if !ok {
			return errRefreshReused
		}
		res, err = s.issue(ctx, q, u, rt.FamilyID, audience)
		return err
	})
	if errors.Is(err, errRefreshReused) {
		if grace > 0 {
			return nil, errRefreshRace
		}
		// Lost a race with another use of the same token: that is reuse too.
		if err := s.endSession(ctx, rt.FamilyID); err != nil {
			return nil, err
		}
		return nil, errRefreshReused
	}
	return res, err
}

// SignOut ends the session (refresh-token family) the access token
// belongs to, its access tokens included. It emits auth.logout.
func (s *Service) SignOut(ctx context.Context, userID, sessionID string) error {
	u, err := s.db.User(ctx, userID)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if err := q.RevokeRefreshFamily(ctx, sessionID, s.now()); err != nil {
			return err
		}
		if err := s.endSessions(ctx, q, sessionID); err != nil {
			return err
		}
		return q.InsertOutbox(ctx, s.userEvent(fluxhook.EventAuthLogout, u, nil))
	})
	if err != nil {
		return err
	}
	s.announceEnded(sessionID)
	return nil
}

// endSession ends one session outside any other change: its refresh
// tokens and, at once on every replica, its access tokens.
func (s *Service) endSession(ctx context.Context, sessionID string) error {
	err := s.db.Tx(ctx, func(q *store.Queries) error {
		if err := q.RevokeRefreshFamily(ctx, sessionID, s.now()); err != nil {
			return err
		}
		return s.endSessions(ctx, q, sessionID)
	})
	if err != nil {
		return err
	}
	s.announceEnded(sessionID)
	return nil
}

// endSessions records in q's transaction that the sessions ended now, so
// that their access tokens are refused although they have not expired.
// Call announceEnded after the commit.
func (s *Service) endSessions(ctx context.Context, q *store.Queries, ids ...string) error {
	now := s.now()
	return q.EndSessions(ctx, ids, now, now.Add(s.ended.lifetime))
}

// announceEnded tells every replica (this one included) that sessions
// ended; a replica that misses it finds them at its next re-read.
func (s *Service) announceEnded(ids ...string) {
	if s.bus == nil {
		s.ended.add(ids...)
		return
	}
	for _, id := range ids {
		s.bus.Publish(cachebus.Session, id)
	}
}

// SessionEnded reports whether the session an access token names has
// ended (signed out, ended for refresh-token reuse, by a password change
// or the account's deletion), so that its unexpired tokens are refused.
// It answers from memory; only the first call of a process reads the
// database.
func (s *Service) SessionEnded(ctx context.Context, sessionID string) (bool, error) {
	return s.ended.ended(ctx, sessionID)
}
