package dispatch

import (
	"testing"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// TestMatcher: one webhook's matcher applies the dispatcher's rules —
// names and wildcards, the owner's visibility, the filter — whether or
// not the webhook is active.
func TestMatcher(t *testing.T) {
	filter := `data.amount > 100`
	userHook := store.ActiveWebhook{Webhook: &fluxhook.Webhook{ID: "w1", UserID: "u1", Events: []string{"order.*", "user.created"}, Filter: &filter},
		OwnerRole: fluxhook.RoleUser}
	adminHook := store.ActiveWebhook{Webhook: &fluxhook.Webhook{ID: "w2", UserID: "a1", Events: []string{"*"}}, OwnerRole: fluxhook.RoleDashboardAdmin}
	ev := func(name, user, data string) *fluxhook.Event {
		return &fluxhook.Event{ID: "e", Event: name, UserID: user, Data: []byte(data)}
	}
	tests := []struct {
		name        string
		hook        store.ActiveWebhook
		e           *fluxhook.Event
		wantMatched bool
	}{
		{"prefix, own, filter passes", userHook, ev("order.paid", "u1", `{"amount":150}`), true},
		{"filter refuses", userHook, ev("order.paid", "u1", `{"amount":50}`), false},
		{"filter field missing", userHook, ev("order.paid", "u1", `{}`), false},
		{"another tenant's event", userHook, ev("order.paid", "u2", `{"amount":150}`), false},
		{"instance-wide event to a user's webhook", userHook, ev("order.paid", "", `{"amount":150}`), false},
		{"not subscribed", userHook, ev("auth.login", "u1", `{"amount":150}`), false},
		{"admin wildcard sees every tenant", adminHook, ev("auth.login", "u2", `{}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewMatcher(tt.hook).Match(tt.e); got != tt.wantMatched {
				t.Fatalf("Match = %v, want %v", got, tt.wantMatched)
			}
		})
	}
}
