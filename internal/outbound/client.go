package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// MaxResponseBody is how much of a receiver's response is kept: enough to
// show the user what their endpoint said, not enough to let it fill our
// database.
const MaxResponseBody = 64 << 10

// maxDrain is how much more of a response ReadBody reads and discards so the
// connection can carry the next delivery. Past this, closing the connection
// and dialling a new one is cheaper than reading someone's endless stream.
const maxDrain = 256 << 10

// maxResponseHeaderBytes bounds the response headers. Go's default is 10 MB,
// which a hostile receiver could make every worker hold at once.
const maxResponseHeaderBytes = 64 << 10

// DefaultUserAgent is sent when ClientOptions.UserAgent is empty; callers
// normally pass "Fluxhook/<version>".
const DefaultUserAgent = "Fluxhook"

// ClientOptions tunes NewClient. Zero (or negative) values take the defaults.
type ClientOptions struct {
	Timeout               time.Duration  // the whole request, reading the body included; default 15s
	DialTimeout           time.Duration  // default 5s
	TLSHandshakeTimeout   time.Duration  // default 5s
	ResponseHeaderTimeout time.Duration  // default Timeout
	MaxIdleConnsPerHost   int            // default 8
	UserAgent             string         // sent when a request has no User-Agent; default DefaultUserAgent
	Resolver              *net.Resolver  // nil: the system resolver
	RootCAs               *x509.CertPool // nil: the system roots; for tests and private CAs
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = 5 * time.Second
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = o.Timeout
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 8
	}
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	return o
}

// NewClient returns the client that delivers webhooks under p. It is safe
// for concurrent use and meant to be shared: its connection pool is what
// makes thousands of deliveries a second affordable.
//
// Every connection is checked against p after DNS, on the address actually
// dialled, so a name rebound to a private address after CheckURL is refused
// with a *BlockedError before a packet is sent. Redirects are returned, not
// followed (a 3xx is a failed delivery). Proxies from the environment are
// ignored: HTTP_PROXY would move the connection, and so the check, to the
// proxy. Responses are not decompressed, so a small gzip body cannot expand
// into a large one.
func NewClient(p Policy, o ClientOptions) *http.Client {
	o = o.withDefaults()
	dialer := &net.Dialer{
		Timeout:        o.DialTimeout,
		KeepAlive:      30 * time.Second,
		Resolver:       o.Resolver,
		ControlContext: p.control,
	}
	base := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := p.checkDialHost(addr); err != nil {
				return nil, err
			}
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:      true,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.RootCAs},
		TLSHandshakeTimeout:    o.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  o.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    o.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		DisableCompression:     true,
		HTTP2: &http.HTTP2Config{
			// A receiver that goes silent on a multiplexed connection would
			// otherwise stall every delivery queued on it until each one's
			// own timeout.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
			// The default windows (megabytes per stream) let a receiver push
			// far more than we will ever read into memory before we read it;
			// multiplied by the deliveries in flight that is a lot of RAM.
			MaxReceiveBufferPerStream:     MaxResponseBody + maxDrain,
			MaxReceiveBufferPerConnection: 1 << 20,
		},
	}
	return &http.Client{
		Transport: &transport{policy: p, userAgent: o.UserAgent, base: base},
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// control runs after DNS and before connect(2), on the address the socket is
// about to reach; it is the check that cannot be talked around.
func (p Policy) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Host: address, Why: "an address the policy cannot read"}
	}
	if !p.AllowedIP(ap.Addr()) {
		return &BlockedError{Addr: ap.Addr(), Why: judge(ap.Addr()).phrase()}
	}
	return nil
}

// checkDialHost refuses local names before they reach the resolver, for the
// same reasons CheckURL does.
func (p Policy) checkDialHost(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // the dialer reports malformed addresses itself
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // judged by control, after the same parsing the dialer does
	}
	if why := p.refusedName(host); why != "" {
		return &BlockedError{Host: host, Why: why}
	}
	return nil
}

// transport enforces the scheme rule at request time, so that turning
// FLUXHOOK_ALLOW_INSECURE_TARGETS off also stops webhooks saved while it was
// on, and supplies the User-Agent.
type transport struct {
	policy    Policy
	userAgent string
	base      *http.Transport
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	scheme := req.URL.Scheme
	if scheme != "https" && (scheme != "http" || !t.policy.AllowInsecure) {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper owns the body, even when refusing
		}
		msg := "must use https (http:// is allowed only when the server runs with FLUXHOOK_ALLOW_INSECURE_TARGETS)"
		if t.policy.AllowInsecure {
			msg = "must use http or https"
		}
		return nil, &URLError{Reason: msg}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		// A RoundTripper must not modify the caller's request.
		r := req.WithContext(req.Context())
		r.Header = req.Header.Clone()
		if r.Header == nil {
			r.Header = make(http.Header, 1)
		}
		r.Header["User-Agent"] = []string{t.userAgent}
		req = r
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections lets (*http.Client).CloseIdleConnections reach the pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// ReadBody reads at most max bytes of a response body (MaxResponseBody when
// max <= 0) and reports whether there was more. It then reads and discards up
// to 256 KiB further, so that a moderately oversized response does not cost
// the connection; it never reads more than max+256 KiB, whatever the sender
// does, and the caller still closes the body. An error is returned only when
// it cut the kept part short, together with what was read.
func ReadBody(r io.Reader, max int64) (body []byte, truncated bool, err error) {
	if max <= 0 {
		max = MaxResponseBody
	}
	body, err = io.ReadAll(io.LimitReader(r, max))
	if err != nil || int64(len(body)) < max {
		return body, false, err
	}
	n, err := io.CopyN(io.Discard, r, maxDrain)
	// A stream that failed right after the kept part may have had more.
	return body, n > 0 || (err != nil && err != io.EOF), nil
}
