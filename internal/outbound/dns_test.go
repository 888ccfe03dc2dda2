package outbound

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// newTestResolver returns a resolver that answers from zone (lower-case
// names without the trailing dot) and never sends a packet: its name server
// is a goroutine at the other end of a net.Pipe, spoken to in DNS-over-TCP
// framing, which is what Go's resolver uses on a connection that is not a
// PacketConn. Names outside zone are NXDOMAIN.
func newTestResolver(tb testing.TB, zone map[string][]netip.Addr) *net.Resolver {
	tb.Helper()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			go serveDNS(server, zone)
			return client, nil
		},
	}
}

func serveDNS(c net.Conn, zone map[string][]netip.Addr) {
	defer c.Close()
	for {
		var n uint16
		if err := binary.Read(c, binary.BigEndian, &n); err != nil {
			return
		}
		q := make([]byte, n)
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		resp, ok := answerDNS(q, zone)
		if !ok {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// answerDNS builds the reply to a one-question query: the question copied,
// then one answer per matching address.
func answerDNS(q []byte, zone map[string][]netip.Addr) ([]byte, bool) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, false
	}
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return nil, false
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if i+l > len(q) {
			return nil, false
		}
		labels = append(labels, strings.ToLower(string(q[i:i+l])))
		i += l
	}
	if i+4 > len(q) {
		return nil, false
	}
	qtype := binary.BigEndian.Uint16(q[i : i+2])
	question := q[12 : i+4]

	addrs, known := zone[strings.Join(labels, ".")]
	var answers [][]byte
	for _, a := range addrs {
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			answers = append(answers, b[:])
		case qtype == 28 && a.Is6():
			b := a.As16()
			answers = append(answers, b[:])
		}
	}
	flags := uint16(0x8580) // response, authoritative, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	r := append([]byte{}, q[0:2]...)
	r = binary.BigEndian.AppendUint16(r, flags)
	r = binary.BigEndian.AppendUint16(r, 1)
	r = binary.BigEndian.AppendUint16(r, uint16(len(answers)))
	r = append(r, 0, 0, 0, 0)
	r = append(r, question...)
	for _, rdata := range answers {
		r = append(r, 0xc0, 12) // the name: a pointer to the question's
		r = binary.BigEndian.AppendUint16(r, qtype)
		r = binary.BigEndian.AppendUint16(r, 1)  // IN
		r = binary.BigEndian.AppendUint32(r, 60) // TTL
		r = binary.BigEndian.AppendUint16(r, uint16(len(rdata)))
		r = append(r, rdata...)
	}
	return r, true
}

func TestTestResolver(t *testing.T) {
	r := newTestResolver(t, map[string][]netip.Addr{
		"mixed.example.com": {netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("fd00::5")},
	})
	got, err := r.LookupNetIP(context.Background(), "ip", "mixed.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("LookupNetIP = %v, want both addresses", got)
	}
	_, err = r.LookupNetIP(context.Background(), "ip", "nothing.example.com")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("unknown name: err = %v, want a not-found *net.DNSError", err)
	}
}
