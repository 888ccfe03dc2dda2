package account_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func TestSignUpValidation(t *testing.T) {
	f := newFixture(t, "sqlite", options{})
	ok := account.SignUpInput{Email: "ada@example.com", Password: password, Name: "Ada"}
	cases := []struct {
		name  string
		edit  func(in *account.SignUpInput)
		field string // "" when valid
	}{
		{"email missing", func(in *account.SignUpInput) { in.Email = "" }, "email"},
		{"email without @", func(in *account.SignUpInput) { in.Email = "ada.example.com" }, "email"},
		{"email without a dot in the domain", func(in *account.SignUpInput) { in.Email = "ada@localhost" }, "email"},
		{"email with a display name", func(in *account.SignUpInput) { in.Email = "Ada <ada@example.com>" }, "email"},
		{"email of 255 characters", func(in *account.SignUpInput) { in.Email = strings.Repeat("a", 243) + "@example.com" }, "email"},
		{"password missing", func(in *account.SignUpInput) { in.Password = "" }, "password"},
		{"password of 11 characters", func(in *account.SignUpInput) { in.Password = strings.Repeat("p", 11) }, "password"},
		{"password of 12 characters", func(in *account.SignUpInput) { in.Email = "p12@example.com"; in.Password = strings.Repeat("p", 12) }, ""},
		{"password of 12 two-byte characters", func(in *account.SignUpInput) { in.Email = "p12u@example.com"; in.Password = strings.Repeat("é", 12) }, ""},
		{"password of 11 two-byte characters", func(in *account.SignUpInput) { in.Password = strings.Repeat("é", 11) }, "password"},
		{"password of 256 characters", func(in *account.SignUpInput) { in.Email = "p256@example.com"; in.Password = strings.Repeat("p", 256) }, ""},
		{"password of 257 characters", func(in *account.SignUpInput) { in.Password = strings.Repeat("p", 257) }, "password"},
		{"name of 101 characters", func(in *account.SignUpInput) { in.Name = strings.Repeat("n", 101) }, "name"},
		{"name with a line break", func(in *account.SignUpInput) { in.Name = "Ada\nBcc: x@example.com" }, "name"},
		{"name may be empty", func(in *account.SignUpInput) { in.Email = "noname@example.com"; in.Name = "" }, ""},
		{"metadata an array", func(in *account.SignUpInput) { in.Metadata = json.RawMessage(`[1]`) }, "metadata"},
		{"metadata a string", func(in *account.SignUpInput) { in.Metadata = json.RawMessage(`"x"`) }, "metadata"},
		{"metadata over 16 KiB", func(in *account.SignUpInput) {
			in.Metadata = json.RawMessage(`{"k":"` + strings.Repeat("x", 16<<10) + `"}`)
		}, "metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			tc.edit(&in)
			res, err := f.accounts.SignUp(context.Background(), in)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			invalid(t, err, tc.field)
			if res != nil {
				t.Fatal("a refused sign-up returned a session")
			}
			if _, err := f.db.UserByEmail(context.Background(), in.Email); !fluxhook.IsNotFound(err) {
				t.Fatalf("a refused sign-up created a user (%v)", err)
			}
		})
	}
}

