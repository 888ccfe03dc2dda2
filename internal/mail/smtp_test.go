package mail

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The interface callers declare; SMTP and Log must satisfy it.
var (
	_ interface {
		Send(context.Context, Message) error
	} = (*SMTP)(nil)
	_ interface {
		Send(context.Context, Message) error
	} = (*Log)(nil)
)

// fakeSMTP is a minimal SMTP server for one connection at a time: no real
// server is available in tests, and a fake can be told to misbehave.
type fakeSMTP struct {
	ln        net.Listener
	tlsConfig *tls.Config // for STARTTLS and implicit TLS; nil offers neither
	implicit  bool        // TLS from the first byte (smtps)
	auth      bool        // offer AUTH PLAIN
	rejectTo  bool        // answer RCPT with 550
	silent    bool        // accept the connection and never answer
	got       chan captured
}

// captured is what the fake saw of one session.
type captured struct {
	tls       bool
	authPlain string // decoded AUTH PLAIN response: "\x00user\x00pass"
	from      string
	rcpt      []string
	data      []byte
}

func startFake(tb testing.TB, f *fakeSMTP) *fakeSMTP {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	if f.implicit {
		ln = tls.NewListener(ln, f.tlsConfig)
	}
	f.ln = ln
	f.got = make(chan captured, 1)
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn)
		}
	}()
	return f
}

