package account_test

import (
	"context"
	"slices"
	"testing"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func TestUsersCannotChangeTheirOwnRoleOrVerification(t *testing.T) {
	f := newFixture(t, "sqlite", options{})
	ctx := context.Background()
	ada := f.signUp(t, "ada@example.com")
	admin := fluxhook.RoleDashboardAdmin
	verified := true
	for _, in := range []account.UpdateInput{{Role: &admin}, {EmailVerified: &verified}} {
		_, err := f.accounts.UpdateSelf(ctx, ada.User.ID, "", in)
		code(t, err, fluxhook.KindInvalid, "VALIDATION_FAILED")
	}
	if u, _ := f.accounts.User(ctx, ada.User.ID); u.Role != fluxhook.RoleUser || u.EmailVerified {
		t.Fatalf("after refused self-updates: role %s, verified %v", u.Role, u.EmailVerified)
	}
}

// TestPasswordChangeEndsTheOtherSessions: a new password ends the user's
// other sessions but not the one that changed it.
func TestPasswordChangeEndsTheOtherSessions(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		here := f.signUp(t, "ada@example.com")
		elsewhere := f.signIn(t, "ada@example.com", account.AudienceApp)
		f.events(t)
		c, _ := f.tokens.Parse(here.AccessToken, auth.AudienceApp)

		_, err := f.accounts.UpdateSelf(ctx, c.UserID, c.SessionID, account.UpdateInput{Password: strp("short")})
		invalid(t, err, "password")
		const newPassword = "a brand new passphrase"
		if _, err := f.accounts.UpdateSelf(ctx, c.UserID, c.SessionID, account.UpdateInput{Password: strp(newPassword)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.accounts.Refresh(ctx, here.RefreshToken, account.AudienceApp); err != nil {
			t.Fatalf("the session that changed the password: %v", err)
		}
		_, err = f.accounts.Refresh(ctx, elsewhere.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
		if _, err := f.accounts.SignIn(ctx, "ada@example.com", newPassword, account.AudienceApp); err != nil {
			t.Fatalf("the new password: %v", err)
		}
		es := f.events(t)
		if len(es) < 1 || es[0].name != "user.updated" || !slices.Equal(toStrings(es[0].data["changed"]), []string{"password"}) {
			t.Fatalf("events = %+v, want user.updated with changed [password] first", es)
		}
	})
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, s := range l {
			out = append(out, s.(string))
		}
	}
	return out
}

// TestThereIsAlwaysADashboardAdmin: the last admin can be neither
// demoted nor deleted; role changes and deletions are announced to the
// caches, so a user's client keys act with the new role at once.
func TestThereIsAlwaysADashboardAdmin(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		first := f.dashboardUser(t, "first@example.com", fluxhook.RoleDashboardAdmin)
		user := fluxhook.RoleUser
		_, err := f.accounts.UpdateByAdmin(ctx, first.ID, account.UpdateInput{Role: &user})
		code(t, err, fluxhook.KindConflict, "LAST_ADMIN")
		code(t, f.accounts.Delete(ctx, first.ID), fluxhook.KindConflict, "LAST_ADMIN")
		if got := f.userBus.take(); len(got) != 0 {
			t.Fatalf("refused changes were announced: %v", got)
		}
		if es := f.events(t); len(es) != 0 {
			t.Fatalf("refused changes emitted %s", names(es))
		}

		second := f.dashboardUser(t, "second@example.com", fluxhook.RoleDashboardUser)
		admin := fluxhook.RoleDashboardAdmin
		if _, err := f.accounts.UpdateByAdmin(ctx, second.ID, account.UpdateInput{Role: &admin}); err != nil {
			t.Fatal(err)
		}
		if got := f.userBus.take(); !slices.Equal(got, []string{second.ID}) {
			t.Fatalf("promotion announced %v, want [%s]", got, second.ID)
		}
		u, err := f.accounts.UpdateByAdmin(ctx, first.ID, account.UpdateInput{Role: &user})
		if err != nil {
			t.Fatalf("demoting one of two admins: %v", err)
		}
		if u.Role != fluxhook.RoleUser {
			t.Fatalf("role = %s", u.Role)
		}
		if got := f.userBus.take(); !slices.Equal(got, []string{first.ID}) {
			t.Fatalf("demotion announced %v, want [%s]", got, first.ID)
		}
		es := f.events(t)
		if names(es) != "user.updated,user.updated" || !slices.Equal(toStrings(es[1].data["changed"]), []string{"role"}) || es[1].data["role"] != "user" {
			t.Fatalf("events = %+v, want two user.updated naming the role", es)
		}
		code(t, f.accounts.Delete(ctx, second.ID), fluxhook.KindConflict, "LAST_ADMIN")

		bad := fluxhook.Role("root")
		_, err = f.accounts.UpdateByAdmin(ctx, first.ID, account.UpdateInput{Role: &bad})
		invalid(t, err, "role")
	})
}

