package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/ratelimit"
)

// Principal is who makes a request.
type Principal = fluxhook.Actor

// allows reports whether p may use an endpoint guarded by scope.
func allows(p *Principal, scope string) bool {
	return p.KeyID == "" || auth.HasScope(p.Scopes, scope)
}

func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

var errSessionEnded = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "SESSION_ENDED", Message: "This session has ended (signed out, or ended for safety); sign in again."}

var errUnauthenticated = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "UNAUTHORIZED", Message: "Authentication required (unauthorized): sign in, or send a client key in the Authorization header."}

// credential returns the request's credential: the first present of
// Authorization: Bearer, X-Client-Key and apikey.
func credential(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			return strings.TrimSpace(h[7:])
		}
		return h
	}
	if k := r.Header.Get("X-Client-Key"); k != "" {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(r.Header.Get("apikey"))
}

// authenticate resolves the request's credentials. It returns (nil, nil,
// nil) when there are none; the client key when one was used.
func (s *Server) authenticate(r *http.Request) (*Principal, *fluxhook.ClientKey, error) {
	tok := credential(r)
	switch {
	case tok == "":
		return nil, nil, nil
	case strings.HasPrefix(tok, auth.PrefixClientKey):
		return s.keys.Authenticate(r.Context(), tok)
	case auth.LooksLikeJWT(tok):
		c, err := s.tokens.Parse(tok, auth.AudienceApp, auth.AudienceAdmin)
		if err != nil {
			return nil, nil, err
		}
		// A valid signature is not enough: the session may have ended
		// (sign-out, refresh-token reuse) before the token expires.
		ended, err := s.accounts.SessionEnded(r.Context(), c.SessionID)
		if err != nil {
			return nil, nil, err
		}
		if ended {
			return nil, nil, errSessionEnded
		}
		return &Principal{UserID: c.UserID, Role: c.Role, SessionID: c.SessionID}, nil, nil
	}
	return nil, nil, &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "INVALID_TOKEN", Message: "The credential sent is neither a valid access token nor a valid client key (unauthorized)."}
}

// authed wraps a handler that needs a caller: 401 without usable
// credentials, and 403 when the caller's key lacks scope ("" for none).
func (s *Server) authed(scope string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, key, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if p == nil {
			return errUnauthenticated
		}
		if key != nil {
			// Every request a key authenticates counts against its limit,
			// shared by all replicas.
			limit := ratelimit.PerMinute(key.RateLimitPerMinute)
			d, err := s.keyLimiter.Allow(r.Context(), "key:"+key.ID, limit)
			if err != nil && !d.Allowed {
				return err
			}
			setRateHeaders(w, d, limit)
			if !d.Allowed {
				return rateLimited(d)
			}
		}
		if scope != "" && !allows(p, scope) {
			return &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "INSUFFICIENT_SCOPE", Message: "Insufficient permissions",
				Extra: map[string]any{"required_scope": scope}}
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	}
}

// dashboard requires a dashboard role (admin only when adminOnly).
func dashboard(adminOnly bool, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		if adminOnly && p.Role != fluxhook.RoleDashboardAdmin {
			return &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "ADMIN_REQUIRED", Message: "Admin role required: only dashboard admins may do this."}
		}
		if !p.Role.Dashboard() {
			return &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "DASHBOARD_ROLE_REQUIRED", Message: "Dashboard role required: only dashboard users and admins may do this."}
		}
		return h(w, r)
	}
}

func (s *Server) clientIP(r *http.Request) netip.Addr {
	return auth.ClientIP(r, s.opts.TrustedProxies)
}
