package auth_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/fluxhook/fluxhook/internal/auth"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"),
	}
	tests := []struct {
		name   string
		remote string
		xff    []string // one element per header line
		want   string   // "" for the zero Addr
	}{
		{"direct client", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"untrusted peer spoofs XFF", "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"},
		{"untrusted peer claims a trusted hop", "203.0.113.7:5555", []string{"10.0.0.1"}, "203.0.113.7"},
		{"through our proxy", "10.0.0.2:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-supplied entries left of the real one are ignored", "10.0.0.2:80", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped from the right", "10.0.0.2:80", []string{"1.1.1.1, 198.51.100.1, 10.0.0.9, 10.0.0.3"}, "198.51.100.1"},
		{"several header lines read as one list", "10.0.0.2:80", []string{"1.1.1.1, 198.51.100.1", "10.0.0.3"}, "198.51.100.1"},
		{"only trusted hops gives the leftmost", "10.0.0.2:80", []string{"10.0.0.5, 10.0.0.3"}, "10.0.0.5"},
		{"trusted peer without XFF", "10.0.0.2:80", nil, "10.0.0.2"},
		{"malformed rightmost entry stops at the peer", "10.0.0.2:80", []string{"198.51.100.1, garbage"}, "10.0.0.2"},
		{"malformed entry stops at the last trusted hop", "10.0.0.2:80", []string{"198.51.100.1, unknown, 10.0.0.3"}, "10.0.0.3"},
		{"empty entry is malformed", "10.0.0.2:80", []string{"198.51.100.1,,10.0.0.3"}, "10.0.0.3"},
		{"entry with port", "10.0.0.2:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"IPv6 client through IPv6 proxy", "[fd00::1]:80", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv6 entry with port", "10.0.0.2:80", []string{"[2001:db8::7]:4711"}, "2001:db8::7"},
		{"IPv4-mapped peer matches IPv4 prefix", "[::ffff:10.0.0.2]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped client is unmapped", "[::ffff:203.0.113.7]:5555", nil, "203.0.113.7"},
		{"zoned peer", "[fd00::1%eth0]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"peer without port", "203.0.113.7", nil, "203.0.113.7"},
		{"unix socket", "@", []string{"198.51.100.1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			var want netip.Addr
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got := auth.ClientIP(r, trusted); got != want {
				t.Errorf("ClientIP = %v, want %v", got, want)
			}
		})
	}

	t.Run("nothing trusted", func(t *testing.T) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.2:80"
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		if got := auth.ClientIP(r, nil); got != netip.MustParseAddr("10.0.0.2") {
			t.Errorf("ClientIP = %v, want the peer 10.0.0.2", got)
		}
	})
}