func TestDeleteEndsEverythingOfTheUserAndAnnouncesIt(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		ada := f.signUp(t, "ada@example.com")
		f.events(t)
		if err := f.accounts.Delete(ctx, ada.User.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.accounts.User(ctx, ada.User.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("deleted user: err = %v, want not found", err)
		}
		_, err := f.accounts.Refresh(ctx, ada.RefreshToken, account.AudienceApp)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_REFRESH_TOKEN")
		if got := f.userBus.take(); !slices.Equal(got, []string{ada.User.ID}) {
			t.Fatalf("deletion announced %v, want [%s]", got, ada.User.ID)
		}
		if es := f.events(t); names(es) != "user.deleted" || es[0].userID != ada.User.ID || es[0].data["email"] != "ada@example.com" {
			t.Fatalf("events = %+v, want one user.deleted about ada", es)
		}
		if err := f.accounts.Delete(ctx, ada.User.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("second delete: err = %v, want not found", err)
		}
		// The address is free again.
		f.signUp(t, "ada@example.com")
	})
}

// TestEnsureAdminCreatesOnceAndNeverOverwrites: API.md "The first
// dashboard_admin comes from configuration, created at start-up if
// absent, never overwritten."
func TestEnsureAdminCreatesOnceAndNeverOverwrites(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		created, err := f.accounts.EnsureAdmin(ctx, "Root@Example.com", password)
		if err != nil || !created {
			t.Fatalf("first start: created=%v err=%v", created, err)
		}
		u, err := f.db.UserByEmail(ctx, "root@example.com")
		if err != nil || u.Role != fluxhook.RoleDashboardAdmin || !u.EmailVerified {
			t.Fatalf("bootstrap admin = %+v (%v)", u, err)
		}
		f.signIn(t, "root@example.com", account.AudienceAdmin)

		created, err = f.accounts.EnsureAdmin(ctx, "root@example.com", "a changed configured password")
		if err != nil || created {
			t.Fatalf("second start: created=%v err=%v, want nothing done", created, err)
		}
		f.signIn(t, "root@example.com", account.AudienceAdmin) // the old password still works
		_, err = f.accounts.SignIn(ctx, "root@example.com", "a changed configured password", account.AudienceAdmin)
		code(t, err, fluxhook.KindUnauthorized, "INVALID_CREDENTIALS")

		// An app user who already has the address is not promoted.
		f.signUp(t, "app@example.com")
		created, err = f.accounts.EnsureAdmin(ctx, "app@example.com", "a configured admin password")
		if err != nil || created {
			t.Fatalf("address of an app user: created=%v err=%v", created, err)
		}
		if u, _ := f.db.UserByEmail(ctx, "app@example.com"); u.Role != fluxhook.RoleUser {
			t.Fatalf("the app user became %s", u.Role)
		}

		_, err = f.accounts.EnsureAdmin(ctx, "not an address", password)
		invalid(t, err, "FLUXHOOK_ADMIN_EMAIL")
		_, err = f.accounts.EnsureAdmin(ctx, "other@example.com", "short")
		invalid(t, err, "FLUXHOOK_ADMIN_PASSWORD")
	})
}
