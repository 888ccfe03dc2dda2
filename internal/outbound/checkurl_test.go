package outbound

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testZone is what the fake DNS knows. The public addresses are only ever
// judged, never connected to.
var testZone = map[string][]string{
	"hooks.example.com":        {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
	"mixed.example.com":        {"93.184.215.14", "10.0.0.5"},
	"mixed6.example.com":       {"2606:4700::1", "fd00::5"},
	"private.example.com":      {"10.0.0.5"},
	"loopback.example.com":     {"127.0.0.1"},
	"mapped.example.com":       {"::ffff:127.0.0.1"},
	"nat64.example.com":        {"64:ff9b::a9fe:a9fe"},
	"metadata.example.com":     {"169.254.169.254"},
	"empty.example.com":        {},
	"trailing.example.com.":    {"93.184.215.14"},
	"under_score.example.com":  {"93.184.215.14"},
	"xn--bcher-kva.example":    {"93.184.215.14"},
	"localhost":                {"127.0.0.1"},
	"receiver":                 {"172.18.0.3"},
	"metadata.google.internal": {"169.254.169.254"},
}

// fakeLookup answers from testZone and records every name it was asked for.
// "slow.example.com" never answers; "broken.example.com" fails the way a
// misbehaving name server does.
type fakeLookup struct {
	asked []string
}

func (f *fakeLookup) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	f.asked = append(f.asked, host)
	switch host {
	case "slow.example.com":
		<-ctx.Done()
		return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
	case "broken.example.com":
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, Server: "10.96.0.10:53", IsTemporary: true}
	}
	addrs, ok := testZone[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// urlWord finds the field's name in a message.
var urlWord = regexp.MustCompile(`\burl\b`)

func TestCheckURL(t *testing.T) {
	var (
		strict   = Policy{}
		insecure = Policy{AllowInsecure: true}
		dev      = Policy{AllowInsecure: true, AllowPrivate: true}
		// A receiver network allowed while private targets stay off.
		listed = Policy{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16")}}
	)
	long := "https://hooks.example.com/" + strings.Repeat("a", MaxURLLength-len("https://hooks.example.com/"))
	tests := []struct {
		name    string
		policy  Policy
		url     string
		want    string // a substring of the refusal; "" to accept
		resolve bool   // whether the host should have been looked up
	}{
		{"https public name", strict, "https://hooks.example.com/webhooks?x=1", "", true},
		{"upper-case scheme and host", strict, "HTTPS://Hooks.Example.COM/", "", true},
		{"explicit port", strict, "https://hooks.example.com:8443/", "", true},
		{"port 1", strict, "https://hooks.example.com:1/", "", true},
		{"port 65535", strict, "https://hooks.example.com:65535/", "", true},
		{"trailing dot", strict, "https://trailing.example.com./", "", true},
		{"underscore in a label", strict, "https://under_score.example.com/", "", true},
		{"punycode", strict, "https://xn--bcher-kva.example/", "", true},
		{"exactly the longest", strict, long, "", true},
		{"public IPv4 literal", strict, "https://8.8.8.8/", "", false},
		{"public IPv6 literal", strict, "https://[2606:4700::1]:443/", "", false},

		{"empty", strict, "", "url is required", false},
		{"too long", strict, long + "a", "longer than 2048", false},
		{"leading space", strict, " https://hooks.example.com/", "spaces", false},
		{"not a URL", strict, "https://exa mple.com/", "not a valid URL", false},
		{"relative", strict, "/webhooks", "must be absolute", false},
		{"scheme-relative", strict, "//hooks.example.com/", "must be absolute", false},
		{"opaque", strict, "https:hooks.example.com", "must be absolute", false},
		{"http refused", strict, "http://hooks.example.com/", "url must use https (http:// is allowed only when the server runs with FLUXHOOK_ALLOW_INSECURE_TARGETS)", false},
		{"http allowed when insecure", insecure, "http://hooks.example.com/", "", true},
		{"ftp", strict, "ftp://hooks.example.com/", "must use https", false},
		{"ftp when insecure", insecure, "ftp://hooks.example.com/", "must use http or https", false},
		{"javascript", strict, "javascript:alert(1)", "must be absolute", false},
		{"file", strict, "file:///etc/passwd", "must use https", false},
		{"gopher", strict, "gopher://hooks.example.com:70/", "must use https", false},
		{"user and password", strict, "https://user:pass@hooks.example.com/", "credentials in URLs end up in logs", false},
		{"user only", strict, "https://user@hooks.example.com/", "must not contain a user name", false},
		{"empty userinfo", strict, "https://@hooks.example.com/", "must not contain a user name", false},
		{"userinfo hiding the real host", strict, "https://hooks.example.com@127.0.0.1/", "must not contain a user name", false},
		{"fragment", strict, "https://hooks.example.com/#frag", "fragment", false},
		{"empty fragment", strict, "https://hooks.example.com/#", "fragment", false},
		{"no host", strict, "https:///webhooks", "must include a host", false},
		{"port only", strict, "https://:443/", "must include a host", false},
		{"port 0", strict, "https://hooks.example.com:0/", "between 1 and 65535", false},
		{"port 65536", strict, "https://hooks.example.com:65536/", "between 1 and 65535", false},
		{"port overflow", strict, "https://hooks.example.com:99999999999999999999/", "between 1 and 65535", false},
		{"empty port", strict, "https://hooks.example.com:/", "no port", false},
		{"non-numeric port", strict, "https://hooks.example.com:https/", "not a valid URL", false},
		{"bad host characters", strict, "https://exa$mple.com/", "not a valid host name", false},
		{"empty label", strict, "https://hooks..example.com/", "not a valid host name", false},
		{"long label", strict, "https://" + strings.Repeat("a", 64) + ".example.com/", "not a valid host name", false},
		{"non-ASCII host", strict, "https://bücher.example/", "punycode", false},
		{"fullwidth localhost", strict, "https://ｌｏｃａｌｈｏｓｔ/", "punycode", false},
		{"percent-encoded host", strict, "https://%6c%6fcalhost/", "not a valid URL", false},

		// Literal addresses: judged without DNS.
		{"loopback literal", strict, "https://127.0.0.1/", "url host 127.0.0.1 is a loopback address; webhooks must point to public hosts", false},
		{"private literal", insecure, "http://10.1.2.3:8080/", "is a private address", false},
		{"metadata literal", insecure, "http://169.254.169.254/latest/meta-data/", "cloud metadata", false},
		{"IPv6 loopback", strict, "https://[::1]/", "loopback", false},
		{"IPv4-mapped literal", strict, "https://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1", false},
		{"IPv4-mapped hex", strict, "https://[::ffff:7f00:1]/", "IPv4-mapped form of 127.0.0.1", false},
		{"IPv4-compatible", strict, "https://[::127.0.0.1]/", "IPv4-compatible form of 127.0.0.1", false},
		{"NAT64", strict, "https://[64:ff9b::169.254.169.254]/", "NAT64 form of 169.254.169.254", false},
		{"6to4", strict, "https://[2002:a00:1::]/", "6to4 form of 10.0.0.1", false},
		{"Teredo", strict, "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo", false},
		{"unspecified", strict, "https://0.0.0.0/", "unspecified", false},
		{"IPv6 unspecified", strict, "https://[::]/", "unspecified", false},
		{"zone", strict, "https://[fe80::1%25eth0]/", "zone", false},
		{"zone on a public address", strict, "https://[2606:4700::1%25eth0]/", "zone", false},
		{"IPv4 in brackets", strict, "https://[127.0.0.1]/", "not a valid URL", false},
		{"loopback literal allowed in dev", dev, "http://127.0.0.1:8080/", "", false},

		// Numeric IPv4 forms that are not a.b.c.d.
		{"decimal", insecure, "http://2130706433/", "is 127.0.0.1 written in a non-standard form, a loopback address", false},
		{"hex", insecure, "http://0x7f000001/", "is 127.0.0.1 written in a non-standard form", false},
		{"hex dotted short", insecure, "http://0x7f.1/", "is 127.0.0.1 written in a non-standard form", false},
		{"octal", insecure, "http://0177.0.0.1/", "is 127.0.0.1 written in a non-standard form", false},
		{"short form", insecure, "http://127.1/", "is 127.0.0.1 written in a non-standard form", false},
		{"leading zero", insecure, "http://10.0.0.010/", "is 10.0.0.8 written in a non-standard form, a private address", false},
		{"metadata in decimal", insecure, "http://2852039166/", "is 169.254.169.254 written in a non-standard form, a cloud metadata address", false},
		{"public in decimal", strict, "https://134744072/", "non-standard form; write it as 8.8.8.8", false},
		{"decimal in dev", dev, "http://2130706433/", "non-standard form; write it as 127.0.0.1", false},
		{"trailing dot literal", strict, "https://8.8.8.8./", "write it as 8.8.8.8", false},
		{"numeric last label", strict, "https://example.123/", "neither a valid IPv4 address nor a host name", false},
		{"out of range", strict, "https://1.2.3.256/", "neither a valid IPv4 address nor a host name", false},

		// Names refused whatever they resolve to.
		{"localhost", strict, "https://localhost/", "url host localhost is a local host name", false},
		{"localhost with port", insecure, "http://localhost:8080/", "local host name", false},
		{"LOCALHOST", strict, "https://LOCALHOST./", "local host name", false},
		{"sub.localhost", strict, "https://api.localhost/", "local host name", false},
		{"gcp metadata", strict, "https://metadata.google.internal/computeMetadata/v1/", "cloud metadata host name", false},
		{"metadata", insecure, "http://metadata/", "cloud metadata host name", false},
		{"aws instance-data", insecure, "http://instance-data/latest/", "cloud metadata host name", false},
		{".internal", strict, "https://db.corp.internal/", "internal host name", false},
		{"mDNS", strict, "https://printer.local/", "mDNS", false},
		{"home.arpa", strict, "https://nas.home.arpa/", "home network", false},
		{"single label", insecure, "http://receiver:8080/", "single-label", false},
		{"localhost in dev", dev, "http://localhost:8080/", "", true},
		{"single label in dev", dev, "http://receiver:8080/", "", true},

		// Cloud metadata stays refused whatever the settings.
		{"metadata name in dev", dev, "http://metadata.google.internal/", "url host metadata.google.internal is a cloud metadata host name; webhooks can never point to cloud metadata addresses", false},
		{"metadata literal in dev", dev, "http://169.254.169.254/latest/meta-data/", "cloud metadata address; webhooks can never point to cloud metadata addresses", false},
		{"AWS IPv6 metadata in dev", dev, "http://[fd00:ec2::254]/", "cloud metadata address", false},
		{"ECS credentials in dev", dev, "http://169.254.170.2/v2/credentials", "cloud metadata address", false},
		{"mapped metadata in dev", dev, "http://[::ffff:169.254.169.254]/", "IPv4-mapped form of 169.254.169.254, a cloud metadata address", false},
		{"resolves metadata in dev", dev, "http://metadata.example.com/", "resolves to 169.254.169.254, a cloud metadata address", true},
		{"metadata in decimal in dev", dev, "http://2852039166/", "a cloud metadata address; webhooks can never point to cloud metadata addresses", false},

		// Allowed networks open those networks, and nothing else.
		{"listed literal", listed, "https://10.1.2.3/", "", false},
		{"listed name", listed, "https://private.example.com/", "", true},
		{"listed link-local", listed, "https://169.254.1.1/", "", false},
		{"unlisted private literal", listed, "https://192.168.1.1/", "is a private address", false},
		{"unlisted loopback name", listed, "https://loopback.example.com/", "resolves to 127.0.0.1, a loopback address", true},
		{"one listed one unlisted", listed, "https://mixed6.example.com/", "resolves to fd00::5, a private address", true},
		{"metadata inside a listed network", listed, "https://169.254.169.254/", "cloud metadata address", false},
		{"metadata name with listed networks", listed, "https://metadata.google.internal/", "cloud metadata host name", false},
		{"internal name judged by address", listed, "https://db.corp.internal/", "", true},
		{"localhost judged by address", listed, "https://localhost/", "resolves to 127.0.0.1, a loopback address", true},

		// Names judged by every address they resolve to.
		{"resolves private", strict, "https://private.example.com/", "url host private.example.com resolves to 10.0.0.5, a private address; webhooks must point to public hosts", true},
		{"resolves loopback", strict, "https://loopback.example.com/", "resolves to 127.0.0.1, a loopback address", true},
		{"one public one private", strict, "https://mixed.example.com/", "resolves to 10.0.0.5, a private address", true},
		{"one public one private IPv6", strict, "https://mixed6.example.com/", "resolves to fd00::5, a private address", true},
		{"resolves IPv4-mapped loopback", strict, "https://mapped.example.com/", "IPv4-mapped form of 127.0.0.1", true},
		{"resolves NAT64 metadata", strict, "https://nat64.example.com/", "NAT64 form of 169.254.169.254, a cloud metadata address", true},
		{"resolves metadata", strict, "https://metadata.example.com/", "cloud metadata", true},
		{"mixed allowed in dev", dev, "http://mixed.example.com/", "", true},

		// A name that does not resolve (yet, or from here) is accepted:
		// the client checks the address at every connection.
		{"does not resolve", strict, "https://example.invalid/", "", true},
		{"seeds' URL without DNS", strict, "https://myapp.com/webhook", "", true},
		{"no addresses", strict, "https://empty.example.com/", "", true},
		{"name server fails", strict, "https://broken.example.com/", "", true},
		{"unknown in dev", dev, "http://nowhere.example.com/", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeLookup{}
			err := tt.policy.CheckURL(context.Background(), tt.url, f.LookupNetIP)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want nil", tt.url, err)
				}
			} else {
				var ue *URLError
				if !errors.As(err, &ue) {
					t.Fatalf("CheckURL(%q) = %v (%T), want a *URLError", tt.url, err, err)
				}
				if !strings.Contains(ue.Error(), tt.want) {
					t.Fatalf("CheckURL(%q) = %q, want it to contain %q", tt.url, ue.Error(), tt.want)
				}
				// The API shows Reason as details.url and Error() as the
				// message: the field is named once, not "url url …".
				if n := len(urlWord.FindAllString(ue.Error(), -1)); n != 1 || strings.HasPrefix(ue.Reason, "url") {
					t.Errorf("message %q names url %d times (reason %q), want once", ue.Error(), n, ue.Reason)
				}
				if strings.Contains(ue.Reason, "10.96.0.10") {
					t.Errorf("message %q names our name server", ue.Reason)
				}
			}
			if asked := len(f.asked) > 0; asked != tt.resolve {
				t.Errorf("looked up %v, want a lookup: %v", f.asked, tt.resolve)
			}
		})
	}
}