func (f *fakeSMTP) url(tb testing.TB, scheme, userinfo string) *url.URL {
	tb.Helper()
	u, err := url.Parse(scheme + "://" + userinfo + f.ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func (f *fakeSMTP) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	if f.silent {
		_, _ = io.Copy(io.Discard, conn)
		return
	}
	var c captured
	_, c.tls = conn.(*tls.Conn)
	tp := textproto.NewConn(conn)
	reply := func(s string) { _ = tp.PrintfLine("%s", s) }
	reply("220 fake ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"250-fake", "250-8BITMIME"}
			if f.tlsConfig != nil && !c.tls {
				ext = append(ext, "250-STARTTLS")
			}
			if f.auth {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext = append(ext, "250 SMTPUTF8")
			for _, e := range ext {
				reply(e)
			}
		case "STARTTLS":
			reply("220 go ahead")
			tc := tls.Server(conn, f.tlsConfig)
			if tc.Handshake() != nil {
				return
			}
			conn, c.tls = tc, true
			tp = textproto.NewConn(conn)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			if mech != "PLAIN" || err != nil {
				reply("535 bad auth")
				continue
			}
			c.authPlain = string(b)
			reply("235 ok")
		case "MAIL":
			c.from = arg
			reply("250 ok")
		case "RCPT":
			if f.rejectTo {
				reply("550 no such user")
				continue
			}
			c.rcpt = append(c.rcpt, arg)
			reply("250 ok")
		case "DATA":
			reply("354 go on")
			// Read raw lines rather than with ReadDotBytes, which would
			// hide whether the client sent CRLF.
			var data []byte
			for {
				line, err := tp.R.ReadString('\n')
				if err != nil {
					return
				}
				if line == ".\r\n" {
					break
				}
				data = append(data, strings.TrimPrefix(line, ".")...)
			}
			c.data = data
			reply("250 queued")
			f.got <- c
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

// selfSigned returns a server certificate for 127.0.0.1 and a client
// configuration that trusts it.
func selfSigned(tb testing.TB) (server, client *tls.Config) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "fake smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return server, client
}

func TestSMTPSend(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	msg := Message{
		To:      "Jörg Müller <joerg@example.com>",
		Subject: "Passwort zurücksetzen",
		// A line starting with a dot must survive SMTP's dot-stuffing, and a
		// long line quoted-printable's soft breaks.
		Text: "Hallo Jörg,\n.\n.dein Token: fbt_abc\n" + strings.Repeat("x", 200) + "\nEnde",
	}
	tests := []struct {
		name     string
		fake     fakeSMTP
		scheme   string
		userinfo string
		wantTLS  bool
		wantAuth string
	}{
		{"plain", fakeSMTP{}, "smtp", "", false, ""},
		{"credentials over plain localhost", fakeSMTP{auth: true}, "smtp", "mailer:s%3Acret@", false, "\x00mailer\x00s:cret"},
		{"STARTTLS when offered", fakeSMTP{tlsConfig: serverTLS, auth: true}, "smtp", "mailer:pw@", true, "\x00mailer\x00pw"},
		{"implicit TLS", fakeSMTP{tlsConfig: serverTLS, implicit: true}, "smtps", "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFake(t, &tt.fake)
			s, err := NewSMTP(f.url(t, tt.scheme, tt.userinfo), "Fluxhook <noreply@fluxhook.test>")
			if err != nil {
				t.Fatal(err)
			}
			s.tlsConfig = clientTLS
			if err := s.Send(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			var c captured
			select {
			case c = <-f.got:
			case <-time.After(5 * time.Second):
				t.Fatal("the fake server received no message")
			}
			if c.tls != tt.wantTLS {
				t.Errorf("TLS = %v, want %v", c.tls, tt.wantTLS)
			}
			if c.authPlain != tt.wantAuth {
				t.Errorf("AUTH PLAIN = %q, want %q", c.authPlain, tt.wantAuth)
			}
			if !strings.HasPrefix(c.from, "FROM:<noreply@fluxhook.test>") {
				t.Errorf("MAIL %s, want FROM:<noreply@fluxhook.test>", c.from)
			}
			if len(c.rcpt) != 1 || c.rcpt[0] != "TO:<joerg@example.com>" {
				t.Errorf("RCPT %q, want one TO:<joerg@example.com>", c.rcpt)
			}
			assertMessage(t, c.data, msg)
		})
	}
}

// assertMessage parses data as a mail reader would and compares it with m.
func assertMessage(tb testing.TB, data []byte, m Message) {
	tb.Helper()
	if !bytes.HasSuffix(data, []byte("\n")) || bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\n")) {
		tb.Errorf("message lines do not all end in CRLF:\n%q", data)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("parse message: %v\n%s", err, data)
	}
	h := parsed.Header
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "joerg@example.com" || to[0].Name != "Jörg Müller" {
		tb.Errorf("To = %v (%v), want Jörg Müller <joerg@example.com>", to, err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "noreply@fluxhook.test" || from[0].Name != "Fluxhook" {
		tb.Errorf("From = %v (%v)", from, err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		tb.Errorf("Subject = %q (%v), want %q", subject, err, m.Subject)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		tb.Errorf("Date = %q (%v), want now", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@fluxhook.test>") {
		tb.Errorf("Message-ID = %q, want <…@fluxhook.test>", id)
	}
	if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		tb.Errorf("Content-Type = %q", ct)
	}
	if h.Get("Content-Transfer-Encoding") != "quoted-printable" {
		tb.Errorf("Content-Transfer-Encoding = %q", h.Get("Content-Transfer-Encoding"))
	}
	for _, line := range strings.Split(string(data), "\r\n") {
		if len(line) > 998 {
			tb.Errorf("line of %d characters", len(line))
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil {
		tb.Fatal(err)
	}
	// The body ends with the CRLF that precedes the final dot.
	if got, want := string(body), strings.ReplaceAll(m.Text, "\n", "\r\n")+"\r\n"; got != want {
		tb.Errorf("body = %q, want %q", got, want)
	}
}

func TestSMTPSendRefuses(t *testing.T) {
	f := startFake(t, &fakeSMTP{})
	s, err := NewSMTP(f.url(t, "smtp", ""), "noreply@fluxhook.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		m    Message
	}{
		{"CRLF in subject", Message{To: "a@example.com", Subject: "Hi\r\nBcc: victim@example.com", Text: "x"}},
		{"LF in subject", Message{To: "a@example.com", Subject: "Hi\nBcc: victim@example.com", Text: "x"}},
		{"CR in subject", Message{To: "a@example.com", Subject: "Hi\rBcc: victim@example.com", Text: "x"}},
		{"CRLF in recipient", Message{To: "a@example.com\r\nBcc: victim@example.com", Subject: "Hi", Text: "x"}},
		{"not an address", Message{To: "not an address", Subject: "Hi", Text: "x"}},
		{"two recipients", Message{To: "a@example.com, b@example.com", Subject: "Hi", Text: "x"}},
		{"empty recipient", Message{Subject: "Hi", Text: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Send(context.Background(), tt.m); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("err = %v, want ErrInvalidMessage", err)
			}
		})
	}
	select {
	case c := <-f.got:
		t.Errorf("a refused message reached the server: %q", c.data)
	default:
	}
}

func TestSMTPSendFailures(t *testing.T) {
	msg := Message{To: "a@example.com", Subject: "Hi", Text: "x"}
	t.Run("recipient rejected", func(t *testing.T) {
		f := startFake(t, &fakeSMTP{rejectTo: true})
		s, err := NewSMTP(f.url(t, "smtp", ""), "noreply@fluxhook.test")
		if err != nil {
			t.Fatal(err)
		}
		var te *textproto.Error
		if err := s.Send(context.Background(), msg); !errors.As(err, &te) || te.Code != 550 {
			t.Errorf("err = %v, want the server's 550", err)
		}
	})
	t.Run("credentials but no AUTH offered", func(t *testing.T) {
		f := startFake(t, &fakeSMTP{})
		s, err := NewSMTP(f.url(t, "smtp", "user:pw@"), "noreply@fluxhook.test")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(context.Background(), msg); err == nil || !strings.Contains(err.Error(), "AUTH") {
			t.Errorf("err = %v, want one about AUTH", err)
		}
		select {
		case <-f.got:
			t.Error("message sent without the configured credentials")
		default:
		}
	})
	t.Run("silent server hits the ctx deadline", func(t *testing.T) {
		f := startFake(t, &fakeSMTP{silent: true})
		s, err := NewSMTP(f.url(t, "smtp", ""), "noreply@fluxhook.test")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = s.Send(ctx, msg)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Send took %v after a 100ms deadline", d)
		}
	})
	t.Run("cancel stops a waiting send", func(t *testing.T) {
		f := startFake(t, &fakeSMTP{silent: true})
		s, err := NewSMTP(f.url(t, "smtp", ""), "noreply@fluxhook.test")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		if err := s.Send(ctx, msg); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Send took %v after cancel", d)
		}
	})
	t.Run("certificate not trusted", func(t *testing.T) {
		serverTLS, _ := selfSigned(t)
		f := startFake(t, &fakeSMTP{tlsConfig: serverTLS})
		s, err := NewSMTP(f.url(t, "smtp", ""), "noreply@fluxhook.test")
		if err != nil {
			t.Fatal(err)
		}
		// The default configuration: the system roots do not know the fake.
		var ce *tls.CertificateVerificationError
		if err := s.Send(context.Background(), msg); !errors.As(err, &ce) {
			t.Errorf("err = %v, want a certificate verification error", err)
		}
	})
}

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		from     string
		wantErr  string // substring; "" for success
		wantAddr string
		wantTLS  bool
		wantFrom string
		wantUser string
		wantPass string
	}{
		{name: "smtp default port", url: "smtp://mail.example.com", from: "a@example.com", wantAddr: "mail.example.com:587", wantFrom: "a@example.com"},
		{name: "smtps default port", url: "smtps://mail.example.com", from: "a@example.com", wantAddr: "mail.example.com:465", wantTLS: true, wantFrom: "a@example.com"},
		{name: "explicit port and credentials", url: "smtp://u%40x:p%2Fw@mail.example.com:2525", from: "a@example.com", wantAddr: "mail.example.com:2525", wantFrom: "a@example.com", wantUser: "u@x", wantPass: "p/w"},
		{name: "from parameter overrides", url: "smtp://mail.example.com?from=Fluxhook%20%3Cb%40example.com%3E", from: "a@example.com", wantAddr: "mail.example.com:587", wantFrom: "b@example.com"},
		{name: "from parameter alone", url: "smtp://mail.example.com/?from=b@example.com", wantAddr: "mail.example.com:587", wantFrom: "b@example.com"},
		{name: "IPv6 host", url: "smtp://[::1]:25", from: "a@example.com", wantAddr: "[::1]:25", wantFrom: "a@example.com"},
		{name: "wrong scheme", url: "http://mail.example.com", from: "a@example.com", wantErr: "scheme"},
		{name: "opaque", url: "smtp:mail.example.com", from: "a@example.com", wantErr: "smtp://host"},
		{name: "no host", url: "smtp://:25", from: "a@example.com", wantErr: "no host"},
		{name: "port zero", url: "smtp://mail.example.com:0", from: "a@example.com", wantErr: "port"},
		{name: "port too large", url: "smtp://mail.example.com:70000", from: "a@example.com", wantErr: "port"},
		{name: "path", url: "smtp://mail.example.com/inbox", from: "a@example.com", wantErr: "path"},
		{name: "password without user", url: "smtp://:pw@mail.example.com", from: "a@example.com", wantErr: "no user name"},
		{name: "unknown parameter", url: "smtp://mail.example.com?tls=off", from: "a@example.com", wantErr: "unknown parameter"},
		{name: "two from parameters", url: "smtp://mail.example.com?from=a@example.com&from=b@example.com", wantErr: "more than one"},
		{name: "no sender", url: "smtp://mail.example.com", wantErr: "no sender"},
		{name: "bad sender", url: "smtp://mail.example.com", from: "not an address", wantErr: "sender address"},
		{name: "sender with line break", url: "smtp://mail.example.com?from=a@example.com%0D%0ABcc:b@example.com", wantErr: "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			s, err := NewSMTP(u, tt.from)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.addr != tt.wantAddr || s.implicitTLS != tt.wantTLS || s.from.Address != tt.wantFrom ||
				s.username != tt.wantUser || s.password != tt.wantPass {
				t.Errorf("got addr %s, TLS %v, from %s, user %q, pass %q; want %s, %v, %s, %q, %q",
					s.addr, s.implicitTLS, s.from.Address, s.username, s.password,
					tt.wantAddr, tt.wantTLS, tt.wantFrom, tt.wantUser, tt.wantPass)
			}
		})
	}
	if _, err := NewSMTP(nil, "a@example.com"); err == nil {
		t.Error("NewSMTP(nil) succeeded")
	}
}
