package outbound

import (
	"net/netip"
	"testing"
)

// These addresses are only judged, never connected to.
func TestAllowedIP(t *testing.T) {
	tests := []struct {
		ip   string
		want bool
	}{
		// Public.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"100.63.255.255", true}, // just below CGNAT
		{"100.128.0.0", true},    // just above CGNAT
		{"172.15.255.255", true}, // just below 172.16/12
		{"172.32.0.0", true},     // just above
		{"223.255.255.255", true},
		{"2606:4700::1", true},
		{"2001:4860:4860::8888", true},
		{"2a00:1450:4001:82b::200e", true},
		{"::ffff:8.8.8.8", true},    // IPv4-mapped public
		{"64:ff9b::808:808", true},  // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},   // 6to4 of 8.8.8.8
		{"::8.8.8.8", true},         // IPv4-compatible public
		{"2001:200::1", true},       // just past 2001::/23 (WIDE)
		{"2001:1ff::1", false},      // inside 2001::/23
		{"2001:4:112::1", false},    // AS112 anycast, inside 2001::/23
		{"2606:4700::1%eth0", true}, // a zone changes nothing

		// IPv4 special ranges.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"100.100.100.200", false}, // Alibaba metadata
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.0.1", false},
		{"169.254.169.254", false},
		{"168.63.129.16", false}, // Azure WireServer
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},

		// IPv6 special ranges.
		{"::", false},
		{"::1", false},
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"fd00:ec2::254", false}, // AWS IMDS
		{"fd20:ce::254", false},  // GCP metadata
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"febf:ffff::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"ff05::1:3", false},
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"2001:2::1", false}, // benchmarking
		{"100::1", false},    // discard-only
		{"5f00::1", false},   // SRv6
		{"4000::1", false},   // outside 2000::/3
		{"::2:1", false},     // ::/8 outside the IPv4-compatible /96

		// Embedded IPv4: judged by the IPv4 address inside.
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:0.0.0.0", false},
		{"::127.0.0.1", false},        // IPv4-compatible
		{"::10.0.0.1", false},         // IPv4-compatible
		{"::ffff:0:127.0.0.1", false}, // IPv4-translated (SIIT)
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false},
		{"64:ff9b::10.0.0.1", false},
		{"64:ff9b:1::808:808", false},     // local-use NAT64: refused whatever is inside
		{"64:ff9b:1:ffff::7f00:1", false}, // same
		{"2002:7f00:1::", false},          // 6to4 of 127.0.0.1
		{"2002:a00:1::1", false},          // 6to4 of 10.0.0.1
		{"2002:a9fe:a9fe::", false},       // 6to4 of 169.254.169.254
		{"2002:c0a8:101:1::1", false},     // 6to4 of 192.168.1.1
		// Teredo is refused whatever the client address: the RFC 4380
		// example (client 192.0.2.45) and one with a public client.
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.ip)
			if got := (Policy{}).AllowedIP(ip); got != tt.want {
				t.Errorf("AllowedIP(%s) = %v, want %v (judged %q)", tt.ip, got, tt.want, judge(ip).phrase())
			}
			// AllowPrivate opens everything but cloud metadata.
			metadata := judge(ip).kind == kindMetadata
			if got := (Policy{AllowPrivate: true}).AllowedIP(ip); got == metadata {
				t.Errorf("with AllowPrivate, AllowedIP(%s) = %v, want %v", tt.ip, got, !metadata)
			}
		})
	}
	t.Run("invalid address", func(t *testing.T) {
		for _, p := range []Policy{{}, {AllowPrivate: true}} {
			if p.AllowedIP(netip.Addr{}) {
				t.Errorf("%+v: the zero netip.Addr is allowed", p)
			}
		}
	})
}

