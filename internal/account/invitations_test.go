package account_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

var invitationToken = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// inviter is the admin who sends invitations in these tests.
func (f *fixture) inviter(tb testing.TB) *fluxhook.Actor {
	tb.Helper()
	u := f.dashboardUser(tb, "admin@example.com", fluxhook.RoleDashboardAdmin)
	return &fluxhook.Actor{UserID: u.ID, Role: u.Role}
}

func (f *fixture) invite(tb testing.TB, a *fluxhook.Actor, email string, role fluxhook.Role, ttl *int) *account.Invited {
	tb.Helper()
	inv, err := f.accounts.Invite(context.Background(), a, account.InviteInput{Email: email, Role: role, ExpiryDuration: ttl})
	if err != nil {
		tb.Fatalf("invite %s: %v", email, err)
	}
	return inv
}

// seedsError asserts err carries exactly one of the seeds' sentences.
func seedsError(tb testing.TB, err error, kind fluxhook.Kind, sentence string) {
	tb.Helper()
	var fe *fluxhook.Error
	if !errors.As(err, &fe) || fe.Kind != kind || fe.Message != sentence {
		tb.Fatalf("err = %v, want %s %q", err, kind, sentence)
	}
}

func TestInviteValidation(t *testing.T) {
	f := newFixture(t, "sqlite", options{})
	a := f.inviter(t)
	cases := []struct {
		name  string
		in    account.InviteInput
		field string // "" when valid
	}{
		{"dashboard user", account.InviteInput{Email: "u1@example.com", Role: fluxhook.RoleDashboardUser}, ""},
		{"dashboard admin", account.InviteInput{Email: "u2@example.com", Role: fluxhook.RoleDashboardAdmin}, ""},
		{"app user role", account.InviteInput{Email: "u3@example.com", Role: fluxhook.RoleUser}, "role"},
		{"no role", account.InviteInput{Email: "u4@example.com"}, "role"},
		{"bad email", account.InviteInput{Email: "u5.example.com", Role: fluxhook.RoleDashboardUser}, "email"},
		{"expiry 299 s", account.InviteInput{Email: "u6@example.com", Role: fluxhook.RoleDashboardUser, ExpiryDuration: intp(299)}, "expiry_duration"},
		{"expiry 300 s", account.InviteInput{Email: "u7@example.com", Role: fluxhook.RoleDashboardUser, ExpiryDuration: intp(300)}, ""},
		{"expiry 30 days", account.InviteInput{Email: "u8@example.com", Role: fluxhook.RoleDashboardUser, ExpiryDuration: intp(2592000)}, ""},
		{"expiry 30 days and a second", account.InviteInput{Email: "u9@example.com", Role: fluxhook.RoleDashboardUser, ExpiryDuration: intp(2592001)}, "expiry_duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := f.accounts.Invite(context.Background(), a, tc.in)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				ttl := 604800
				if tc.in.ExpiryDuration != nil {
					ttl = *tc.in.ExpiryDuration
				}
				if want := f.clock.Now().Add(time.Duration(ttl) * time.Second); !inv.Invitation.ExpiresAt.Equal(want) {
					t.Fatalf("expires_at = %v, want %v", inv.Invitation.ExpiresAt, want)
				}
				return
			}
			invalid(t, err, tc.field)
		})
	}
}

