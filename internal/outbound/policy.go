package outbound

import (
	"net/netip"
	"strings"
)

// Policy decides which destinations webhooks may reach. The zero Policy is
// the production one: https only, public addresses only.
//
// Cloud metadata addresses and names (169.254.169.254, fd00:ec2::254,
// metadata.google.internal and the like) are refused whatever the
// settings: they hand out the credentials of the machine Fluxhook runs
// on, and no receiver lives there.
type Policy struct {
	// AllowInsecure accepts http:// URLs (FLUXHOOK_ALLOW_INSECURE_TARGETS).
	AllowInsecure bool
	// AllowPrivate lifts the destination guard but for metadata: loopback,
	// private, link-local and every other non-public address and local host
	// name become reachable. For development and tests only
	// (FLUXHOOK_ALLOW_PRIVATE_TARGETS).
	AllowPrivate bool
	// AllowedCIDRs are non-public networks webhooks may reach even when
	// AllowPrivate is off (FLUXHOOK_ALLOWED_TARGET_CIDRS), for receivers
	// on a private network. While any are set, local host names
	// (*.internal, single labels, …) are no longer refused by name: they
	// are judged by the addresses they resolve to, like any name.
	AllowedCIDRs []netip.Prefix
}

// AllowedIP reports whether the policy lets a webhook connect to ip.
//
// Addresses that carry an IPv4 address inside an IPv6 one (IPv4-mapped,
// IPv4-compatible, IPv4-translated, NAT64 64:ff9b::/96, 6to4 2002::/16) are
// judged by the IPv4 address inside, because that is where the packets end
// up. Teredo (2001::/32) is refused outright rather than decoded: it is
// deprecated, no real receiver needs it, and where the traffic lands depends
// on relays we cannot see. The local-use NAT64 prefix 64:ff9b:1::/48 is
// refused too, since by definition it translates into someone's own network.
// A network-specific NAT64 prefix chosen by an operator cannot be recognised
// from the address; deployments behind one must filter at the translator.
func (p Policy) AllowedIP(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	v := judge(ip)
	switch {
	case v.kind == kindMetadata:
		return false
	case v.kind == "" || p.AllowPrivate:
		return true
	}
	return p.allowListed(ip, v)
}

// allowListed reports whether ip, or the IPv4 address it carries, is in
// one of the operator's allowed networks.
func (p Policy) allowListed(ip netip.Addr, v verdict) bool {
	ip = ip.WithZone("")
	for _, n := range p.AllowedCIDRs {
		if n.Contains(ip) || (v.inner.IsValid() && n.Contains(v.inner)) {
			return true
		}
	}
	return false
}

// refusal is the end of a message refusing an address of the given kind.
func refusal(kind string) string {
	if kind == kindMetadata {
		return "; webhooks can never point to cloud metadata addresses"
	}
	return publicOnly
}

// What a refused address is, as the phrase that ends up in messages.
const (
	kindUnspecified   = "unspecified"
	kindLoopback      = "loopback"
	kindPrivate       = "private"
	kindLinkLocal     = "link-local"
	kindSiteLocal     = "site-local"
	kindMetadata      = "cloud metadata"
	kindCGNAT         = "carrier-grade NAT"
	kindMulticast     = "multicast"
	kindBroadcast     = "broadcast"
	kindDocumentation = "documentation"
	kindBenchmarking  = "benchmarking"
	kindReserved      = "reserved"
	kindTeredo        = "Teredo"
	kindLocalNAT64    = "local-use NAT64"
)

type addrRange struct {
	prefix netip.Prefix
	kind   string
}

// First match wins, so single addresses that deserve a better name than
// their enclosing range come first.
var v4Ranges = []addrRange{
	{netip.MustParsePrefix("169.254.169.254/32"), kindMetadata}, // AWS, GCP, Azure, OCI, DigitalOcean
	{netip.MustParsePrefix("169.254.170.2/32"), kindMetadata},   // AWS ECS task metadata and credentials
	{netip.MustParsePrefix("169.254.170.23/32"), kindMetadata},  // AWS EKS Pod Identity credentials
	{netip.MustParsePrefix("169.254.0.23/32"), kindMetadata},    // Tencent Cloud
	{netip.MustParsePrefix("100.100.100.200/32"), kindMetadata}, // Alibaba Cloud
	// Azure's WireServer looks public but is answered inside Azure, and it
	// hands out VM configuration: the classic SSRF target that an IP-range
	// list alone misses.
	{netip.MustParsePrefix("168.63.129.16/32"), kindMetadata},
	{netip.MustParsePrefix("0.0.0.0/32"), kindUnspecified}, // connecting to it reaches the local host
	{netip.MustParsePrefix("0.0.0.0/8"), kindReserved},     // "this network"
	{netip.MustParsePrefix("10.0.0.0/8"), kindPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), kindCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), kindLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), kindLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), kindPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), kindReserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), kindDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), kindReserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), kindPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), kindBenchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), kindDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), kindDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), kindMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), kindBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), kindReserved},
}