// TestMetadataRefusedWhateverTheSettings: the addresses that hand out the
// host's cloud credentials stay unreachable under every policy, in every
// form they can be written in.
func TestMetadataRefusedWhateverTheSettings(t *testing.T) {
	everything := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	policies := map[string]Policy{
		"production":      {},
		"private allowed": {AllowInsecure: true, AllowPrivate: true},
		"all listed":      {AllowedCIDRs: everything},
		"both":            {AllowPrivate: true, AllowedCIDRs: everything},
	}
	for _, ip := range []string{
		"169.254.169.254", "fd00:ec2::254", "fd20:ce::254", "100.100.100.200", "168.63.129.16",
		"169.254.170.2", "169.254.170.23", "fd00:ec2::23", "169.254.0.23",
		"::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "::169.254.169.254",
	} {
		for name, p := range policies {
			if p.AllowedIP(netip.MustParseAddr(ip)) {
				t.Errorf("%s: AllowedIP(%s) = true, want a metadata address refused", name, ip)
			}
		}
	}
	for _, host := range []string{"metadata.google.internal", "METADATA.google.internal.", "metadata", "instance-data", "instance-data.ec2.internal"} {
		for name, p := range policies {
			if why := p.refusedName(host); why != "a cloud metadata host name" {
				t.Errorf("%s: refusedName(%q) = %q, want a cloud metadata host name", name, host, why)
			}
		}
	}
}

// TestAllowedCIDRs: listed networks become reachable with private targets
// off, in their embedded IPv6 forms too; unlisted ones stay refused.
func TestAllowedCIDRs(t *testing.T) {
	p := Policy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd12::/16")}}
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.20.1.2", true},
		{"::ffff:10.20.1.2", true},
		{"64:ff9b::a14:102", true}, // NAT64 of 10.20.1.2
		{"fd12::5", true},
		{"10.21.0.1", false},
		{"192.168.1.1", false},
		{"127.0.0.1", false},
		{"fd13::5", false},
		{"8.8.8.8", true}, // public stays public
	}
	for _, tt := range tests {
		if got := p.AllowedIP(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("AllowedIP(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	// With networks listed, local names are judged by their addresses,
	// not refused by name.
	for _, host := range []string{"billing.internal", "receiver", "printer.local"} {
		if why := p.refusedName(host); why != "" {
			t.Errorf("refusedName(%q) = %q with allowed networks, want judged by address", host, why)
		}
		if why := (Policy{}).refusedName(host); why == "" {
			t.Errorf("refusedName(%q) accepted by the production policy", host)
		}
	}
}

// The phrase ends up in messages people read: it should say what the address
// is and, for an embedded form, which IPv4 address decided.
func TestVerdictPhrase(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"10.0.0.5", "a private address"},
		{"127.0.0.1", "a loopback address"},
		{"169.254.169.254", "a cloud metadata address"},
		{"0.0.0.0", "an unspecified address"},
		{"100.64.0.1", "a carrier-grade NAT address"},
		{"::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, a loopback address"},
		{"64:ff9b::a00:1", "a NAT64 form of 10.0.0.1, a private address"},
		{"2002:a9fe:a9fe::", "a 6to4 form of 169.254.169.254, a cloud metadata address"},
		{"2001::1", "a Teredo address"},
		{"fe80::1", "a link-local address"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := judge(netip.MustParseAddr(tt.ip)).phrase(); got != tt.want {
				t.Errorf("phrase = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	tests := []struct {
		host string
		want string // "" when not an address
	}{
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"10.0.0.010", "10.0.0.8"},
		{"0xA9.0xFE.0xA9.0xFE", "169.254.169.254"},
		{"0x", "0.0.0.0"},
		{"0", "0.0.0.0"},
		{"134744072", "8.8.8.8"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"1.2.3.256", ""},
		{"1.2.65536", ""},
		{"256.1", ""},
		{"1.2.3.4.5", ""},
		{"08.0.0.1", ""},
		{"1..2", ""},
		{"0xg", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := parseLegacyIPv4(tt.host)
			switch {
			case tt.want == "" && ok:
				t.Errorf("parseLegacyIPv4(%q) = %s, want no address", tt.host, got)
			case tt.want != "" && (!ok || got != netip.MustParseAddr(tt.want)):
				t.Errorf("parseLegacyIPv4(%q) = %s, %v, want %s", tt.host, got, ok, tt.want)
			}
		})
	}
}