func TestSignUpCreatesAnAppUserSignsThemInAndMailsAVerificationLink(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		res, err := f.accounts.SignUp(ctx, account.SignUpInput{Email: "  Ada@Example.COM ", Password: password, Name: " Ada "})
		if err != nil {
			t.Fatal(err)
		}
		u := res.User
		if u.Email != "ada@example.com" || u.Name != "Ada" || u.Role != fluxhook.RoleUser || u.EmailVerified || string(u.Metadata) != "{}" {
			t.Fatalf("new user = %+v, want a lower-cased email, a trimmed name, role user, unverified, metadata {}", u)
		}
		stored, err := f.db.UserByEmail(ctx, "ada@example.com")
		if err != nil || stored.ID != u.ID {
			t.Fatalf("stored user: %+v (%v)", stored, err)
		}
		if stored.PasswordHash == "" || strings.Contains(stored.PasswordHash, password) {
			t.Fatal("the password is not stored as a hash")
		}

		claims, err := f.tokens.Parse(res.AccessToken, auth.AudienceApp)
		if err != nil {
			t.Fatalf("access token: %v", err)
		}
		if claims.UserID != u.ID || claims.Role != fluxhook.RoleUser || claims.SessionID == "" {
			t.Fatalf("access token claims %+v", claims)
		}
		if _, err := f.tokens.Parse(res.AccessToken, auth.AudienceAdmin); err == nil {
			t.Fatal("a sign-up's access token opens the admin endpoints")
		}
		if !auth.IsOpaque(res.RefreshToken, auth.PrefixRefresh) || res.ExpiresIn != 900 {
			t.Fatalf("refresh token %q, expires_in %d", res.RefreshToken, res.ExpiresIn)
		}

		es := f.events(t)
		if names(es) != "user.created" || es[0].userID != u.ID || es[0].data["email"] != "ada@example.com" || es[0].data["email_verified"] != false {
			t.Fatalf("events = %+v, want one user.created about the new user", es)
		}
		token := f.mailedToken(t, "ada@example.com", "Verify your email address", "/verify-email", 0)
		if err := f.accounts.VerifyEmail(ctx, token); err != nil {
			t.Fatalf("the mailed token does not verify: %v", err)
		}

		_, err = f.accounts.SignUp(ctx, account.SignUpInput{Email: "ADA@example.com", Password: password})
		if fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("second sign-up with the same address: err = %v, want conflict", err)
		}
		if es := f.events(t); names(es) != "email.verified" {
			t.Fatalf("after a refused sign-up, events = %s, want only the verification before it", names(es))
		}
	})
}

// TestWrongPasswordAndUnknownEmailLookAlike: a sign-in does not reveal
// which addresses have accounts.
func TestWrongPasswordAndUnknownEmailLookAlike(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.signUp(t, "ada@example.com")
		f.events(t)

		_, wrong := f.accounts.SignIn(ctx, "ada@example.com", "not the password", account.AudienceApp)
		_, unknown := f.accounts.SignIn(ctx, "nobody@example.com", "not the password", account.AudienceApp)
		_, huge := f.accounts.SignIn(ctx, "ada@example.com", strings.Repeat("p", 5000), account.AudienceApp)
		for _, err := range []error{wrong, unknown, huge} {
			code(t, err, fluxhook.KindUnauthorized, "INVALID_CREDENTIALS")
		}
		if wrong.Error() != unknown.Error() {
			t.Fatalf("wrong password says %q, unknown email says %q: they must read the same", wrong, unknown)
		}
		// An app user with the right password at the dashboard is told no
		// only once the password is right; with a wrong one, nothing is revealed.
		_, dash := f.accounts.SignIn(ctx, "ada@example.com", "not the password", account.AudienceAdmin)
		if dash.Error() != unknown.Error() {
			t.Fatalf("a wrong password at the admin login says %q, want %q", dash, unknown)
		}
		if es := f.events(t); len(es) != 0 {
			t.Fatalf("failed sign-ins emitted %s", names(es))
		}
		if u, _ := f.db.UserByEmail(ctx, "ada@example.com"); u.LastLoginAt != nil {
			t.Fatalf("a failed sign-in set last_login_at to %v", u.LastLoginAt)
		}

		_, err := f.accounts.SignIn(ctx, "", "", account.AudienceApp)
		invalid(t, err, "email")
		invalid(t, err, "password")
	})
}