var v6Ranges = []addrRange{
	{netip.MustParsePrefix("::/128"), kindUnspecified},
	{netip.MustParsePrefix("::1/128"), kindLoopback},
	{netip.MustParsePrefix("fd00:ec2::254/128"), kindMetadata}, // AWS IMDS over IPv6
	{netip.MustParsePrefix("fd00:ec2::23/128"), kindMetadata},  // AWS EKS Pod Identity over IPv6
	{netip.MustParsePrefix("fd20:ce::254/128"), kindMetadata},  // GCP metadata over IPv6
	{netip.MustParsePrefix("64:ff9b:1::/48"), kindLocalNAT64},
	{netip.MustParsePrefix("100::/64"), kindReserved},       // discard-only
	{netip.MustParsePrefix("100:0:0:1::/64"), kindReserved}, // dummy prefix
	{netip.MustParsePrefix("2001::/32"), kindTeredo},
	{netip.MustParsePrefix("2001:2::/48"), kindBenchmarking},
	{netip.MustParsePrefix("2001::/23"), kindReserved}, // IETF protocol assignments: anycast services, ORCHID
	{netip.MustParsePrefix("2001:db8::/32"), kindDocumentation},
	{netip.MustParsePrefix("3fff::/20"), kindDocumentation},
	{netip.MustParsePrefix("5f00::/16"), kindReserved}, // SRv6 SIDs
	{netip.MustParsePrefix("fc00::/7"), kindPrivate},
	{netip.MustParsePrefix("fe80::/10"), kindLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), kindSiteLocal},
	{netip.MustParsePrefix("ff00::/8"), kindMulticast},
}

// Only 2000::/3 is handed out as global unicast; anything else that is not
// an embedded IPv4 form is somebody's special case, so it is refused rather
// than enumerated.
var v6Global = netip.MustParsePrefix("2000::/3")

var (
	v4Compatible = netip.MustParsePrefix("::/96")
	v4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
)

// verdict is what judge found out about an address.
type verdict struct {
	kind  string     // why the address is refused; "" when it is public
	form  string     // how an IPv4 address was embedded, e.g. "IPv4-mapped"
	inner netip.Addr // the embedded IPv4 address that decided, when form is set
}

// phrase describes a refused address for a person: "a private address", or
// "an IPv4-mapped form of 10.0.0.1, a private address".
func (v verdict) phrase() string {
	s := article(v.kind) + " " + v.kind + " address"
	if v.form != "" {
		s = article(v.form) + " " + v.form + " form of " + v.inner.String() + ", " + s
	}
	return s
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) && !strings.HasPrefix(word, "uni") {
		return "an"
	}
	return "a"
}

func judge(ip netip.Addr) verdict {
	ip = ip.WithZone("")
	if ip.Is4() {
		return verdict{kind: judge4(ip)}
	}
	if ip.Is4In6() {
		return embedded("IPv4-mapped", ip.Unmap())
	}
	b := ip.As16()
	switch {
	case ip == netip.IPv6Unspecified():
		return verdict{kind: kindUnspecified}
	case ip == netip.IPv6Loopback():
		return verdict{kind: kindLoopback}
	case v4Compatible.Contains(ip):
		return embedded("IPv4-compatible", netip.AddrFrom4([4]byte(b[12:16])))
	case v4Translated.Contains(ip):
		return embedded("IPv4-translated", netip.AddrFrom4([4]byte(b[12:16])))
	case nat64.Contains(ip):
		return embedded("NAT64", netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(ip):
		return embedded("6to4", netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, r := range v6Ranges {
		if r.prefix.Contains(ip) {
			return verdict{kind: r.kind}
		}
	}
	if !v6Global.Contains(ip) {
		return verdict{kind: kindReserved}
	}
	return verdict{}
}

func embedded(form string, v4 netip.Addr) verdict {
	kind := judge4(v4)
	if kind == "" {
		return verdict{}
	}
	return verdict{kind: kind, form: form, inner: v4}
}

func judge4(ip netip.Addr) string {
	for _, r := range v4Ranges {
		if r.prefix.Contains(ip) {
			return r.kind
		}
	}
	return ""
}

// refusedName returns why the policy refuses a host name whatever it
// resolves to, or "" when the name is acceptable. These names are local by
// construction; refusing them by name gives a clearer message than the
// address would and does not depend on what the local resolver makes of
// them. Metadata names are refused under every policy; the others only
// while neither private targets nor allowed networks are configured.
func (p Policy) refusedName(host string) string {
	h := strings.TrimRight(strings.ToLower(host), ".")
	if metadataName(h) {
		return "a cloud metadata host name"
	}
	if p.AllowPrivate || len(p.AllowedCIDRs) > 0 {
		return ""
	}
	return localName(h)
}

// metadataName reports the host names of cloud metadata services.
func metadataName(h string) bool {
	switch h {
	case "metadata", "metadata.google.internal",
		"instance-data", "instance-data.ec2.internal", "metadata.tencentyun.com":
		return true
	}
	return false
}

func localName(h string) string {
	switch {
	case h == "localhost" || strings.HasSuffix(h, ".localhost"):
		return "a local host name"
	case h == "internal" || strings.HasSuffix(h, ".internal"):
		return "an internal host name"
	case h == "local" || strings.HasSuffix(h, ".local"):
		return "a local network (mDNS) host name"
	case h == "home.arpa" || strings.HasSuffix(h, ".home.arpa"):
		return "a home network host name"
	case endsInNumber(h):
		// Resolvers disagree on "2130706433" or "0x7f.1": Go's looks them
		// up in DNS, getaddrinfo reads them as 127.0.0.1.
		return "an IPv4 address in a non-standard form"
	case !strings.Contains(h, "."):
		// A name without a dot goes through the resolver's search domains
		// (in Kubernetes: <name>.<namespace>.svc.cluster.local), so it
		// names something on our side of the network.
		return "a single-label host name, which resolves through local search domains"
	}
	return ""
}
