package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Outcome is what the worker does after an attempt. The zero value is not an
// outcome, so a forgotten assignment can never read as Success.
type Outcome int

const (
	Success Outcome = iota + 1 // delivered; stop
	Retry                      // try again on the schedule
	Fail                       // stop retrying: no retry can change the answer (a destination the policy refuses)
	Gone                       // 410: stop, and disable the webhook
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Retry:
		return "retry"
	case Fail:
		return "fail"
	case Gone:
		return "gone"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// maxReason bounds reasons, which are stored with every attempt and can carry
// text the receiver chose (certificate names, for one).
const maxReason = 256

// Classify decides what an attempt's result means, and says why in a short
// phrase for the delivery record. err is the error from (*http.Client).Do
// and wins over status. An error reading the body afterwards is not passed
// here: once the status line has arrived the receiver has answered, and
// redelivering because its body was slow would only make a duplicate.
//
// Any 2xx is Success and 410 is Gone; every other status is Retry (3xx
// included: redirects are not followed, and a receiver that answers 401,
// 404 or 400 for a minute during a deploy or a secret rotation must not
// lose that minute's deliveries, as DESIGN.md's retry section says; the
// failing-period auto-disable stops endpoints that never recover).
// Errors are Retry — timeouts, refused and reset connections, DNS failures,
// TLS and certificate errors (an operator can fix a certificate) — except a
// *BlockedError or *URLError, which no retry can change.
func Classify(status int, err error) (Outcome, string) {
	if err != nil {
		o, reason := classifyErr(err)
		return o, clip(reason)
	}
	switch {
	case status >= 200 && status <= 299:
		return Success, "HTTP " + strconv.Itoa(status)
	case status == http.StatusGone:
		return Gone, "HTTP 410: the endpoint is gone; the webhook is disabled"
	case status >= 300 && status <= 399:
		return Retry, "HTTP " + strconv.Itoa(status) + ": redirects are not followed"
	case status >= 400 && status <= 599:
		return Retry, "HTTP " + strconv.Itoa(status)
	}
	return Retry, "HTTP " + strconv.Itoa(status) + ": not a valid final status"
}

func classifyErr(err error) (Outcome, string) {
	var blocked *BlockedError
	var urlErr *URLError
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &blocked):
		// Deliberately vague: the receiver-facing record should not map our
		// network for whoever owns the DNS name.
		return Fail, "blocked: destination address is private"
	case errors.As(err, &urlErr):
		return Fail, urlErr.Error()
	case errors.Is(err, context.Canceled):
		return Retry, "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return Retry, "timeout"
	}
	if reason, ok := tlsReason(err); ok {
		return Retry, reason
	}
	switch {
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return Retry, "dns: no such host " + dnsErr.Name
		}
		return Retry, "dns: lookup of " + dnsErr.Name + " failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return Retry, "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Retry, "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return Retry, "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return Retry, "network unreachable"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Retry, "connection closed before the response was complete"
	}
	// Unknown errors retry: at-least-once prefers a wasted attempt to a
	// lost delivery. *url.Error is peeled off because it repeats the URL.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return Retry, err.Error()
}

// tlsReason recognises handshake and certificate failures and words them
// as "tls: …".
func tlsReason(err error) (string, bool) {
	var (
		verifyErr   *tls.CertificateVerificationError
		unknownErr  x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidErr  x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		alertErr    tls.AlertError
		tlsErrorMsg string
	)
	switch {
	case errors.As(err, &unknownErr):
		tlsErrorMsg = unknownErr.Error()
	case errors.As(err, &hostErr):
		tlsErrorMsg = hostErr.Error()
	case errors.As(err, &invalidErr):
		tlsErrorMsg = invalidErr.Error()
	case errors.As(err, &verifyErr):
		tlsErrorMsg = verifyErr.Err.Error()
	case errors.Is(err, http.ErrSchemeMismatch):
		tlsErrorMsg = "the server answered in plain HTTP; use an http:// URL or enable TLS on the server"
	case errors.As(err, &recordErr):
		tlsErrorMsg = "the server did not answer with TLS"
	case errors.As(err, &alertErr):
		tlsErrorMsg = alertErr.Error()
	default:
		// Handshake failures without a type of their own ("tls: handshake
		// failure", "tls: protocol version not supported") still say so.
		var ue *url.Error
		inner := err
		if errors.As(err, &ue) {
			inner = ue.Err
		}
		var oe *net.OpError
		if errors.As(inner, &oe) {
			inner = oe.Err
		}
		if !strings.HasPrefix(inner.Error(), "tls: ") {
			return "", false
		}
		tlsErrorMsg = inner.Error()
	}
	msg := strings.TrimPrefix(strings.TrimPrefix(tlsErrorMsg, "tls: "), "x509: ")
	return "tls: " + msg, true
}

// clip keeps a reason valid UTF-8 and short.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// maxRetryAfter caps what a receiver can ask for; the retry schedule's own
// longest step is a day as well.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads a Retry-After header, in delta-seconds or as an HTTP date
// relative to now, capped at 24 h. ok is false when the header is absent,
// unreadable, negative or a date in the past, so the caller keeps its own
// schedule.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		// Anything over six digits is more than eleven days; cap before
		// converting so a huge number cannot overflow.
		if len(v) > 6 {
			return maxRetryAfter, true
		}
		n, _ := strconv.Atoi(v)
		return min(time.Duration(n)*time.Second, maxRetryAfter), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

var _ fmt.Stringer = Outcome(0)
