package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/store"
)

// Invitation expiry bounds (seconds, API.md).
const (
	DefaultInvitationTTL = 604800
	MinInvitationTTL     = 300
	MaxInvitationTTL     = 2592000
)

// The exact sentences the seeds show for invalid invitations.
const (
	InvitationNotFound = "Invitation not found"
	InvitationExpired  = "Invitation has expired"
	InvitationAccepted = "Invitation has already been accepted"
)

// InviteInput is the body of POST /admin/invitations.
type InviteInput struct {
	Email          string        `json:"email"`
	Role           fluxhook.Role `json:"role"`
	ExpiryDuration *int          `json:"expiry_duration"`
}

// Invited is what creating an invitation returns.
type Invited struct {
	Invitation  *fluxhook.Invitation `json:"invitation"`
	InviteLink  string               `json:"invite_link"`
	EmailSent   bool                 `json:"email_sent"`
	EmailStatus string               `json:"email_status,omitempty"`
}

// newInvitationToken is 32 random bytes, base64url: it travels in a URL.
func newInvitationToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func validInvitationToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}

// Invite invites an email address to the dashboard with a role. A newer
// invitation replaces a pending one for the same address; an address
// that already has a dashboard account is a conflict.
func (s *Service) Invite(ctx context.Context, a *fluxhook.Actor, in InviteInput) (*Invited, error) {
	details := map[string]string{}
	email := validateEmail(details, "email", in.Email)
	if in.Role != fluxhook.RoleDashboardUser && in.Role != fluxhook.RoleDashboardAdmin {
		details["role"] = "must be dashboard_user or dashboard_admin"
	}
	ttl := DefaultInvitationTTL
	if in.ExpiryDuration != nil {
		ttl = *in.ExpiryDuration
		if ttl < MinInvitationTTL || ttl > MaxInvitationTTL {
			details["expiry_duration"] = "must be from 300 seconds (5 minutes) to 2592000 seconds (30 days)"
		}
	}
	if err := invalidIf(details); err != nil {
		return nil, err
	}
	if u, err := s.db.UserByEmail(ctx, email); err == nil {
		if u.Role.Dashboard() {
			return nil, &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "ALREADY_DASHBOARD_USER", Message: "This email address already belongs to a dashboard user."}
		}
		// An app user's address: the invitation could never be accepted
		// (accepting creates an account), so it is refused now rather than
		// mailed as a link that fails.
		return nil, &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "EMAIL_TAKEN",
			Message: "This email address already belongs to an app user's account; an admin can give that account a dashboard role instead (PATCH /admin/users/{id})."}
	} else if !fluxhook.IsNotFound(err) {
		return nil, err
	}
	token := newInvitationToken()
	inv := &fluxhook.Invitation{ID: store.NewID(), Email: email, Role: in.Role, InvitedBy: a.UserID,
		TokenHash: auth.HashOpaque(token), ExpiresAt: s.now().Add(time.Duration(ttl) * time.Second).UTC().Truncate(time.Microsecond)}
	inv.TokenEnc = s.box.Seal([]byte(token), []byte(inv.ID))
	err := s.db.Tx(ctx, func(q *store.Queries) error {
		if _, err := q.DeletePendingInvitations(ctx, email); err != nil {
			return err
		}
		return q.CreateInvitation(ctx, inv)
	})
	if err != nil {
		return nil, err
	}
	inv.Token = token
	out := &Invited{Invitation: inv, InviteLink: s.publicURL + "/invite/" + token}
	if !s.smtp {
		out.EmailStatus = "smtp not configured"
		return out, nil
	}
	mctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = s.sender.Send(mctx, mail.Message{To: email, Subject: "You are invited to the Fluxhook dashboard",
		Text: "You have been invited to join the dashboard as " + string(in.Role) + ".\n\nTo accept, open this link and choose a password:\n\n" +
			out.InviteLink + "\n\nThe invitation expires at " + inv.ExpiresAt.Format(time.RFC1123) + ".\n"})
	if err != nil {
		out.EmailStatus = "sending failed: " + err.Error()
		s.logger.Warn("invitation mail failed", "err", err)
	} else {
		out.EmailSent = true
		out.EmailStatus = "sent"
	}
	return out, nil
}

