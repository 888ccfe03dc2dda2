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
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

func TestClassifyRetriesEveryStatusButSuccessAndGone(t *testing.T) {
	tests := []struct {
		status int
		want   Outcome
	}{
		{200, Success}, {201, Success}, {202, Success}, {204, Success}, {299, Success},
		// Every other status retries on the schedule: a receiver answering
		// 401 or 404 during a deploy must not lose those deliveries.
		{301, Retry}, {302, Retry}, {304, Retry}, {307, Retry}, {308, Retry},
		{400, Retry}, {401, Retry}, {403, Retry}, {404, Retry}, {405, Retry}, {413, Retry}, {422, Retry}, {499, Retry},
		{408, Retry}, {409, Retry}, {425, Retry}, {429, Retry},
		{410, Gone},
		{500, Retry}, {502, Retry}, {503, Retry}, {504, Retry}, {599, Retry},
		{0, Retry}, {100, Retry}, {101, Retry}, {199, Retry}, {600, Retry}, {999, Retry},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			got, reason := Classify(tt.status, nil)
			if got != tt.want {
				t.Errorf("Classify(%d) = %v (%q), want %v", tt.status, got, reason, tt.want)
			}
			if !strings.HasPrefix(reason, fmt.Sprintf("HTTP %d", tt.status)) {
				t.Errorf("reason %q does not name the status", reason)
			}
		})
	}
}

// wrapped builds an error the way the client returns it: the cause inside
// *net.OpError inside *url.Error.
func wrapped(cause error) error {
	return &url.Error{Op: "Post", URL: "https://hooks.example.com/secret-path", Err: &net.OpError{Op: "dial", Net: "tcp", Err: cause}}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "something timed out" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassifyError(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		err        error
		want       Outcome
		wantReason string // prefix
	}{
		{"blocked address", 0, wrapped(&BlockedError{Addr: netip.MustParseAddr("10.0.0.5"), Why: "a private address"}), Fail, "blocked: destination address is private"},
		{"blocked name", 0, wrapped(&BlockedError{Host: "localhost", Why: "a local host name"}), Fail, "blocked: destination address is private"},
		{"scheme refused", 0, &url.Error{Op: "Post", URL: "http://x", Err: &URLError{Reason: "must use https"}}, Fail, "url must use https"},
		{"error wins over status", 200, wrapped(syscall.ECONNRESET), Retry, "connection reset"},
		{"client timeout", 0, &url.Error{Op: "Post", URL: "u", Err: timeoutErr{}}, Retry, "timeout"},
		{"deadline exceeded", 0, &url.Error{Op: "Post", URL: "u", Err: context.DeadlineExceeded}, Retry, "timeout"},
		{"os deadline", 0, wrapped(os.ErrDeadlineExceeded), Retry, "timeout"},
		{"dns timeout", 0, wrapped(&net.DNSError{Err: "i/o timeout", Name: "h.example", IsTimeout: true}), Retry, "timeout"},
		{"canceled", 0, &url.Error{Op: "Post", URL: "u", Err: context.Canceled}, Retry, "canceled"},
		{"refused", 0, wrapped(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), Retry, "connection refused"},
		{"reset", 0, wrapped(&os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}), Retry, "connection reset"},
		{"broken pipe", 0, wrapped(syscall.EPIPE), Retry, "connection reset"},
		{"host unreachable", 0, wrapped(syscall.EHOSTUNREACH), Retry, "host unreachable"},
		{"network unreachable", 0, wrapped(syscall.ENETUNREACH), Retry, "network unreachable"},
		{"dns not found", 0, wrapped(&net.DNSError{Err: "no such host", Name: "gone.example", IsNotFound: true}), Retry, "dns: no such host gone.example"},
		{"dns failure", 0, wrapped(&net.DNSError{Err: "server misbehaving", Name: "h.example", Server: "10.96.0.10:53"}), Retry, "dns: lookup of h.example failed"},
		{"eof", 0, &url.Error{Op: "Post", URL: "u", Err: io.EOF}, Retry, "connection closed"},
		{"unexpected eof", 0, io.ErrUnexpectedEOF, Retry, "connection closed"},
		{"unknown authority", 0, wrapped(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), Retry, "tls: certificate signed by unknown authority"},
		{"expired", 0, wrapped(&tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired, Detail: "expired yesterday"}}), Retry, "tls: certificate has expired"},
		{"wrong host", 0, wrapped(x509.HostnameError{Certificate: &x509.Certificate{DNSNames: []string{"other.example"}}, Host: "h.example"}), Retry, "tls: certificate is valid for other.example, not h.example"},
		{"alert", 0, wrapped(tls.AlertError(40)), Retry, "tls: handshake failure"},
		{"record header", 0, wrapped(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), Retry, "tls: the server did not answer with TLS"},
		{"plain HTTP server", 0, &url.Error{Op: "Post", URL: "u", Err: http.ErrSchemeMismatch}, Retry, "tls: the server answered in plain HTTP"},
		{"other tls", 0, wrapped(errors.New("tls: protocol version not supported")), Retry, "tls: protocol version not supported"},
		{"unknown error", 0, &url.Error{Op: "Post", URL: "https://hooks.example.com/secret-path", Err: errors.New("http2: server sent GOAWAY")}, Retry, "http2: server sent GOAWAY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Classify(tt.status, tt.err)
			if got != tt.want || !strings.HasPrefix(reason, tt.wantReason) {
				t.Errorf("Classify(%d, %v) = %v %q, want %v %q", tt.status, tt.err, got, reason, tt.want, tt.wantReason)
			}
			if strings.Contains(reason, "secret-path") || strings.Contains(reason, "10.96.0.10") {
				t.Errorf("reason %q repeats the URL or names our name server", reason)
			}
		})
	}
}