// TestInvitationIsAcceptedOnce: the invitee becomes a signed-in dashboard
// user with the invited role and a verified address, once.
func TestInvitationIsAcceptedOnce(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.inviter(t)
		inv := f.invite(t, a, " Grace@Example.com ", fluxhook.RoleDashboardUser, nil)
		token := inv.Invitation.Token
		if !invitationToken.MatchString(token) {
			t.Fatalf("token %q is not 43 base64url characters", token)
		}
		if inv.InviteLink != publicURL+"/invite/"+token {
			t.Fatalf("invite_link = %q", inv.InviteLink)
		}
		if inv.EmailSent || inv.EmailStatus != "smtp not configured" || len(f.direct.all()) != 0 {
			t.Fatalf("without SMTP: email_sent=%v status=%q, %d mails; want false, \"smtp not configured\", none",
				inv.EmailSent, inv.EmailStatus, len(f.direct.all()))
		}
		if inv.Invitation.Email != "grace@example.com" || inv.Invitation.InvitedBy != a.UserID {
			t.Fatalf("invitation = %+v", inv.Invitation)
		}
		if rowsContain(t, f.raw, "invitations", token) {
			t.Fatal("the database holds the invitation token in clear")
		}
		listed, err := f.accounts.Invitations(ctx, false, false)
		if err != nil || len(listed) != 1 || listed[0].Token != token {
			t.Fatalf("admins list %d invitations (%v), want this one with its token", len(listed), err)
		}

		valid, err := f.accounts.ValidateInvitation(ctx, token)
		if err != nil || valid.Email != "grace@example.com" || valid.Token != "" {
			t.Fatalf("validate: %+v (%v), want the invitation without its token", valid, err)
		}

		// A refused acceptance does not use the invitation up.
		_, err = f.accounts.AcceptInvitation(ctx, token, account.AcceptInput{Password: "short", Name: "Grace"})
		invalid(t, err, "password")
		_, err = f.accounts.AcceptInvitation(ctx, token, account.AcceptInput{Password: password, Name: "G"})
		invalid(t, err, "name")
		f.events(t)

		res, err := f.accounts.AcceptInvitation(ctx, token, account.AcceptInput{Password: password, Name: "Grace"})
		if err != nil {
			t.Fatal(err)
		}
		u := res.User
		if u.Email != "grace@example.com" || u.Role != fluxhook.RoleDashboardUser || !u.EmailVerified || u.Name != "Grace" {
			t.Fatalf("new user = %+v, want the invited role and a verified address", u)
		}
		if c, err := f.tokens.Parse(res.AccessToken, auth.AudienceAdmin); err != nil || c.UserID != u.ID {
			t.Fatalf("the invitee is not signed in to the dashboard: %+v (%v)", c, err)
		}
		if es := f.events(t); names(es) != "user.created" || es[0].data["invited_by"] != a.UserID || es[0].data["email_verified"] != true {
			t.Fatalf("events = %+v, want one user.created naming the inviter", es)
		}

		_, err = f.accounts.AcceptInvitation(ctx, token, account.AcceptInput{Password: password, Name: "Mallory"})
		seedsError(t, err, fluxhook.KindConflict, account.InvitationAccepted)
		_, err = f.accounts.ValidateInvitation(ctx, token)
		seedsError(t, err, fluxhook.KindConflict, account.InvitationAccepted)
		if listed, _ := f.accounts.Invitations(ctx, false, false); len(listed) != 0 {
			t.Fatalf("an accepted invitation is listed as pending: %+v", listed[0])
		}
		if listed, _ := f.accounts.Invitations(ctx, true, false); len(listed) != 1 || listed[0].AcceptedAt == nil {
			t.Fatal("include_accepted does not list the accepted invitation")
		}

		// The new dashboard user cannot be invited again.
		_, err = f.accounts.Invite(ctx, a, account.InviteInput{Email: "grace@example.com", Role: fluxhook.RoleDashboardAdmin})
		code(t, err, fluxhook.KindConflict, "ALREADY_DASHBOARD_USER")
		_, err = f.accounts.Invite(ctx, a, account.InviteInput{Email: "ADMIN@example.com", Role: fluxhook.RoleDashboardUser})
		code(t, err, fluxhook.KindConflict, "ALREADY_DASHBOARD_USER")
	})
}

// TestInvitingAnAppUserIsRefused: an address that belongs to an app
// user cannot be invited: accepting would have to create a second account
// with it, so the link mailed could never work.
func TestInvitingAnAppUserIsRefused(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.inviter(t)
		f.signUp(t, "ada@example.com")
		_, err := f.accounts.Invite(ctx, a, account.InviteInput{Email: "Ada@Example.com", Role: fluxhook.RoleDashboardUser})
		code(t, err, fluxhook.KindConflict, "EMAIL_TAKEN")
		if listed, _ := f.accounts.Invitations(ctx, false, false); len(listed) != 0 {
			t.Fatalf("a refused invitation is listed: %+v", listed[0])
		}
	})
}

// TestNewInvitationReplacesThePendingOne: API.md "Creating an invitation
// for an email that already has a pending one replaces it".
func TestNewInvitationReplacesThePendingOne(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.inviter(t)
		old := f.invite(t, a, "grace@example.com", fluxhook.RoleDashboardUser, nil)
		f.clock.Advance(time.Minute)
		newer := f.invite(t, a, "grace@example.com", fluxhook.RoleDashboardAdmin, nil)
		other := f.invite(t, a, "linus@example.com", fluxhook.RoleDashboardUser, nil)

		_, err := f.accounts.ValidateInvitation(ctx, old.Invitation.Token)
		seedsError(t, err, fluxhook.KindNotFound, account.InvitationNotFound)
		_, err = f.accounts.AcceptInvitation(ctx, old.Invitation.Token, account.AcceptInput{Password: password, Name: "Grace"})
		seedsError(t, err, fluxhook.KindNotFound, account.InvitationNotFound)
		listed, err := f.accounts.Invitations(ctx, true, true)
		if err != nil {
			t.Fatal(err)
		}
		var tokens []string
		for _, inv := range listed {
			tokens = append(tokens, inv.Token)
		}
		if len(listed) != 2 || !strings.Contains(strings.Join(tokens, " "), newer.Invitation.Token) || !strings.Contains(strings.Join(tokens, " "), other.Invitation.Token) {
			t.Fatalf("listed %d invitations, want the newer one and the other address's", len(listed))
		}
		res, err := f.accounts.AcceptInvitation(ctx, newer.Invitation.Token, account.AcceptInput{Password: password, Name: "Grace"})
		if err != nil || res.User.Role != fluxhook.RoleDashboardAdmin {
			t.Fatalf("accepting the newer invitation: %v, want the newer role", err)
		}
	})
}