// Invitations lists invitations with their tokens (the seeds revoke by token).
func (s *Service) Invitations(ctx context.Context, includeAccepted, includeExpired bool) ([]*fluxhook.Invitation, error) {
	invs, err := s.db.ListInvitations(ctx, includeAccepted, includeExpired)
	if err != nil {
		return nil, err
	}
	for _, inv := range invs {
		if t, err := s.box.Open(inv.TokenEnc, []byte(inv.ID)); err == nil {
			inv.Token = string(t)
		}
	}
	return invs, nil
}

// lookupInvitation finds a usable invitation or says, in the seeds'
// words, why it is not.
func (s *Service) lookupInvitation(ctx context.Context, token string) (*fluxhook.Invitation, error) {
	notFound := &fluxhook.Error{Kind: fluxhook.KindNotFound, Code: "INVITATION_NOT_FOUND", Message: InvitationNotFound}
	if !validInvitationToken(token) {
		return nil, notFound
	}
	inv, err := s.db.InvitationByHash(ctx, auth.HashOpaque(token))
	if fluxhook.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	switch {
	case inv.RevokedAt != nil:
		return nil, notFound
	case inv.AcceptedAt != nil:
		return inv, &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "INVITATION_ACCEPTED", Message: InvitationAccepted}
	case !s.now().Before(inv.ExpiresAt):
		return inv, &fluxhook.Error{Kind: fluxhook.KindGone, Code: "INVITATION_EXPIRED", Message: InvitationExpired}
	}
	return inv, nil
}

// ValidateInvitation checks a token. It returns the invitation (without
// its token) when it can be accepted, or the reason it cannot.
func (s *Service) ValidateInvitation(ctx context.Context, token string) (*fluxhook.Invitation, error) {
	inv, err := s.lookupInvitation(ctx, token)
	if err != nil {
		return nil, err
	}
	return inv, nil
}

// AcceptInput is the body of POST /invitations/{token}/accept.
type AcceptInput struct {
	Password string `json:"password"`
	Name     string `json:"name"`
}

// AcceptInvitation creates the invited dashboard user (email verified,
// since the invitation reached it) and signs them in. It emits
// user.created.
func (s *Service) AcceptInvitation(ctx context.Context, token string, in AcceptInput) (*AuthResult, error) {
	inv, err := s.lookupInvitation(ctx, token)
	if err != nil {
		return nil, err
	}
	details := map[string]string{}
	s.validatePassword(details, "password", in.Password)
	name := validateName(details, "name", in.Name, 2)
	if err := invalidIf(details); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	u := &fluxhook.User{Email: inv.Email, Name: name, Role: inv.Role, PasswordHash: hash, EmailVerified: true}
	var res *AuthResult
	err = s.db.Tx(ctx, func(q *store.Queries) error {
		if err := q.AcceptInvitation(ctx, inv.ID, s.now()); err != nil {
			if fluxhook.ErrorKind(err) == fluxhook.KindConflict {
				return &fluxhook.Error{Kind: fluxhook.KindConflict, Code: "INVITATION_ACCEPTED", Message: InvitationAccepted}
			}
			return err
		}
		if err := q.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := q.InsertOutbox(ctx, s.userEvent(fluxhook.EventUserCreated, u, map[string]any{"email_verified": true, "created_at": u.CreatedAt, "invited_by": inv.InvitedBy})); err != nil {
			return err
		}
		res, err = s.startSession(ctx, q, u, AudienceAdmin)
		return err
	})
	return res, err
}

// RevokeInvitation cancels a pending invitation by its token.
func (s *Service) RevokeInvitation(ctx context.Context, token string) error {
	notFound := &fluxhook.Error{Kind: fluxhook.KindNotFound, Code: "INVITATION_NOT_FOUND", Message: InvitationNotFound}
	if !validInvitationToken(token) {
		return notFound
	}
	inv, err := s.db.InvitationByHash(ctx, auth.HashOpaque(token))
	if fluxhook.IsNotFound(err) {
		return notFound
	}
	if err != nil {
		return err
	}
	if err := s.db.RevokeInvitation(ctx, inv.ID, s.now()); err != nil {
		if fluxhook.IsNotFound(err) {
			return notFound
		}
		return err
	}
	return nil
}