// A receiver controls some of the text in a reason (the names in its
// certificate); what is stored stays short and valid UTF-8.
func TestClassifyReasonBounded(t *testing.T) {
	names := make([]string, 500)
	for i := range names {
		names[i] = fmt.Sprintf("name-%d-\xff.example", i)
	}
	err := wrapped(x509.HostnameError{Certificate: &x509.Certificate{DNSNames: names}, Host: "h.example"})
	_, reason := Classify(0, err)
	if len(reason) > maxReason+len("…") || !utf8.ValidString(reason) {
		t.Fatalf("reason is %d bytes, valid UTF-8 %v", len(reason), utf8.ValidString(reason))
	}
}

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{{Success, "success"}, {Retry, "retry"}, {Fail, "fail"}, {Gone, "gone"}, {0, "Outcome(0)"}}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.o.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		values []string // nil: no header
		want   time.Duration
		wantOK bool
	}{
		{"absent", nil, 0, false},
		{"empty", []string{""}, 0, false},
		{"seconds", []string{"120"}, 2 * time.Minute, true},
		{"zero", []string{"0"}, 0, true},
		{"spaces", []string{"  30 "}, 30 * time.Second, true},
		{"a day", []string{"86400"}, 24 * time.Hour, true},
		{"over a day", []string{"86401"}, 24 * time.Hour, true},
		{"huge", []string{"99999999999999999999999"}, 24 * time.Hour, true},
		{"negative", []string{"-5"}, 0, false},
		{"plus sign", []string{"+5"}, 0, false},
		{"fraction", []string{"1.5"}, 0, false},
		{"garbage", []string{"soon"}, 0, false},
		{"first of two", []string{"10", "20"}, 10 * time.Second, true},
		{"HTTP date", []string{"Sun, 01 Mar 2026 12:05:00 GMT"}, 5 * time.Minute, true},
		{"RFC 850 date", []string{"Sunday, 01-Mar-26 12:00:30 GMT"}, 30 * time.Second, true},
		{"asctime date", []string{"Sun Mar  1 13:00:00 2026"}, time.Hour, true},
		{"date now", []string{"Sun, 01 Mar 2026 12:00:00 GMT"}, 0, true},
		{"date in the past", []string{"Sun, 01 Mar 2026 11:00:00 GMT"}, 0, false},
		{"date next week", []string{"Sun, 08 Mar 2026 12:00:00 GMT"}, 24 * time.Hour, true},
		{"bad date", []string{"Sun, 32 Mar 2026 12:00:00 GMT"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Retry-After", v)
			}
			got, ok := RetryAfter(h, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter(%q) = %v, %v; want %v, %v", tt.values, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