func TestSignInStartsASessionForTheRightAudience(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.signUp(t, "ada@example.com")
		admin := f.dashboardUser(t, "admin@example.com", fluxhook.RoleDashboardAdmin)
		f.events(t)
		f.clock.Advance(time.Hour)

		res := f.signIn(t, "ADA@example.com", account.AudienceApp)
		if res.User.LastLoginAt == nil || !res.User.LastLoginAt.Equal(f.clock.Now()) {
			t.Fatalf("last_login_at = %v, want %v", res.User.LastLoginAt, f.clock.Now())
		}
		if u, _ := f.db.UserByEmail(ctx, "ada@example.com"); u.LastLoginAt == nil || !u.LastLoginAt.Equal(f.clock.Now()) {
			t.Fatalf("stored last_login_at = %v", u.LastLoginAt)
		}
		es := f.events(t)
		if names(es) != "auth.login" || es[0].userID != res.User.ID || es[0].data["audience"] != "app" {
			t.Fatalf("events = %+v, want one auth.login for the app", es)
		}

		_, err := f.accounts.SignIn(ctx, "ada@example.com", password, account.AudienceAdmin)
		code(t, err, fluxhook.KindForbidden, "NOT_A_DASHBOARD_USER")
		if es := f.events(t); len(es) != 0 {
			t.Fatalf("a refused admin login emitted %s", names(es))
		}

		adm := f.signIn(t, "admin@example.com", account.AudienceAdmin)
		claims, err := f.tokens.Parse(adm.AccessToken, auth.AudienceAdmin)
		if err != nil || claims.UserID != admin.ID || claims.Role != fluxhook.RoleDashboardAdmin {
			t.Fatalf("admin access token: %+v (%v)", claims, err)
		}
		if _, err := f.tokens.Parse(adm.AccessToken, auth.AudienceApp); err == nil {
			t.Fatal("an admin login's token is accepted by the app endpoints")
		}
		// Refreshing keeps the audience rule: an app user's refresh token
		// does not yield an admin token.
		_, err = f.accounts.Refresh(ctx, res.RefreshToken, account.AudienceAdmin)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
	})
}

// TestRefreshRotatesAndReuseEndsTheSession: API.md "refresh tokens
// rotate; reuse of an old one revokes the family".
func TestRefreshRotatesAndReuseEndsTheSession(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first := f.signUp(t, "ada@example.com")
		other := f.signIn(t, "ada@example.com", account.AudienceApp)

		second, err := f.accounts.Refresh(ctx, first.RefreshToken, account.AudienceApp)
		if err != nil {
			t.Fatal(err)
		}
		if second.RefreshToken == first.RefreshToken || !auth.IsOpaque(second.RefreshToken, auth.PrefixRefresh) {
			t.Fatalf("refresh returned refresh token %q, want a new one", second.RefreshToken)
		}
		c1, _ := f.tokens.Parse(first.AccessToken, auth.AudienceApp)
		c2, err := f.tokens.Parse(second.AccessToken, auth.AudienceApp)
		if err != nil || c2.SessionID != c1.SessionID || c2.UserID != c1.UserID {
			t.Fatalf("refreshed access token %+v (%v), want the same user and session as %+v", c2, err, c1)
		}

		_, err = f.accounts.Refresh(ctx, first.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "REFRESH_TOKEN_REUSED")
		_, err = f.accounts.Refresh(ctx, second.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")

		// Another session of the same user is not affected.
		if _, err := f.accounts.Refresh(ctx, other.RefreshToken, account.AudienceApp); err != nil {
			t.Fatalf("the user's other session: %v", err)
		}

		_, err = f.accounts.Refresh(ctx, "", account.AudienceApp)
		invalid(t, err, "refresh_token")
		unknown, _ := auth.NewOpaque(auth.PrefixRefresh)
		for _, bad := range []string{"garbage", unknown, strings.Replace(unknown, "fbr_", "fbk_", 1)} {
			_, err = f.accounts.Refresh(ctx, bad, account.AudienceApp)
			code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
		}
	})
}

