package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/auth"
)

func TestNewOpaque(t *testing.T) {
	for _, prefix := range []string{auth.PrefixRefresh, auth.PrefixOneTime, auth.PrefixClientKey} {
		t.Run(prefix, func(t *testing.T) {
			token, hash := auth.NewOpaque(prefix)
			body, ok := strings.CutPrefix(token, prefix)
			if !ok {
				t.Fatalf("token %q lacks prefix %q", token, prefix)
			}
			raw, err := base64.RawURLEncoding.DecodeString(body)
			if err != nil || len(raw) != 32 {
				t.Errorf("body %q: %d bytes, %v; want 32 bytes of unpadded base64url", body, len(raw), err)
			}
			sum := sha256.Sum256([]byte(token))
			if !bytes.Equal(hash, sum[:]) || !bytes.Equal(auth.HashOpaque(token), sum[:]) {
				t.Errorf("hash is not SHA-256 of the whole token")
			}
			if !auth.IsOpaque(token, prefix) {
				t.Errorf("IsOpaque(%q, %q) = false", token, prefix)
			}
			other, _ := auth.NewOpaque(prefix)
			if other == token {
				t.Errorf("two tokens are equal: %q", token)
			}
		})
	}
}

func TestNewClientKey(t *testing.T) {
	key, prefix, hash := auth.NewClientKey()
	if len(key) != 47 || !strings.HasPrefix(key, "fbk_") {
		t.Fatalf("key %q: want fbk_ and 43 characters", key)
	}
	if prefix != key[:12] {
		t.Errorf("prefix = %q, want %q", prefix, key[:12])
	}
	if !bytes.Equal(hash, auth.HashOpaque(key)) {
		t.Error("hash is not HashOpaque(key)")
	}
	if !auth.IsClientKey(key) {
		t.Errorf("IsClientKey(%q) = false", key)
	}
}

func TestIsClientKey(t *testing.T) {
	body := strings.Repeat("aZ09-_", 7) + "x" // 43 characters
	tests := []struct {
		name string
		s    string
		want bool
	}{
		{"well formed", "fbk_" + body, true},
		{"refresh token", "fbr_" + body, false},
		{"upper-case prefix", "FBK_" + body, false},
		{"42 characters", "fbk_" + body[:42], false},
		{"44 characters", "fbk_" + body + "A", false},
		{"standard base64 alphabet", "fbk_" + body[:41] + "+/", false},
		{"padding", "fbk_" + body[:42] + "=", false},
		{"space", "fbk_" + body[:42] + " ", false},
		{"non-ASCII", "fbk_" + body[:41] + "é", false},
		{"prefix only", "fbk_", false},
		{"empty", "", false},
		{"JWT", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.IsClientKey(tt.s); got != tt.want {
				t.Errorf("IsClientKey(%q) = %v, want %v", tt.s, got, tt.want)
			}
		})
	}
}
