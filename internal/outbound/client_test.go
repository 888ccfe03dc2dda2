package outbound

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Every test here talks to servers on 127.0.0.1 only. Names are answered by
// newTestResolver, which points them at loopback too.

// countingServer is an httptest server that counts the TCP connections it
// accepts and the requests it serves, so a test can assert that nothing
// reached it at all.
type countingServer struct {
	*httptest.Server
	conns    atomic.Int64
	requests atomic.Int64
}

func newCountingServer(tb testing.TB, h http.HandlerFunc) *countingServer {
	tb.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.requests.Add(1)
		h(w, r)
	}))
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	tb.Cleanup(cs.Close)
	return cs
}

func (cs *countingServer) port() string {
	return strconv.Itoa(cs.Listener.Addr().(*net.TCPAddr).Port)
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Seen-User-Agent", r.UserAgent())
	_, _ = io.Copy(w, r.Body)
}

func post(tb testing.TB, c *http.Client, u, body string) (*http.Response, error) {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err == nil {
		tb.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

var loopback = netip.MustParseAddr("127.0.0.1")

func TestClientRefusesBeforeSending(t *testing.T) {
	resolver := newTestResolver(t, map[string][]netip.Addr{
		// Public when the webhook was saved, loopback now: DNS rebinding.
		"rebind.example.com": {loopback},
		"mapped.example.com": {netip.MustParseAddr("::ffff:127.0.0.1")},
	})
	// The rebinding name passed CheckURL when it resolved to a public address.
	public := func(context.Context, string, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
	}
	if err := (Policy{}).CheckURL(context.Background(), "https://rebind.example.com/", public); err != nil {
		t.Fatalf("CheckURL at create time: %v", err)
	}

	tests := []struct {
		name     string
		policy   Policy
		url      string     // PORT is replaced by the test server's port
		wantAddr netip.Addr // the address named by the *BlockedError
		wantHost string     // the name named by the *BlockedError
		wantURL  bool       // a *URLError instead
	}{
		{"loopback literal", Policy{AllowInsecure: true}, "http://127.0.0.1:PORT/", loopback, "", false},
		{"IPv4-mapped literal", Policy{AllowInsecure: true}, "http://[::ffff:127.0.0.1]:PORT/", loopback, "", false},
		{"name rebound to loopback", Policy{AllowInsecure: true}, "http://rebind.example.com:PORT/", loopback, "", false},
		{"name resolving to IPv4-mapped loopback", Policy{AllowInsecure: true}, "http://mapped.example.com:PORT/", loopback, "", false},
		{"localhost by name", Policy{AllowInsecure: true}, "http://localhost:PORT/", netip.Addr{}, "localhost", false},
		{"decimal IPv4 by name", Policy{AllowInsecure: true}, "http://2130706433:PORT/", netip.Addr{}, "2130706433", false},
		{"http without AllowInsecure", Policy{}, "http://127.0.0.1:PORT/", netip.Addr{}, "", true},
		{"http without AllowInsecure, private allowed", Policy{AllowPrivate: true}, "http://127.0.0.1:PORT/", netip.Addr{}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCountingServer(t, echo)
			u := strings.Replace(tt.url, "PORT", srv.port(), 1)
			c := NewClient(tt.policy, ClientOptions{Resolver: resolver, Timeout: 5 * time.Second})
			resp, err := post(t, c, u, `{"id":"1"}`)
			if err == nil {
				t.Fatalf("POST %s: %s, want a refusal", u, resp.Status)
			}
			if tt.wantURL {
				var ue *URLError
				if !errors.As(err, &ue) {
					t.Fatalf("err = %v, want a *URLError", err)
				}
			} else {
				var be *BlockedError
				if !errors.As(err, &be) {
					t.Fatalf("err = %v, want a *BlockedError", err)
				}
				if be.Addr.Unmap() != tt.wantAddr || be.Host != tt.wantHost {
					t.Errorf("BlockedError names %q/%v, want %q/%v", be.Host, be.Addr, tt.wantHost, tt.wantAddr)
				}
			}
			if o, _ := Classify(0, err); o != Fail {
				t.Errorf("Classify = %v, want fail", o)
			}
			if n, m := srv.conns.Load(), srv.requests.Load(); n != 0 || m != 0 {
				t.Fatalf("the server saw %d connections and %d requests, want none", n, m)
			}
		})
	}
}

func TestClientAllowPrivate(t *testing.T) {
	srv := newCountingServer(t, echo)
	resolver := newTestResolver(t, map[string][]netip.Addr{"receiver.example.com": {loopback}})
	tests := []struct {
		name, url, userAgent, wantUA string
	}{
		{"literal", srv.URL + "/hook", "", DefaultUserAgent},
		{"name", "http://receiver.example.com:" + srv.port() + "/hook", "", DefaultUserAgent},
		{"configured user agent", srv.URL, "Fluxhook/1.2.3", "Fluxhook/1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{Resolver: resolver, UserAgent: tt.userAgent})
			resp, err := post(t, c, tt.url, `{"id":"1"}`)
			if err != nil {
				t.Fatal(err)
			}
			body, truncated, err := ReadBody(resp.Body, MaxResponseBody)
			if err != nil || truncated || string(body) != `{"id":"1"}` || resp.StatusCode != http.StatusOK {
				t.Fatalf("got %s %q (truncated %v, err %v), want 200 and the body echoed", resp.Status, body, truncated, err)
			}
			if ua := resp.Header.Get("X-Seen-User-Agent"); ua != tt.wantUA {
				t.Errorf("User-Agent = %q, want %q", ua, tt.wantUA)
			}
		})
	}
	t.Run("caller's user agent wins", func(t *testing.T) {
		c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{UserAgent: "Fluxhook/1"})
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
		req.Header.Set("User-Agent", "Custom/2")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ua := resp.Header.Get("X-Seen-User-Agent"); ua != "Custom/2" {
			t.Errorf("User-Agent = %q, want the caller's", ua)
		}
		if _, ok := req.Header["User-Agent"]; !ok || req.Header.Get("User-Agent") != "Custom/2" {
			t.Errorf("the caller's request was modified: %v", req.Header)
		}
	})
}

