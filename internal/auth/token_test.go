package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	testNow    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

const testIssuer = "https://fluxhook.test"

// newTokens returns Tokens whose clock reads *now.
func newTokens(tb testing.TB, now *time.Time) *auth.Tokens {
	tb.Helper()
	tk, err := auth.NewTokens(testSecret, testIssuer, 15*time.Minute, func() time.Time { return *now })
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

// sign makes a token with arbitrary claims and method, as an attacker or a
// misconfigured peer would.
func sign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// validClaims are claims Parse accepts at testNow, to break one at a time.
func validClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":  testIssuer,
		"aud":  []string{auth.AudienceApp},
		"sub":  "user-1",
		"role": "user",
		"sid":  "family-1",
		"iat":  testNow.Unix(),
		"nbf":  testNow.Unix(),
		"exp":  testNow.Add(time.Minute).Unix(),
	}
}

func with(c jwt.MapClaims, key string, v any) jwt.MapClaims {
	c[key] = v
	if v == nil {
		delete(c, key)
	}
	return c
}

func TestIssueParse(t *testing.T) {
	now := testNow
	tk := newTokens(t, &now)
	in := auth.Claims{UserID: "user-1", Role: fluxhook.RoleDashboardAdmin, SessionID: "family-1", Audience: auth.AudienceAdmin}
	token, expiresIn, err := tk.Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	if expiresIn != 15*time.Minute {
		t.Errorf("expiresIn = %v, want 15m", expiresIn)
	}
	if !auth.LooksLikeJWT(token) {
		t.Errorf("LooksLikeJWT(%q) = false", token)
	}
	got, err := tk.Parse(token, auth.AudienceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != in.UserID || got.Role != in.Role || got.SessionID != in.SessionID || got.Audience != in.Audience {
		t.Errorf("Parse = %+v, want the issued %+v", got, in)
	}
	if !got.IssuedAt.Equal(testNow) || !got.ExpiresAt.Equal(testNow.Add(15*time.Minute)) {
		t.Errorf("iat, exp = %v, %v; want %v, %v", got.IssuedAt, got.ExpiresAt, testNow, testNow.Add(15*time.Minute))
	}
	again, _, err := tk.Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := tk.Parse(again, auth.AudienceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if got.TokenID == "" || got.TokenID == got2.TokenID {
		t.Errorf("jti %q and %q: want distinct and non-empty", got.TokenID, got2.TokenID)
	}

	t.Run("accepted while valid, refused once expired", func(t *testing.T) {
		now = testNow.Add(15*time.Minute - time.Second)
		if _, err := tk.Parse(token, auth.AudienceAdmin); err != nil {
			t.Errorf("one second before exp: %v", err)
		}
		now = testNow.Add(15*time.Minute + 6*time.Second) // past the 5 s leeway
		_, err := tk.Parse(token, auth.AudienceAdmin)
		if fluxhook.ErrorCode(err) != "TOKEN_EXPIRED" {
			t.Errorf("after exp: err = %v, want TOKEN_EXPIRED", err)
		}
		now = testNow
	})
	t.Run("another audience is refused", func(t *testing.T) {
		if _, err := tk.Parse(token, auth.AudienceApp); fluxhook.ErrorCode(err) != "INVALID_TOKEN" {
			t.Errorf("err = %v, want INVALID_TOKEN", err)
		}
	})
	t.Run("any of several audiences", func(t *testing.T) {
		got, err := tk.Parse(token, auth.AudienceApp, auth.AudienceAdmin)
		if err != nil || got.Audience != auth.AudienceAdmin {
			t.Errorf("Parse = (%q, %v), want audience admin", got.Audience, err)
		}
	})
	t.Run("no audience accepts nothing", func(t *testing.T) {
		if _, err := tk.Parse(token); fluxhook.ErrorCode(err) != "INVALID_TOKEN" {
			t.Errorf("err = %v, want INVALID_TOKEN", err)
		}
	})
}

func TestParseRefuses(t *testing.T) {
	now := testNow
	tk := newTokens(t, &now)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherSecret := []byte("fedcba9876543210fedcba9876543210")
	hs256 := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, testSecret, c) }

	tests := []struct {
		name     string
		token    string
		wantCode string
	}{
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()), "INVALID_TOKEN"},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, validClaims()), "INVALID_TOKEN"},
		{"HS512 with the right secret", sign(t, jwt.SigningMethodHS512, testSecret, validClaims()), "INVALID_TOKEN"},
		{"HS384 with the right secret", sign(t, jwt.SigningMethodHS384, testSecret, validClaims()), "INVALID_TOKEN"},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, otherSecret, validClaims()), "INVALID_TOKEN"},
		{"wrong secret and expired", sign(t, jwt.SigningMethodHS256, otherSecret, with(validClaims(), "exp", testNow.Add(-time.Hour).Unix())), "INVALID_TOKEN"},
		{"wrong issuer", hs256(with(validClaims(), "iss", "https://evil.test")), "INVALID_TOKEN"},
		{"no issuer", hs256(with(validClaims(), "iss", nil)), "INVALID_TOKEN"},
		{"wrong audience", hs256(with(validClaims(), "aud", []string{auth.AudienceAdmin})), "INVALID_TOKEN"},
		{"no audience", hs256(with(validClaims(), "aud", nil)), "INVALID_TOKEN"},
		{"expired", hs256(with(validClaims(), "exp", testNow.Add(-time.Minute).Unix())), "TOKEN_EXPIRED"},
		{"missing exp", hs256(with(validClaims(), "exp", nil)), "INVALID_TOKEN"},
		{"not yet valid", hs256(with(validClaims(), "nbf", testNow.Add(time.Minute).Unix())), "INVALID_TOKEN"},
		{"issued in the future", hs256(with(validClaims(), "iat", testNow.Add(time.Minute).Unix())), "INVALID_TOKEN"},
		{"no subject", hs256(with(validClaims(), "sub", nil)), "INVALID_TOKEN"},
		{"unknown role", hs256(with(validClaims(), "role", "superuser")), "INVALID_TOKEN"},
		{"no role", hs256(with(validClaims(), "role", nil)), "INVALID_TOKEN"},
		{"no session", hs256(with(validClaims(), "sid", nil)), "INVALID_TOKEN"},
		{"tampered payload", tamper(t, hs256(validClaims())), "INVALID_TOKEN"},
		{"garbage", "not a token", "INVALID_TOKEN"},
		{"three garbage segments", "aaa.bbb.ccc", "INVALID_TOKEN"},
		{"client key", "fbk_" + strings.Repeat("A", 43), "INVALID_TOKEN"},
		{"empty", "", "INVALID_TOKEN"},
		{"huge", strings.Repeat("a", 5000) + ".b.c", "INVALID_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tk.Parse(tt.token, auth.AudienceApp)
			var fe *fluxhook.Error
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *fluxhook.Error", err)
			}
			if fe.Kind != fluxhook.KindUnauthorized || fe.Code != tt.wantCode || fe.Message == "" || fe.Err == nil {
				t.Errorf("err = %+v, want kind unauthorized, code %s, a message and a cause", fe, tt.wantCode)
			}
		})
	}

	t.Run("within leeway", func(t *testing.T) {
		for name, c := range map[string]jwt.MapClaims{
			"as built":      validClaims(),
			"iat 3 s ahead": with(validClaims(), "iat", testNow.Add(3*time.Second).Unix()),
			"nbf 3 s ahead": with(validClaims(), "nbf", testNow.Add(3*time.Second).Unix()),
			"exp 3 s ago":   with(validClaims(), "exp", testNow.Add(-3*time.Second).Unix()),
			"single aud":    with(validClaims(), "aud", auth.AudienceApp),
		} {
			if _, err := tk.Parse(hs256(c), auth.AudienceApp); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// tamper changes the role in a token's payload without re-signing it.
func tamper(tb testing.TB, token string) string {
	tb.Helper()
	parts := strings.Split(token, ".")
	payload, err := jwt.NewParser().DecodeSegment(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	forged := strings.Replace(string(payload), `"role":"user"`, `"role":"dashboard_admin"`, 1)
	if forged == string(payload) {
		tb.Fatal("tamper: role not found in payload")
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
	return strings.Join(parts, ".")
}

func TestNewTokens(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		issuer  string
		ttl     time.Duration
		wantErr bool
	}{
		{"valid", testSecret, testIssuer, time.Minute, false},
		{"31-byte secret", testSecret[:31], testIssuer, time.Minute, true},
		{"no secret", nil, testIssuer, time.Minute, true},
		{"no issuer", testSecret, "", time.Minute, true},
		{"zero ttl", testSecret, testIssuer, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewTokens(tt.secret, tt.issuer, tt.ttl, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	now := testNow
	tk := newTokens(t, &now)
	tests := []struct {
		name string
		c    auth.Claims
	}{
		{"no user", auth.Claims{Role: fluxhook.RoleUser, Audience: auth.AudienceApp}},
		{"unknown role", auth.Claims{UserID: "u", Role: "root", Audience: auth.AudienceApp}},
		{"unknown audience", auth.Claims{UserID: "u", Role: fluxhook.RoleUser, SessionID: "s", Audience: "everyone"}},
		{"no session", auth.Claims{UserID: "u", Role: fluxhook.RoleUser, Audience: auth.AudienceApp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, _, err := tk.Issue(tt.c); err == nil {
				t.Errorf("Issue = %q, want an error", tok)
			}
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl-_", true},
		{"fbk_" + strings.Repeat("A", 43), false},
		{"a.b", false},
		{"a.b.c.d", false},
		{"a..c", false},
		{"a.b.", false},
		{"a.b+/.c", false},
		{"a.b=.c", false},
		{"", false},
		{"Bearer a.b.c", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			if got := auth.LooksLikeJWT(tt.s); got != tt.want {
				t.Errorf("LooksLikeJWT(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}
