package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Audiences of access tokens. A token from an app sign-in must not open
// the admin endpoints, even when the same person holds both kinds of
// account, so each entry point stamps its own audience.
const (
	AudienceApp   = "app"   // /auth sign-ins
	AudienceAdmin = "admin" // /admin/login
)

// Leeway absorbs clock skew between API replicas for iat and nbf; exp
// gets it too, which is the price of the same option in jwt.
const tokenLeeway = 5 * time.Second

// Tokens above this length are rejected before parsing; ours are about
// 400 bytes, and the parser should not chew on megabytes of header.
const maxTokenLen = 4096

// Claims are what an access token says about its bearer.
type Claims struct {
	UserID    string        // sub
	Role      fluxhook.Role // role
	SessionID string        // sid: the refresh-token family; required, so that ending the session ends the token
	Audience  string        // aud: AudienceApp or AudienceAdmin

	// Set by Issue and filled by Parse; Issue ignores what the caller puts here.
	TokenID   string // jti
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// jwtClaims is the wire form of Claims.
type jwtClaims struct {
	Role      fluxhook.Role `json:"role"`
	SessionID string        `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// Tokens issues and parses HS256 access tokens.
type Tokens struct {
	secret []byte
	issuer string
	ttl    time.Duration
	now    func() time.Time
}

// NewTokens returns a Tokens signing with secret, which must be at least
// 32 bytes: HS256 is only as strong as its key, and a short one can be
// brute-forced offline from any token. now is the clock (nil: time.Now).
func NewTokens(secret []byte, issuer string, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("auth: token secret is %d bytes, want at least 32", len(secret))
	}
	if issuer == "" {
		return nil, errors.New("auth: token issuer is empty")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("auth: token ttl %v is not positive", ttl)
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: slices.Clone(secret), issuer: issuer, ttl: ttl, now: now}, nil
}

// Lifetime is how long after its issue Parse still accepts a token, the
// leeway included: how long a session's tokens outlive the session unless
// the session's end is checked.
func (t *Tokens) Lifetime() time.Duration { return t.ttl + tokenLeeway }

// Issue signs an access token for c and returns it with its lifetime.
func (t *Tokens) Issue(c Claims) (token string, expiresIn time.Duration, err error) {
	if c.UserID == "" {
		return "", 0, errors.New("auth: issue token: empty user id")
	}
	if c.SessionID == "" {
		return "", 0, errors.New("auth: issue token: empty session id")
	}
	if !c.Role.Valid() {
		return "", 0, fmt.Errorf("auth: issue token: unknown role %q", c.Role)
	}
	if c.Audience != AudienceApp && c.Audience != AudienceAdmin {
		return "", 0, fmt.Errorf("auth: issue token: unknown audience %q", c.Audience)
	}
	now := t.now()
	wire := jwtClaims{
		Role:      c.Role,
		SessionID: c.SessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   c.UserID,
			Audience:  jwt.ClaimStrings{c.Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        rand.Text(),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, wire).SignedString(t.secret)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign token: %w", err)
	}
	return s, t.ttl, nil
}

// Parse verifies token and returns its claims. The token's audience must
// be one of audiences; with none given every token is refused, so a
// forgotten argument fails closed. Every failure is an *fluxhook.Error of
// kind KindUnauthorized wrapping the cause.
func (t *Tokens) Parse(token string, audiences ...string) (Claims, error) {
	if len(audiences) == 0 {
		return Claims{}, invalidToken(errors.New("no audience accepted"))
	}
	if len(token) > maxTokenLen {
		return Claims{}, invalidToken(errors.New("token too long"))
	}
	p := jwt.NewParser(
		// Exactly HS256: "none" and the public-key algorithms (whose
		// "public key" an attacker would pass as our HMAC secret) are out.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(t.now),
		jwt.WithStrictDecoding(),
	)
	var wire jwtClaims
	_, err := p.ParseWithClaims(token, &wire, func(*jwt.Token) (any, error) { return t.secret, nil })
	if err != nil {
		// The signature is checked before the claims, so only a token we
		// signed can be reported as expired.
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "TOKEN_EXPIRED", Message: "The access token has expired.", Err: err}
		}
		return Claims{}, invalidToken(err)
	}
	if wire.Subject == "" {
		return Claims{}, invalidToken(errors.New("token has no subject"))
	}
	if !wire.Role.Valid() {
		return Claims{}, invalidToken(fmt.Errorf("token has unknown role %q", wire.Role))
	}
	if wire.SessionID == "" {
		// A token without a session could not be ended before it expires.
		return Claims{}, invalidToken(errors.New("token has no session id"))
	}
	// A token may name several audiences; report the first one the caller
	// accepts, since that is the one the caller's decisions rest on.
	aud := ""
	for _, a := range wire.Audience {
		if slices.Contains(audiences, a) {
			aud = a
			break
		}
	}
	c := Claims{
		UserID:    wire.Subject,
		Role:      wire.Role,
		SessionID: wire.SessionID,
		Audience:  aud,
		TokenID:   wire.ID,
	}
	if wire.IssuedAt != nil {
		c.IssuedAt = wire.IssuedAt.Time
	}
	c.ExpiresAt = wire.ExpiresAt.Time // required above
	return c, nil
}

func invalidToken(cause error) error {
	return &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "INVALID_TOKEN", Message: "The access token is invalid or has expired.", Err: cause}
}

// LooksLikeJWT reports whether s has the shape of a compact JWS: three
// non-empty base64url segments separated by dots. Public endpoints use it
// to ignore credentials they could not use anyway (the SDK sends its
// client key as a Bearer token too) instead of failing the request.
func LooksLikeJWT(s string) bool {
	if len(s) > maxTokenLen {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || !isBase64URL(p) {
			return false
		}
	}
	return true
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