func TestCheckURLTimeout(t *testing.T) {
	f := &fakeLookup{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := Policy{}.CheckURL(ctx, "https://slow.example.com/", f.LookupNetIP)
	var ue *URLError
	if errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller's deadline: err = %v, want the context's error and no *URLError", err)
	}

	// The caller has time; the lookup does not: the name is accepted, as
	// one that does not resolve is. Three seconds is the package's own
	// bound, so this test takes that long.
	if testing.Short() {
		t.Skip("waits out the 3 s resolution timeout")
	}
	start := time.Now()
	if err := (Policy{}).CheckURL(context.Background(), "https://slow.example.com/", f.LookupNetIP); err != nil {
		t.Fatalf("slow name server: err = %v, want the name accepted", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("CheckURL took %v, want the 3 s resolution bound", d)
	}
}

// The real resolver, fed by the in-test name server, behaves as the
// injected function does: a name with one private address is refused.
func TestCheckURLWithResolver(t *testing.T) {
	r := newTestResolver(t, map[string][]netip.Addr{
		"mixed.example.com":   {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("192.168.1.20")},
		"private.example.com": {netip.MustParseAddr("10.0.0.7")},
		"public.example.com":  {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("2606:4700::1")},
	})
	tests := []struct{ url, want string }{
		{"https://public.example.com/", ""},
		{"https://mixed.example.com/", "resolves to 192.168.1.20, a private address"},
		{"https://gone.example.com/", ""},
		{"https://private.example.com/", "resolves to 10.0.0.7, a private address"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := Policy{}.CheckURL(context.Background(), tt.url, r.LookupNetIP)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckURL = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckURL = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// FuzzCheckURL holds CheckURL to its promise on arbitrary input: whatever it
// accepts parses to an https URL without credentials or fragment, whose host
// is a public address or a name that is not local and not a disguised
// address.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/a?b=c", "https://127.0.0.1/", "https://[::ffff:7f00:1]/",
		"https://0x7f.1/", "https://2130706433/", "https://user@host.example/", "https://a.b/#x",
		"https://localhost./", "https://[fe80::1%25lo]/", "https://8.8.8.8:443/", "https://ｌｏｃａｌｈｏｓｔ/",
	} {
		f.Add(s)
	}
	public := func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := Policy{}.CheckURL(context.Background(), raw, public)
		if err != nil {
			var ue *URLError
			if !errors.As(err, &ue) || ue.Reason == "" {
				t.Fatalf("CheckURL(%q) = %v, want a *URLError with a reason", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		}
		host := u.Hostname()
		switch {
		case u.Scheme != "https", u.User != nil, strings.Contains(raw, "#"), len(raw) > MaxURLLength, host == "":
			t.Fatalf("accepted %q", raw)
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			if !(Policy{}).AllowedIP(ip) || ip.Zone() != "" {
				t.Fatalf("accepted %q with address %s", raw, ip)
			}
			return
		}
		if why := (Policy{}).refusedName(host); why != "" {
			t.Fatalf("accepted %q although its host is %s", raw, why)
		}
		for i := 0; i < len(host); i++ {
			if host[i] >= 0x80 {
				t.Fatalf("accepted non-ASCII host in %q", raw)
			}
		}
	})
}