func TestInvitationExpires(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.inviter(t)
		inv := f.invite(t, a, "grace@example.com", fluxhook.RoleDashboardUser, intp(300))
		f.clock.Advance(299 * time.Second)
		if _, err := f.accounts.ValidateInvitation(ctx, inv.Invitation.Token); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		f.clock.Advance(time.Second)
		_, err := f.accounts.ValidateInvitation(ctx, inv.Invitation.Token)
		seedsError(t, err, fluxhook.KindGone, account.InvitationExpired)
		_, err = f.accounts.AcceptInvitation(ctx, inv.Invitation.Token, account.AcceptInput{Password: password, Name: "Grace"})
		seedsError(t, err, fluxhook.KindGone, account.InvitationExpired)
		if _, err := f.db.UserByEmail(ctx, "grace@example.com"); !fluxhook.IsNotFound(err) {
			t.Fatalf("an expired invitation created a user (%v)", err)
		}
		if listed, _ := f.accounts.Invitations(ctx, false, false); len(listed) != 0 {
			t.Fatal("an expired invitation is listed without include_expired")
		}
		if listed, _ := f.accounts.Invitations(ctx, false, true); len(listed) != 1 {
			t.Fatal("include_expired does not list the expired invitation")
		}
		// An expired invitation is replaced like a pending one.
		again := f.invite(t, a, "grace@example.com", fluxhook.RoleDashboardUser, nil)
		if _, err := f.accounts.ValidateInvitation(ctx, again.Invitation.Token); err != nil {
			t.Fatalf("the new invitation: %v", err)
		}
	})
}

func TestRevokedInvitationNoLongerExists(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a := f.inviter(t)
		inv := f.invite(t, a, "grace@example.com", fluxhook.RoleDashboardUser, nil)
		if err := f.accounts.RevokeInvitation(ctx, inv.Invitation.Token); err != nil {
			t.Fatal(err)
		}
		_, err := f.accounts.ValidateInvitation(ctx, inv.Invitation.Token)
		seedsError(t, err, fluxhook.KindNotFound, account.InvitationNotFound)
		_, err = f.accounts.AcceptInvitation(ctx, inv.Invitation.Token, account.AcceptInput{Password: password, Name: "Grace"})
		seedsError(t, err, fluxhook.KindNotFound, account.InvitationNotFound)
		seedsError(t, f.accounts.RevokeInvitation(ctx, inv.Invitation.Token), fluxhook.KindNotFound, account.InvitationNotFound)
		for _, bad := range []string{"", "short", strings.Repeat("a", 43), strings.Repeat("!", 43)} {
			_, err := f.accounts.ValidateInvitation(ctx, bad)
			seedsError(t, err, fluxhook.KindNotFound, account.InvitationNotFound)
			seedsError(t, f.accounts.RevokeInvitation(ctx, bad), fluxhook.KindNotFound, account.InvitationNotFound)
		}
		if listed, _ := f.accounts.Invitations(ctx, true, true); len(listed) != 0 {
			t.Fatalf("a revoked invitation is listed: %+v", listed[0])
		}
	})
}

// TestInvitationMailIsSentWhenSMTPIsConfigured, and a failure to send is
// reported without losing the invitation.
func TestInvitationMailIsSentWhenSMTPIsConfigured(t *testing.T) {
	f := newFixture(t, "sqlite", options{smtp: true})
	ctx := context.Background()
	a := f.inviter(t)
	inv := f.invite(t, a, "grace@example.com", fluxhook.RoleDashboardAdmin, nil)
	if !inv.EmailSent || inv.EmailStatus != "sent" {
		t.Fatalf("email_sent=%v status=%q, want true, sent", inv.EmailSent, inv.EmailStatus)
	}
	mails := f.direct.all()
	if len(mails) != 1 || mails[0].To != "grace@example.com" || !strings.Contains(mails[0].Text, inv.InviteLink+"\n") ||
		!strings.Contains(mails[0].Text, "dashboard_admin") {
		t.Fatalf("mails = %+v, want one to grace with the link and the role", mails)
	}

	f.direct.fail = errors.New("550 mailbox unavailable")
	inv = f.invite(t, a, "linus@example.com", fluxhook.RoleDashboardUser, nil)
	if inv.EmailSent || !strings.HasPrefix(inv.EmailStatus, "sending failed") {
		t.Fatalf("with a failing sender: email_sent=%v status=%q", inv.EmailSent, inv.EmailStatus)
	}
	if _, err := f.accounts.ValidateInvitation(ctx, inv.Invitation.Token); err != nil {
		t.Fatalf("the invitation whose mail failed: %v", err)
	}
}