// TestClientReachesAllowedCIDRs: a receiver on a listed network is
// reached, by address or by a local name that resolves into the network,
// while private targets stay off; an unlisted private address is not.
func TestClientReachesAllowedCIDRs(t *testing.T) {
	srv := newCountingServer(t, echo)
	resolver := newTestResolver(t, map[string][]netip.Addr{"billing.corp.internal": {loopback}})
	p := Policy{AllowInsecure: true, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	c := NewClient(p, ClientOptions{Resolver: resolver, Timeout: 5 * time.Second})
	for _, u := range []string{srv.URL + "/hook", "http://billing.corp.internal:" + srv.port() + "/hook"} {
		resp, err := post(t, c, u, `{"id":"1"}`)
		if err != nil {
			t.Fatalf("POST %s: %v, want it reached", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s", u, resp.Status)
		}
	}
	other := NewClient(Policy{AllowInsecure: true, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, ClientOptions{Resolver: resolver, Timeout: 5 * time.Second})
	var be *BlockedError
	if _, err := post(t, other, srv.URL+"/hook", `{}`); !errors.As(err, &be) {
		t.Fatalf("loopback outside the listed network: err = %v, want a *BlockedError", err)
	}
}

// TestDialRefusesMetadataWhateverTheSettings: the check made at every
// connection refuses metadata addresses and names even with private
// targets allowed; no packet is sent.
func TestDialRefusesMetadataWhateverTheSettings(t *testing.T) {
	for _, p := range []Policy{{AllowPrivate: true}, {AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}} {
		for _, addr := range []string{"169.254.169.254:80", "[fd00:ec2::254]:80", "[::ffff:169.254.169.254]:80"} {
			var be *BlockedError
			if err := p.control(context.Background(), "tcp", addr, nil); !errors.As(err, &be) {
				t.Errorf("%+v: control(%s) = %v, want a *BlockedError", p, addr, err)
			}
		}
		var be *BlockedError
		if err := p.checkDialHost("metadata.google.internal:80"); !errors.As(err, &be) {
			t.Errorf("%+v: checkDialHost(metadata.google.internal) = %v, want a *BlockedError", p, err)
		}
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	target := newCountingServer(t, echo)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			redirector := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/elsewhere", code)
			})
			c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{})
			resp, err := post(t, c, redirector.URL, "{}")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != code {
				t.Fatalf("status = %d, want %d returned as is", resp.StatusCode, code)
			}
			// Not followed, but retried: the receiver may fix its redirect.
			if o, _ := Classify(resp.StatusCode, nil); o != Retry {
				t.Errorf("Classify(%d) = %v, want retry", code, o)
			}
			if n := target.requests.Load(); n != 0 {
				t.Fatalf("the redirect target saw %d requests, want none", n)
			}
		})
	}
}

func TestClientTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for handlers

	const timeout = 300 * time.Millisecond
	c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{Timeout: timeout})
	start := time.Now()
	_, err := post(t, c, srv.URL, "{}")
	elapsed := time.Since(start)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	// The server never answers: any end at all is the timeout at work;
	// the bound only catches a client that would wait for ever.
	if elapsed >= 10*time.Second {
		t.Errorf("took %v: the timeout of %v did not end the request", elapsed, timeout)
	}
	if o, reason := Classify(0, err); o != Retry || reason != "timeout" {
		t.Errorf("Classify = %v %q, want retry \"timeout\"", o, reason)
	}
}

