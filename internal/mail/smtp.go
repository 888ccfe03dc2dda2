package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// defaultTimeout bounds a Send whose ctx has no deadline, so a relay that
// stops answering cannot hold a request or a worker forever.
const defaultTimeout = 15 * time.Second

// SMTP sends mail through an SMTP relay using net/smtp.
type SMTP struct {
	addr        string // host:port
	host        string // for TLS verification and PLAIN auth
	implicitTLS bool
	username    string
	password    string
	from        *mail.Address
	// tlsConfig, when set, replaces the default client configuration;
	// tests use it to trust their own certificate.
	tlsConfig *tls.Config
}

// NewSMTP returns a sender for a URL of the form
//
//	smtp://user:pass@host:port?from=addr   (default port 587, STARTTLS when offered)
//	smtps://user:pass@host:port?from=addr  (implicit TLS, default port 465)
//
// from is the sender address; the URL's from parameter overrides it, so a
// single setting can carry everything. Credentials are optional; given,
// they are sent with AUTH PLAIN, which net/smtp allows only over TLS or to
// localhost.
func NewSMTP(u *url.URL, from string) (*SMTP, error) {
	if u == nil {
		return nil, errors.New("mail: no SMTP URL")
	}
	s := &SMTP{}
	var port string
	switch u.Scheme {
	case "smtp":
		port = "587"
	case "smtps":
		port, s.implicitTLS = "465", true
	default:
		return nil, fmt.Errorf("mail: SMTP URL scheme is %q, want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, errors.New("mail: SMTP URL must be smtp://host[:port], not smtp:host")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("mail: SMTP URL port %q is not a port number", p)
		}
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("mail: SMTP URL has a path %q; only host, port, credentials and ?from= are used", u.Path)
	}
	if u.User != nil {
		s.username = u.User.Username()
		s.password, _ = u.User.Password()
		if s.username == "" {
			return nil, errors.New("mail: SMTP URL has a password but no user name")
		}
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP URL query: %w", err)
	}
	for k, v := range q {
		if k != "from" {
			return nil, fmt.Errorf("mail: SMTP URL has unknown parameter %q; only from is known", k)
		}
		if len(v) != 1 {
			return nil, errors.New("mail: SMTP URL has more than one from parameter")
		}
		from = v[0]
	}
	if from == "" {
		return nil, errors.New("mail: no sender address: pass one or add ?from= to the SMTP URL")
	}
	if strings.ContainsAny(from, "\r\n") {
		return nil, errors.New("mail: sender address contains a line break")
	}
	if s.from, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: sender address %q: %w", from, err)
	}
	return s, nil
}

// Send delivers m. It gives up at ctx's deadline, or after 15 seconds when
// ctx has none, and as soon as ctx is cancelled.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, msg, err := s.compose(m, time.Now())
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	conn, err := s.dial(ctx)
	if err != nil {
		return withCtxErr(ctx, fmt.Errorf("mail: connect to %s: %w", s.addr, err))
	}
	// net/smtp knows nothing of contexts; the connection's deadline bounds
	// every read and write, and cancellation moves it into the past.
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return fmt.Errorf("mail: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	return withCtxErr(ctx, s.send(conn, to.Address, msg))
}

// withCtxErr adds ctx's error to err when ctx ended, so that callers can
// tell a timeout (errors.Is context.DeadlineExceeded) from a refusal. A
// network timeout counts even if ctx's own timer has not fired yet: the
// connection's deadline is ctx's.
func withCtxErr(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
	}
	return err
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	if s.implicitTLS {
		d := &tls.Dialer{Config: s.tlsClientConfig()}
		return d.DialContext(ctx, "tcp", s.addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", s.addr)
}

func (s *SMTP) tlsClientConfig() *tls.Config {
	if s.tlsConfig != nil {
		return s.tlsConfig.Clone()
	}
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
}

// send runs the SMTP conversation on conn and closes it.
func (s *SMTP) send(conn net.Conn, to string, msg []byte) error {
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsClientConfig()); err != nil {
				return fmt.Errorf("mail: STARTTLS with %s: %w", s.addr, err)
			}
		}
	}
	if s.username != "" {
		// Sending without the configured credentials would at best be
		// refused later with a less clear error.
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("mail: %s does not offer AUTH, but the SMTP URL has credentials", s.addr)
		}
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("mail: authenticate to %s: %w", s.addr, err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return fmt.Errorf("mail: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: message refused: %w", err)
	}
	// The message is accepted once DATA ends; a failed QUIT loses nothing.
	_ = c.Quit()
	return nil
}

// compose checks m and renders it as an RFC 5322 message with a UTF-8
// quoted-printable body, so that any text survives relays that only
// speak 7-bit and lines stay under the 998-character limit.
func (s *SMTP) compose(m Message, now time.Time) (*mail.Address, []byte, error) {
	// Checked before parsing: a line break in a header field is how one
	// field becomes several (Bcc: anyone@example.com).
	if strings.ContainsAny(m.To, "\r\n") {
		return nil, nil, fmt.Errorf("%w: recipient contains a line break", ErrInvalidMessage)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, nil, fmt.Errorf("%w: subject contains a line break", ErrInvalidMessage)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: recipient %q: %v", ErrInvalidMessage, m.To, err)
	}

	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+rand.Text()+"@"+domain(s.from.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(m.Text)); err != nil {
		return nil, nil, fmt.Errorf("mail: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, nil, fmt.Errorf("mail: encode body: %w", err)
	}
	return to, b.Bytes(), nil
}

// domain returns the part of addr after the last @, for Message-ID.
func domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}