// TestConcurrentUsesOfOneRefreshTokenSucceedOnce: two clients racing with
// one token is reuse too: one of them gets a new pair, and the session ends.
func TestConcurrentUsesOfOneRefreshTokenSucceedOnce(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first := f.signUp(t, "ada@example.com")
		const n = 4
		results := make([]*account.AuthResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = f.accounts.Refresh(ctx, first.RefreshToken, account.AudienceApp)
			}()
		}
		wg.Wait()
		var won *account.AuthResult
		reused := 0
		for i := range n {
			if errs[i] == nil {
				if won != nil {
					t.Fatal("two concurrent uses of one refresh token both succeeded")
				}
				won = results[i]
				continue
			}
			// A loser finds the token used (reuse), or its session already
			// ended by another loser.
			if fluxhook.ErrorCode(errs[i]) == "REFRESH_TOKEN_REUSED" {
				reused++
			} else {
				code(t, errs[i], fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
			}
		}
		if reused == 0 {
			t.Fatalf("no loser was told of reuse: %v", errs)
		}
		if won == nil {
			t.Fatalf("no concurrent use succeeded: %v", errs)
		}
		_, err := f.accounts.Refresh(ctx, won.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
	})
}

func TestRefreshTokenExpires(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, driver, options{refreshTTL: time.Hour})
			ctx := context.Background()
			early := f.signUp(t, "ada@example.com")
			late := f.signIn(t, "ada@example.com", account.AudienceApp)
			f.clock.Advance(time.Hour - time.Second)
			renewed, err := f.accounts.Refresh(ctx, late.RefreshToken, account.AudienceApp)
			if err != nil {
				t.Fatalf("a second before its expiry: %v", err)
			}
			f.clock.Advance(time.Second)
			_, err = f.accounts.Refresh(ctx, early.RefreshToken, account.AudienceApp)
			code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
			// The rotated token has a lifetime of its own.
			f.clock.Advance(time.Hour - 2*time.Second)
			if _, err := f.accounts.Refresh(ctx, renewed.RefreshToken, account.AudienceApp); err != nil {
				t.Fatalf("the rotated token within its own hour: %v", err)
			}
		})
	}
}

func TestSignOutEndsOnlyThatSession(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		one := f.signUp(t, "ada@example.com")
		two := f.signIn(t, "ada@example.com", account.AudienceApp)
		f.events(t)
		c, _ := f.tokens.Parse(one.AccessToken, auth.AudienceApp)
		if err := f.accounts.SignOut(ctx, c.UserID, c.SessionID); err != nil {
			t.Fatal(err)
		}
		_, err := f.accounts.Refresh(ctx, one.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
		if _, err := f.accounts.Refresh(ctx, two.RefreshToken, account.AudienceApp); err != nil {
			t.Fatalf("the other session after sign-out: %v", err)
		}
		if es := f.events(t); names(es) != "auth.logout" || es[0].userID != c.UserID {
			t.Fatalf("events = %+v, want one auth.logout", es)
		}
	})
}

// TestSharedRefreshTakesARaceForARace: the dashboard's tabs share one
// cookie and, without Web Locks (plain http), may send it together. A
// second use within the grace is a race: 409, the session lives on and
// its new token works; a use after the grace is reuse and ends it.
func TestSharedRefreshTakesARaceForARace(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first := f.signUp(t, "ada@example.com")
		const n = 4
		results := make([]*account.AuthResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = f.accounts.RefreshShared(ctx, first.RefreshToken, account.AudienceApp) })
		}
		wg.Wait()
		var won *account.AuthResult
		for i := range n {
			if errs[i] == nil {
				if won != nil {
					t.Fatal("two concurrent uses of one refresh token both succeeded")
				}
				won = results[i]
				continue
			}
			code(t, errs[i], fluxhook.KindConflict, "REFRESH_RACE")
		}
		if won == nil {
			t.Fatalf("no concurrent use succeeded: %v", errs)
		}
		// The tab that lost sends the cookie again, which holds the new token.
		next, err := f.accounts.RefreshShared(ctx, won.RefreshToken, account.AudienceApp)
		if err != nil {
			t.Fatalf("the session did not survive the race: %v", err)
		}
		// The old token within the grace: still a race, nothing ends.
		_, err = f.accounts.RefreshShared(ctx, won.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindConflict, "REFRESH_RACE")
		// After the grace it is reuse: the session ends, its newest token too.
		f.clock.Advance(account.SharedRefreshGrace)
		_, err = f.accounts.RefreshShared(ctx, won.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "REFRESH_TOKEN_REUSED")
		_, err = f.accounts.RefreshShared(ctx, next.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
	})
}