// A body that trickles in is cut off by the whole-request timeout, not read
// for ever.
func TestClientTimeoutWhileReadingBody(t *testing.T) {
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	const timeout = 300 * time.Millisecond
	c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{Timeout: timeout})
	start := time.Now()
	resp, err := post(t, c, srv.URL, "{}")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = ReadBody(resp.Body, MaxResponseBody)
	// The body trickles for ever: any end at all is the timeout at work.
	// The bound only keeps a client without one from hanging the test; a
	// tight one (it was 3 × timeout) failed on a loaded machine.
	var ne net.Error
	if elapsed := time.Since(start); !errors.As(err, &ne) || !ne.Timeout() || elapsed >= 10*time.Second {
		t.Fatalf("ReadBody after %v: err = %v, want a timeout error (the body never ends)", elapsed, err)
	}
}

func TestClientLargeBody(t *testing.T) {
	const size = 10 << 20
	srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		chunk := bytes.Repeat([]byte("a"), 32<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{})
	resp, err := post(t, c, srv.URL, "{}")
	if err != nil {
		t.Fatal(err)
	}
	cr := &countingReader{r: resp.Body}
	body, truncated, err := ReadBody(cr, MaxResponseBody)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != MaxResponseBody || !truncated {
		t.Fatalf("ReadBody = %d bytes, truncated %v; want %d bytes, truncated", len(body), truncated, MaxResponseBody)
	}
	if cr.n > MaxResponseBody+maxDrain {
		t.Errorf("read %d bytes of the response, want at most %d", cr.n, MaxResponseBody+maxDrain)
	}
}

// A response a little over the limit is drained, so the next delivery to
// the same host reuses the connection instead of dialling again.
func TestClientReusesConnections(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		wantConns int64
	}{
		{"small", 100, 1},
		{"over the limit, within the drain", MaxResponseBody + 100<<10, 1},
		{"past the drain", MaxResponseBody + maxDrain + 64<<10, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("b"), tt.size)
			srv := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write(payload)
			})
			c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{})
			for range 2 {
				resp, err := post(t, c, srv.URL, "{}")
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := ReadBody(resp.Body, MaxResponseBody); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			if n := srv.conns.Load(); n != tt.wantConns {
				t.Errorf("two requests used %d connections, want %d", n, tt.wantConns)
			}
		})
	}
}

// ProxyFromEnvironment never proxies loopback targets, so the request goes
// to a name (answered by the test resolver) to make this test able to fail.
func TestClientIgnoresProxyEnvironment(t *testing.T) {
	proxy := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "proxied", http.StatusBadGateway)
	})
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	srv := newCountingServer(t, echo)
	resolver := newTestResolver(t, map[string][]netip.Addr{"receiver.example.com": {loopback}})
	c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{Resolver: resolver})
	resp, err := post(t, c, "http://receiver.example.com:"+srv.port()+"/", "{}")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || srv.requests.Load() != 1 {
		t.Fatalf("status %d, receiver saw %d requests; want 200 from the receiver", resp.StatusCode, srv.requests.Load())
	}
	if n := proxy.conns.Load(); n != 0 {
		t.Fatalf("the proxy from the environment saw %d connections, want none", n)
	}
}

func TestClientTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failures below are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	plain := newCountingServer(t, echo)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	resolver := newTestResolver(t, map[string][]netip.Addr{"wrong-name.example.net": {loopback}})
	dev := Policy{AllowPrivate: true}

	t.Run("trusted: HTTP/2", func(t *testing.T) {
		c := NewClient(dev, ClientOptions{RootCAs: roots})
		resp, err := post(t, c, srv.URL, "{}")
		if err != nil {
			t.Fatal(err)
		}
		body, _, _ := ReadBody(resp.Body, 0)
		if resp.StatusCode != http.StatusOK || string(body) != "HTTP/2.0" {
			t.Fatalf("got %s over %q, want 200 over HTTP/2.0", resp.Status, body)
		}
	})
	tests := []struct {
		name       string
		opts       ClientOptions
		url        string
		wantReason string
	}{
		{"unknown authority", ClientOptions{}, srv.URL, "tls: certificate signed by unknown authority"},
		{"wrong host name", ClientOptions{RootCAs: roots, Resolver: resolver}, "https://wrong-name.example.net:" + port + "/", "tls: certificate is valid for"},
		{"plain HTTP on an https URL", ClientOptions{}, "https://127.0.0.1:" + plain.port() + "/", "tls: the server answered in plain HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := post(t, NewClient(dev, tt.opts), tt.url, "{}")
			if err == nil {
				t.Fatal("request succeeded, want a TLS error")
			}
			o, reason := Classify(0, err)
			if o != Retry || !strings.HasPrefix(reason, tt.wantReason) {
				t.Fatalf("Classify(%v) = %v %q, want retry %q", err, o, reason, tt.wantReason)
			}
		})
	}
}

func TestClientConnectionErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	reset := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		conn.(*net.TCPConn).SetLinger(0) // close with RST
		conn.Close()
	})
	resolver := newTestResolver(t, nil)
	tests := []struct {
		name, url, wantReason string
	}{
		{"refused", "http://127.0.0.1:" + closedPort + "/", "connection refused"},
		{"no such host", "http://nowhere.example.com:" + closedPort + "/", "dns: no such host nowhere.example.com"},
		{"reset or closed", reset.URL, "connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{Resolver: resolver})
			_, err := post(t, c, tt.url, "{}")
			o, reason := Classify(0, err)
			if err == nil || o != Retry || !strings.HasPrefix(reason, tt.wantReason) {
				t.Fatalf("err %v: Classify = %v %q, want retry %q", err, o, reason, tt.wantReason)
			}
		})
	}
}

func TestNewClientDefaults(t *testing.T) {
	c := NewClient(Policy{}, ClientOptions{})
	if c.Timeout != 15*time.Second {
		t.Errorf("Timeout = %v, want 15s", c.Timeout)
	}
	tr := c.Transport.(*transport).base
	switch {
	case tr.Proxy != nil:
		t.Error("Proxy is set")
	case !tr.DisableCompression:
		t.Error("compression is on")
	case tr.TLSClientConfig.MinVersion < 0x0303:
		t.Errorf("TLS MinVersion = %x, want 1.2 or later", tr.TLSClientConfig.MinVersion)
	case tr.TLSClientConfig.InsecureSkipVerify:
		t.Error("certificates are not verified")
	case tr.ResponseHeaderTimeout != 15*time.Second, tr.TLSHandshakeTimeout != 5*time.Second:
		t.Errorf("timeouts: headers %v, TLS %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	case tr.MaxIdleConnsPerHost != 8, tr.MaxIdleConns != 1024, tr.IdleConnTimeout != 90*time.Second:
		t.Errorf("pool: %d per host, %d in all, idle %v", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tr.IdleConnTimeout)
	case !tr.ForceAttemptHTTP2:
		t.Error("HTTP/2 is not attempted")
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// endless never ends; errAfter fails once its data is used up.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'z'
	}
	e.n += len(p)
	return len(p), nil
}

type errAfter struct {
	data []byte
	err  error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadBody(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name          string
		r             io.Reader
		max           int64
		wantLen       int
		wantTruncated bool
		wantErr       error
	}{
		{"empty", strings.NewReader(""), 10, 0, false, nil},
		{"short", strings.NewReader("hello"), 10, 5, false, nil},
		{"exactly max", strings.NewReader("0123456789"), 10, 10, false, nil},
		{"one over", strings.NewReader("0123456789!"), 10, 10, true, nil},
		{"default max", strings.NewReader(strings.Repeat("x", MaxResponseBody+1)), 0, MaxResponseBody, true, nil},
		{"error within the kept part", &errAfter{[]byte("abc"), boom}, 10, 3, false, boom},
		{"error right after the kept part", &errAfter{[]byte("0123456789"), boom}, 10, 10, true, nil},
		{"error in the drain", &errAfter{[]byte("0123456789abc"), boom}, 10, 10, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, truncated, err := ReadBody(tt.r, tt.max)
			if len(body) != tt.wantLen || truncated != tt.wantTruncated || !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadBody = %d bytes, truncated %v, err %v; want %d, %v, %v",
					len(body), truncated, err, tt.wantLen, tt.wantTruncated, tt.wantErr)
			}
		})
	}
	t.Run("endless", func(t *testing.T) {
		e := &endless{}
		body, truncated, err := ReadBody(e, MaxResponseBody)
		if err != nil || !truncated || len(body) != MaxResponseBody {
			t.Fatalf("ReadBody = %d bytes, truncated %v, err %v", len(body), truncated, err)
		}
		if limit := MaxResponseBody + maxDrain; e.n > limit {
			t.Fatalf("read %d bytes of an endless body, want at most %d", e.n, limit)
		}
	})
}

func BenchmarkClientPost(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	payload := bytes.Repeat([]byte("p"), 1<<10)
	// One idle connection per goroutine, as a worker would keep for a busy
	// receiver; with fewer, the benchmark measures TCP handshakes.
	c := NewClient(Policy{AllowInsecure: true, AllowPrivate: true}, ClientOptions{MaxIdleConnsPerHost: runtime.GOMAXPROCS(0)})
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, err := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(payload))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _, _ = ReadBody(resp.Body, MaxResponseBody)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
