package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

const resetSubject = "Reset your password"

// TestPasswordResetTokenWorksOnceWithinTheHour: the mailed token sets a
// new password once, within ResetTokenTTL, and ends every session.
func TestPasswordResetTokenWorksOnceWithinTheHour(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		before := f.signUp(t, "ada@example.com")
		f.events(t)

		// Unknown addresses get the same answer and nothing else. The
		// queue is first in, first out: had the unknown address been
		// mailed, that mail would come before Ada's.
		if err := f.accounts.RequestPasswordReset(ctx, "nobody@example.com"); err != nil {
			t.Fatalf("unknown address: %v, want the same nil as a known one", err)
		}
		if err := f.accounts.RequestPasswordReset(ctx, "Ada@Example.com"); err != nil {
			t.Fatal(err)
		}
		token := f.mailedToken(t, "ada@example.com", resetSubject, "/reset-password", 0)
		for _, m := range f.queued.all() {
			if m.To == "nobody@example.com" {
				t.Fatal("a reset mail went to an address without an account")
			}
		}
		if es := f.events(t); names(es) != "password.reset" || es[0].userID != before.User.ID {
			t.Fatalf("events = %+v, want one password.reset for ada only", es)
		}

		// A password that breaks the rules does not use the token up.
		invalid(t, f.accounts.ConfirmPasswordReset(ctx, token, "short"), "password")
		// Nor does presenting it as another kind of token.
		code(t, f.accounts.VerifyEmail(ctx, token), fluxhook.KindInvalid, "INVALID_TOKEN")

		const newPassword = "a brand new passphrase"
		if err := f.accounts.ConfirmPasswordReset(ctx, token, newPassword); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if _, err := f.accounts.SignIn(ctx, "ada@example.com", newPassword, account.AudienceApp); err != nil {
			t.Fatalf("the new password: %v", err)
		}
		_, err := f.accounts.SignIn(ctx, "ada@example.com", password, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_CREDENTIALS")
		_, err = f.accounts.Refresh(ctx, before.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")

		code(t, f.accounts.ConfirmPasswordReset(ctx, token, "yet another passphrase"), fluxhook.KindInvalid, "INVALID_TOKEN")

		// Only the newest link works, and only within the hour.
		if err := f.accounts.RequestPasswordReset(ctx, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		older := f.mailedToken(t, "ada@example.com", resetSubject, "/reset-password", 1)
		if err := f.accounts.RequestPasswordReset(ctx, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		newer := f.mailedToken(t, "ada@example.com", resetSubject, "/reset-password", 2)
		code(t, f.accounts.ConfirmPasswordReset(ctx, older, "yet another passphrase"), fluxhook.KindInvalid, "INVALID_TOKEN")
		f.clock.Advance(account.ResetTokenTTL)
		code(t, f.accounts.ConfirmPasswordReset(ctx, newer, "yet another passphrase"), fluxhook.KindInvalid, "INVALID_TOKEN")
		if _, err := f.accounts.SignIn(ctx, "ada@example.com", newPassword, account.AudienceApp); err != nil {
			t.Fatalf("refused resets changed the password: %v", err)
		}

		unknown, _ := auth.NewOpaque(auth.PrefixOneTime)
		for _, bad := range []string{"garbage", unknown} {
			code(t, f.accounts.ConfirmPasswordReset(ctx, bad, "yet another passphrase"), fluxhook.KindInvalid, "INVALID_TOKEN")
		}
		invalid(t, f.accounts.ConfirmPasswordReset(ctx, "", "yet another passphrase"), "token")
		invalid(t, f.accounts.RequestPasswordReset(ctx, "not an address"), "email")
	})
}

// TestEmailVerificationTokenWorksOnceWithin48Hours, and a changed address
// must be verified again.
func TestEmailVerificationTokenWorksOnceWithin48Hours(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const subject = "Verify your email address"
		ada := f.signUp(t, "ada@example.com")
		bob := f.signUp(t, "bob@example.com")
		adaToken := f.mailedToken(t, "ada@example.com", subject, "/verify-email", 0)
		bobToken := f.mailedToken(t, "bob@example.com", subject, "/verify-email", 0)
		f.events(t)

		f.clock.Advance(account.VerificationTokenTTL - time.Second)
		if err := f.accounts.VerifyEmail(ctx, adaToken); err != nil {
			t.Fatalf("within 48 h: %v", err)
		}
		if u, _ := f.accounts.User(ctx, ada.User.ID); !u.EmailVerified {
			t.Fatal("the address is not marked verified")
		}
		if es := f.events(t); names(es) != "email.verified" || es[0].userID != ada.User.ID {
			t.Fatalf("events = %+v, want one email.verified", es)
		}
		code(t, f.accounts.VerifyEmail(ctx, adaToken), fluxhook.KindInvalid, "INVALID_TOKEN")
		code(t, f.accounts.ConfirmPasswordReset(ctx, bobToken, "a brand new passphrase"), fluxhook.KindInvalid, "INVALID_TOKEN")

		f.clock.Advance(time.Second)
		code(t, f.accounts.VerifyEmail(ctx, bobToken), fluxhook.KindInvalid, "INVALID_TOKEN")
		if u, _ := f.accounts.User(ctx, bob.User.ID); u.EmailVerified {
			t.Fatal("an expired token verified the address")
		}
		if es := f.events(t); len(es) != 0 {
			t.Fatalf("refused verifications emitted %s", names(es))
		}
		invalid(t, f.accounts.VerifyEmail(ctx, ""), "token")

		// A new address is unverified until its own link is opened.
		c, _ := f.tokens.Parse(ada.AccessToken, auth.AudienceApp)
		u, err := f.accounts.UpdateSelf(ctx, ada.User.ID, c.SessionID, account.UpdateInput{Email: strp("Ada.New@Example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "ada.new@example.com" || u.EmailVerified {
			t.Fatalf("after changing the address: %q verified=%v, want the new address unverified", u.Email, u.EmailVerified)
		}
		newToken := f.mailedToken(t, "ada.new@example.com", subject, "/verify-email", 0)
		if err := f.accounts.VerifyEmail(ctx, newToken); err != nil {
			t.Fatal(err)
		}
		if u, _ := f.accounts.User(ctx, ada.User.ID); !u.EmailVerified {
			t.Fatal("the new address's link did not verify it")
		}
		// The same address in other letter case is no change.
		u, err = f.accounts.UpdateSelf(ctx, ada.User.ID, c.SessionID, account.UpdateInput{Email: strp("ADA.NEW@example.com")})
		if err != nil || !u.EmailVerified {
			t.Fatalf("re-entering the same address: verified=%v (%v), want it to stay verified", u.EmailVerified, err)
		}
	})
}
