package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxURLLength is the longest webhook URL accepted, in bytes.
const MaxURLLength = 2048

// resolveTimeout bounds the DNS lookup CheckURL makes, so that a user
// pointing a webhook at a name server that never answers cannot hold an API
// request open.
const resolveTimeout = 3 * time.Second

const publicOnly = "; webhooks must point to public hosts"

// LookupFunc resolves a host name the way (*net.Resolver).LookupNetIP does;
// pass net.DefaultResolver.LookupNetIP, or nil for the same. It is a function
// rather than a *net.Resolver so that tests (and callers with their own
// resolution) can answer without a DNS server.
type LookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// CheckURL reports whether raw may be saved as a webhook URL under p. Every
// refusal is a *URLError whose message names the rule; the only other error
// is ctx's own, when the caller gave up while the host was being resolved.
//
// A literal address must be allowed. A host name is refused when it is
// refused by name (a metadata or local name) or when any address it
// resolves to is refused: a name with one public and one private address
// is refused, since the client may connect to either. A name that does
// not resolve (not published yet, or no DNS where the API runs) is
// accepted: there is nothing to judge, and the client checks the address
// again at every connection, which is the check that protects.
//
// Passing the check does not make the URL safe for ever, for the same
// reason: a name can be pointed elsewhere after it was saved.
func (p Policy) CheckURL(ctx context.Context, raw string, lookup LookupFunc) error {
	host, err := p.checkSyntax(raw)
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return refuse("host must not include an IPv6 zone (%%…)")
		}
		if !p.AllowedIP(ip) {
			v := judge(ip)
			return refuse("host %s is %s%s", host, v.phrase(), refusal(v.kind))
		}
		return nil
	}
	if why := p.refusedName(host); why != "" {
		suffix := publicOnly
		if metadataName(strings.TrimSuffix(host, ".")) {
			suffix = refusal(kindMetadata)
		}
		return refuse("host %s is %s%s", host, why, suffix)
	}

	if lookup == nil {
		lookup = net.DefaultResolver.LookupNetIP
	}
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := lookup(rctx, "ip", host)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("check url: resolve %s: %w", host, ctx.Err())
	}
	// A failed lookup is no refusal (see above); whatever addresses did
	// come back are judged all the same.
	for _, a := range addrs {
		if !p.AllowedIP(a) {
			v := judge(a)
			return refuse("host %s resolves to %s, %s%s", host, a.WithZone(""), v.phrase(), refusal(v.kind))
		}
	}
	return nil
}

// checkSyntax applies every rule that needs no network and returns the host
// to resolve: lower-case, IPv6 brackets removed.
func (p Policy) checkSyntax(raw string) (string, error) {
	if raw == "" {
		return "", refuse("is required")
	}
	if len(raw) > MaxURLLength {
		return "", refuse("is longer than %d bytes", MaxURLLength)
	}
	if strings.TrimSpace(raw) != raw {
		return "", refuse("must not start or end with spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", refuse("is not a valid URL: %v", err)
	}
	if u.Scheme == "" || u.Opaque != "" {
		return "", refuse("must be absolute, like https://example.com/webhooks")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowInsecure:
	case p.AllowInsecure:
		return "", refuse("must use http or https")
	default:
		return "", refuse("must use https (http:// is allowed only when the server runs with FLUXHOOK_ALLOW_INSECURE_TARGETS)")
	}
	if u.User != nil {
		return "", refuse("must not contain a user name or password: credentials in URLs end up in logs; send them in the webhook's headers instead")
	}
	if strings.Contains(raw, "#") {
		return "", refuse("must not contain a fragment (#…): fragments are never sent to the server")
	}
	host := u.Hostname()
	if host == "" {
		return "", refuse("must include a host, like https://example.com/webhooks")
	}
	if strings.HasSuffix(u.Host, ":") {
		return "", refuse("has a colon after the host but no port")
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", refuse("port must be between 1 and 65535")
		}
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			// The client would convert the name to punycode before dialling
			// (and map look-alikes such as fullwidth letters to ASCII), so
			// what we checked and what we dialled could differ.
			return "", refuse("host must be ASCII; write an international domain name in its xn-- (punycode) form")
		}
	}
	host = strings.ToLower(host)
	if strings.HasPrefix(u.Host, "[") {
		// Brackets hold an IPv6 address; url.Parse has already insisted on that.
		return host, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	if endsInNumber(host) {
		// Browsers and getaddrinfo read a host ending in a number as an IPv4
		// address ("2130706433", "0x7f.1", "127.1", "010.0.0.1"); Go's
		// resolver reads it as a name. Either way it is not what it looks
		// like, so it is refused, saying what it really is.
		ip, ok := parseLegacyIPv4(host)
		if !ok {
			return "", refuse("host %s is neither a valid IPv4 address nor a host name", host)
		}
		if !p.AllowedIP(ip) {
			return "", refuse("host %s is %s written in a non-standard form, %s%s", host, ip, judge(ip).phrase(), refusal(judge(ip).kind))
		}
		return "", refuse("host %s is an IPv4 address in a non-standard form; write it as %s", host, ip)
	}
	if !validHostname(host) {
		return "", refuse("host %s is not a valid host name", host)
	}
	return host, nil
}

func refuse(format string, args ...any) *URLError {
	return &URLError{Reason: fmt.Sprintf(format, args...)}
}

// validHostname accepts DNS names of letters, digits, hyphens and
// underscores (which real service names use), with one optional trailing dot.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// endsInNumber is the WHATWG URL rule that decides whether a host is meant as
// an IPv4 address: its last label (ignoring one trailing dot) is decimal
// digits or 0x followed by hex digits. No top-level domain looks like that.
func endsInNumber(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	digits := "0123456789"
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		last, digits = last[2:], "0123456789abcdefABCDEF"
	}
	for i := 0; i < len(last); i++ {
		if !strings.ContainsRune(digits, rune(last[i])) {
			return false
		}
	}
	return true
}

// parseLegacyIPv4 reads the forms inet_aton accepts: one to four parts, each
// decimal, octal (leading 0) or hex (0x), the last one filling the remaining
// bytes, so that "127.1", "2130706433" and "0x7f.0.0.1" all mean 127.0.0.1.
func parseLegacyIPv4(host string) (netip.Addr, bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var nums []uint64
	for _, part := range parts {
		base := 10
		switch {
		case len(part) >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X'):
			part, base = part[2:], 16
			if part == "" {
				part = "0" // WHATWG reads a bare "0x" as zero
			}
		case len(part) >= 2 && part[0] == '0':
			part, base = part[1:], 8
		}
		n, err := strconv.ParseUint(part, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		nums = append(nums, n)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v := last
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
