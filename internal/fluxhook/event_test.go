package fluxhook

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzEventName: the loop in eventName admits exactly what the pattern
// it replaced admits.
func FuzzEventName(f *testing.F) {
	pattern := regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	for _, s := range []string{"user.created", "a.b.c", "user", "", ".", "a.", ".a", "a..b", "A.b", "a.b\n", "a_1.b_2", "é.a", "a.*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := eventName(s), pattern.MatchString(s); got != want {
			t.Fatalf("eventName(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}

func TestValidEventPattern(t *testing.T) {
	tests := []struct {
		p    string
		want bool
	}{
		{"*", true},
		{"user.created", true},
		{"user.*", true},
		{"order.paid.*", true},
		{"user", false},
		{"*.created", false},
		{"user.>", false},
		{"user.**", false},
		{".*", false},
		{"User.*", false},
		{strings.Repeat("a", 126) + ".*", true},
		{strings.Repeat("a", 127) + ".*", false}, // 129 characters
	}
	for _, tt := range tests {
		if got := ValidEventPattern(tt.p); got != tt.want {
			t.Errorf("ValidEventPattern(%.40q) = %v, want %v", tt.p, got, tt.want)
		}
	}
}

// TestFluxhooksOwnEventNamesAreValid: a name Fluxhook emits that the
// grammar refused would stay in the outbox for ever.
func TestFluxhooksOwnEventNamesAreValid(t *testing.T) {
	for _, n := range append(append([]string{EventWebhookTest}, Catalogue...), Operational...) {
		if err := ValidateEventName(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
