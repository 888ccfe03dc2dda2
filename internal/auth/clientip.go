package auth

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address a request came from, for per-IP limits.
//
// It is the connection's peer unless that peer is inside a trusted prefix
// (our own load balancer or ingress). Only then is X-Forwarded-For read,
// from the right, since each proxy appends the address it received from:
// trusted hops are skipped and the first untrusted address is the client.
// Entries left of it are whatever the client chose to send and are never
// believed. A malformed entry stops the walk at the last good hop, because
// nothing beyond it was written by a proxy we trust. If every hop is
// trusted, the leftmost is returned.
//
// The zero Addr means the peer address is not an IP (a Unix socket, or a
// RemoteAddr a test left empty).
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !isTrusted(peer, trusted) {
		return peer
	}
	last := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, ok := parseHop(strings.TrimSpace(hops[j]))
			if !ok {
				return last
			}
			if !isTrusted(a, trusted) {
				return a
			}
			last = a
		}
	}
	return last
}

// parseHop accepts an address with or without a port, since some proxies
// append "ip:port", and normalises it so that ::ffff:10.0.0.1 matches
// 10.0.0.0/8 and a zone does not hide an address from its prefix.
func parseHop(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
