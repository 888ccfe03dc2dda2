package auth

import (
	"slices"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// Scopes this server checks. Any other well-formed scope is stored for the
// integrator's own use and means nothing here.
const (
	ScopeAll              = "*"
	ScopeReadClientKeys   = "read:clientkeys"
	ScopeWriteClientKeys  = "write:clientkeys"
	ScopeReadWebhooks     = "read:webhooks"
	ScopeWriteWebhooks    = "write:webhooks"
	ScopeWriteEvents      = "write:events"
	ScopeReadUsers        = "read:users"
	ScopeWriteUsers       = "write:users"
	ScopeReadInvitations  = "read:invitations"
	ScopeWriteInvitations = "write:invitations"
)

const maxScopeLen = 64

// ValidScope reports whether s is "*" or action:resource, that is
// ^[a-z]+:[a-z_]+$, at most 64 characters.
func ValidScope(s string) bool {
	if s == ScopeAll {
		return true
	}
	if len(s) > maxScopeLen {
		return false
	}
	colon := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ':':
			if colon >= 0 {
				return false
			}
			colon = i
		case 'a' <= c && c <= 'z':
		case c == '_' && colon >= 0: // only in the resource
		default:
			return false
		}
	}
	return colon > 0 && colon < len(s)-1
}

// HasScope reports whether granted includes required; "*" grants every
// scope.
func HasScope(granted []string, required string) bool {
	return slices.Contains(granted, ScopeAll) || slices.Contains(granted, required)
}

// ScopesAllowed returns the scopes in requested that a user of role may
// not put into a client key they create, in request order without
// repeats; nil means all are allowed. A key acts as its owner, so it must
// not carry more than the owner may do:
//
//   - dashboard_admin may grant any well-formed scope, "*" included;
//   - dashboard_user and user may grant any well-formed scope except "*",
//     read:invitations and write:invitations, since invitations are for
//     admins only and "*" would include them.
//     read:users and write:users stay allowed: for these roles they reach
//     only the owner's own account through the /auth/user endpoints.
//
// Malformed scopes and every scope of an unknown role are denied.
func ScopesAllowed(role fluxhook.Role, requested []string) (denied []string) {
	return deny(requested, func(s string) bool {
		switch {
		case !ValidScope(s) || !role.Valid():
			return false
		case role == fluxhook.RoleDashboardAdmin:
			return true
		default:
			return s != ScopeAll && s != ScopeReadInvitations && s != ScopeWriteInvitations
		}
	})
}

// ScopesSubset returns the scopes in requested that granted does not
// cover, in request order without repeats; nil means all are covered. It
// applies when a client key creates another key: the new key may not
// exceed the creating key, or a narrow key could mint a wide one.
// Requesting "*" needs "*".
func ScopesSubset(granted, requested []string) (denied []string) {
	return deny(requested, func(s string) bool { return HasScope(granted, s) })
}

func deny(requested []string, allowed func(string) bool) []string {
	var denied []string
	for _, s := range requested {
		if !allowed(s) && !slices.Contains(denied, s) {
			denied = append(denied, s)
		}
	}
	return denied
}
