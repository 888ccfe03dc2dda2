package auth_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func TestValidScope(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"*", true},
		{"read:webhooks", true},
		{"read:products", true},
		{"write:api_keys", true},
		{"read:_", true},
		{"a:" + strings.Repeat("b", 62), true},  // 64 characters
		{"a:" + strings.Repeat("b", 63), false}, // 65
		{"", false},
		{"**", false},
		{"read", false},
		{"read:", false},
		{":webhooks", false},
		{"read:web:hooks", false},
		{"Read:webhooks", false},
		{"read_all:webhooks", false},
		{"read:web-hooks", false},
		{"read:webhooks ", false},
		{"read:*", false},
		{"read:webhooks2", false},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			if got := auth.ValidScope(tt.s); got != tt.want {
				t.Errorf("ValidScope(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}

func TestHasScope(t *testing.T) {
	tests := []struct {
		name     string
		granted  []string
		required string
		want     bool
	}{
		{"granted", []string{auth.ScopeReadWebhooks, auth.ScopeWriteWebhooks}, auth.ScopeWriteWebhooks, true},
		{"star grants all", []string{auth.ScopeAll}, auth.ScopeWriteInvitations, true},
		{"read does not grant write", []string{auth.ScopeReadWebhooks}, auth.ScopeWriteWebhooks, false},
		{"none granted", nil, auth.ScopeReadUsers, false},
		{"no prefix matching", []string{"read:web"}, auth.ScopeReadWebhooks, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.HasScope(tt.granted, tt.required); got != tt.want {
				t.Errorf("HasScope(%v, %q) = %v, want %v", tt.granted, tt.required, got, tt.want)
			}
		})
	}
}

func TestScopesAllowed(t *testing.T) {
	everything := []string{
		auth.ScopeAll, auth.ScopeReadClientKeys, auth.ScopeWriteClientKeys, auth.ScopeReadWebhooks,
		auth.ScopeWriteWebhooks, auth.ScopeWriteEvents, auth.ScopeReadUsers, auth.ScopeWriteUsers,
		auth.ScopeReadInvitations, auth.ScopeWriteInvitations, "read:products",
	}
	adminOnly := []string{auth.ScopeAll, auth.ScopeReadInvitations, auth.ScopeWriteInvitations}
	tests := []struct {
		name       string
		role       fluxhook.Role
		requested  []string
		wantDenied []string
	}{
		{"admin may grant anything", fluxhook.RoleDashboardAdmin, everything, nil},
		{"dashboard user may not grant invitations or star", fluxhook.RoleDashboardUser, everything, adminOnly},
		{"user may not grant invitations or star", fluxhook.RoleUser, everything, adminOnly},
		// The seeds: a signed-in app user creates a key with these scopes.
		{"seed key of an app user", fluxhook.RoleUser, []string{"read:users", "write:users", "read:products"}, nil},
		{"repeats are reported once", fluxhook.RoleUser, []string{"*", "read:webhooks", "*"}, []string{"*"}},
		{"malformed scope denied even to admin", fluxhook.RoleDashboardAdmin, []string{"read:webhooks", "READ:ALL"}, []string{"READ:ALL"}},
		{"unknown role denied everything", "root", []string{"read:webhooks"}, []string{"read:webhooks"}},
		{"nothing requested", fluxhook.RoleUser, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.ScopesAllowed(tt.role, tt.requested); !slices.Equal(got, tt.wantDenied) {
				t.Errorf("ScopesAllowed(%s, %v) = %v, want %v", tt.role, tt.requested, got, tt.wantDenied)
			}
		})
	}
}

func TestScopesSubset(t *testing.T) {
	tests := []struct {
		name       string
		granted    []string
		requested  []string
		wantDenied []string
	}{
		{"within", []string{"read:webhooks", "write:webhooks"}, []string{"read:webhooks"}, nil},
		{"equal", []string{"read:webhooks", "write:clientkeys"}, []string{"write:clientkeys", "read:webhooks"}, nil},
		{"beyond", []string{"read:webhooks", "write:clientkeys"}, []string{"read:webhooks", "write:webhooks", "read:users"}, []string{"write:webhooks", "read:users"}},
		{"star covers all", []string{"*"}, []string{"*", "write:invitations", "read:orders"}, nil},
		{"star needs star", []string{"read:webhooks", "write:webhooks"}, []string{"*"}, []string{"*"}},
		{"nothing granted", nil, []string{"read:webhooks"}, []string{"read:webhooks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.ScopesSubset(tt.granted, tt.requested); !slices.Equal(got, tt.wantDenied) {
				t.Errorf("ScopesSubset(%v, %v) = %v, want %v", tt.granted, tt.requested, got, tt.wantDenied)
			}
		})
	}
}
