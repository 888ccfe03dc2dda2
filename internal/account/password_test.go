package account_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/cachebus"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/mail"
	"github.com/fluxhook/fluxhook/internal/secretbox"
	"github.com/fluxhook/fluxhook/internal/store"
)

// newService returns a Service on a fresh SQLite database whose shortest
// accepted password is minPassword (0: the default).
func newService(tb testing.TB, minPassword int) *account.Service {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(tb.TempDir(), "account.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tokens, err := auth.NewTokens(bytes.Repeat([]byte("k"), 32), "fluxhook-test", 15*time.Minute, time.Now)
	if err != nil {
		tb.Fatal(err)
	}
	box, err := secretbox.New(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	sender := mail.NewLog(logger, false)
	mq := account.NewMailQueue(sender, logger, 10)
	tb.Cleanup(func() { mq.Close(context.Background()) })
	return account.New(account.Deps{DB: db, Hasher: auth.NewHasher(auth.TestParams()), Tokens: tokens, Mail: mq,
		Sender: sender, Box: box, Bus: &cachebus.Local{}, Logger: logger},
		account.Config{PublicURL: "http://fluxhook.test", MinPassword: minPassword})
}

// passwordProblem returns the validation message for the password field,
// or "" when err is nil.
func passwordProblem(tb testing.TB, err error) string {
	tb.Helper()
	return fieldProblem(tb, err, "password")
}

func fieldProblem(tb testing.TB, err error, field string) string {
	tb.Helper()
	if err == nil {
		return ""
	}
	var fe *fluxhook.Error
	if !errors.As(err, &fe) || fe.Kind != fluxhook.KindInvalid {
		tb.Fatalf("error %v is not a validation error", err)
	}
	return fe.Details[field]
}

func TestMinPasswordLength(t *testing.T) {
	tests := []struct {
		name     string
		min      int
		password string
		want     string // the password problem; "" means accepted
	}{
		{"default refuses 11", 0, "elevenchars", "must be at least 12 characters"},
		{"default accepts 12", 0, "twelve chars", ""},
		{"8 accepts the examples' password", 8, "password", ""},
		{"8 refuses 7", 8, "passwor", "must be at least 8 characters"},
		{"characters, not bytes", 8, "pässwörd", ""},
		{"20 refuses 19", 20, "nineteen characters", "must be at least 20 characters"},
		{"the maximum still holds", 8, string(bytes.Repeat([]byte("x"), 257)), "must be at most 256 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService(t, tt.min)
			_, err := s.SignUp(context.Background(), account.SignUpInput{Email: "ada@example.com", Password: tt.password})
			if got := passwordProblem(t, err); got != tt.want {
				t.Errorf("SignUp password problem = %q, want %q (err %v)", got, tt.want, err)
			}
			if tt.want != "" {
				return
			}
			// The account works with the password it was given.
			if _, err := s.SignIn(context.Background(), "ada@example.com", tt.password, account.AudienceApp); err != nil {
				t.Errorf("SignIn after SignUp: %v", err)
			}
		})
	}
}

// The bootstrap admin, invitations and password changes check the same
// setting as sign-up.
func TestMinPasswordLengthEverywhere(t *testing.T) {
	ctx := context.Background()
	s := newService(t, 8)
	_, err := s.EnsureAdmin(ctx, "admin@example.com", "passwor")
	if got := fieldProblem(t, err, "FLUXHOOK_ADMIN_PASSWORD"); got != "must be at least 8 characters" {
		t.Errorf("EnsureAdmin password problem = %q (err %v)", got, err)
	}
	if created, err := s.EnsureAdmin(ctx, "admin@example.com", "password"); err != nil || !created {
		t.Fatalf("EnsureAdmin with an 8-character password: created %v, err %v", created, err)
	}
	admin, err := s.SignIn(ctx, "admin@example.com", "password", account.AudienceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := s.Invite(ctx, &fluxhook.Actor{UserID: admin.User.ID, Role: fluxhook.RoleDashboardAdmin},
		account.InviteInput{Email: "new@example.com", Role: fluxhook.RoleDashboardUser})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AcceptInvitation(ctx, inv.Invitation.Token, account.AcceptInput{Password: "short", Name: "New"})
	if got := passwordProblem(t, err); got != "must be at least 8 characters" {
		t.Errorf("AcceptInvitation password problem = %q (err %v)", got, err)
	}
	if _, err := s.AcceptInvitation(ctx, inv.Invitation.Token, account.AcceptInput{Password: "8 chars!", Name: "New"}); err != nil {
		t.Errorf("AcceptInvitation with an 8-character password: %v", err)
	}
	short := "1234567"
	_, err = s.UpdateSelf(ctx, admin.User.ID, "", account.UpdateInput{Password: &short})
	if got := passwordProblem(t, err); got != "must be at least 8 characters" {
		t.Errorf("UpdateSelf password problem = %q (err %v)", got, err)
	}
}
