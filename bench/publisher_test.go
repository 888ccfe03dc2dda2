package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// publisher is the load generator's side of one keep-alive connection to
// the API: it writes each request from bytes made once and reads the
// answer with no more parsing than the status and the body's length
// need, as wrk or oha would. The load generator shares the machine's two
// cores with the all-in-one, and net/http's client spent about 120 µs
// per request (goroutines for each connection's reads and writes, header
// maps, a request value per call): at thousands of requests a second
// that took a core from the process being measured, so the API's
// figures were the generator's as much as its own. Requests still go
// through the public API over TCP, one at a time per connection (no
// pipelining), exactly as any HTTP/1.1 client sends them.
type publisher struct {
	addr    string // host:port
	head    []byte // request line and headers up to Content-Length's value
	timeout time.Duration

	conn net.Conn
	r    *bufio.Reader
	w    []byte
}

// newPublisher makes a publisher for POST apiBase+path with the client
// key. It connects on its first request and again after any error.
func newPublisher(apiBase, path, key string) (*publisher, error) {
	u, err := url.Parse(apiBase)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("publisher: %s: only http:// is supported", apiBase)
	}
	head := "POST " + u.Path + path + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nContent-Type: application/json\r\nX-Client-Key: " + key + "\r\nContent-Length: "
	return &publisher{addr: u.Host, head: []byte(head), timeout: 30 * time.Second}, nil
}

// post sends body and returns the answer's status code; the answer's
// body is returned only when the status is not 202, for the error.
func (p *publisher) post(body []byte) (int, []byte, error) {
	reused := p.conn != nil
	if err := p.dial(); err != nil {
		return 0, nil, err
	}
	code, msg, err := p.roundTrip(body)
	if err != nil && reused && errors.Is(err, io.EOF) {
		// The server closed the idle connection as we wrote: nothing
		// was answered, so send again on a new one, as net/http does.
		p.close()
		if err := p.dial(); err != nil {
			return 0, nil, err
		}
		code, msg, err = p.roundTrip(body)
	}
	if err != nil {
		p.close()
	}
	return code, msg, err
}

func (p *publisher) dial() error {
	if p.conn != nil {
		return nil
	}
	c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		return err
	}
	p.conn, p.r = c, bufio.NewReaderSize(c, 4096)
	return nil
}

func (p *publisher) roundTrip(body []byte) (int, []byte, error) {
	if err := p.conn.SetDeadline(time.Now().Add(p.timeout)); err != nil {
		return 0, nil, err
	}
	w := append(p.w[:0], p.head...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, "\r\n\r\n"...)
	w = append(w, body...)
	p.w = w
	if _, err := p.conn.Write(w); err != nil {
		return 0, nil, err
	}
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	// "HTTP/1.1 202 Accepted\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("publisher: bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("publisher: bad status line %q", line)
	}
	length, closing, chunked := -1, false, false
	for {
		h, err := p.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, fmt.Errorf("publisher: bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	var msg []byte
	switch {
	case chunked:
		// A large answer (a batch's) comes in chunks: size line, data,
		// CRLF, until a chunk of size 0 and the empty trailer line.
		for {
			line, err := p.r.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(bytes.SplitN(line, []byte(";"), 2)[0])), 16, 64)
			if err != nil || size < 0 {
				return 0, nil, fmt.Errorf("publisher: bad chunk size %q", line)
			}
			if size == 0 {
				if _, err := p.r.ReadSlice('\n'); err != nil { // trailer's end
					return 0, nil, err
				}
				break
			}
			if code == 202 {
				_, err = p.r.Discard(int(size))
			} else {
				chunk := make([]byte, size)
				_, err = io.ReadFull(p.r, chunk)
				msg = append(msg, chunk...)
			}
			if err == nil {
				_, err = p.r.Discard(2) // CRLF
			}
			if err != nil {
				return 0, nil, err
			}
		}
	case length < 0:
		return 0, nil, fmt.Errorf("publisher: an answer without Content-Length or chunks")
	case code == 202:
		if _, err := p.r.Discard(length); err != nil {
			return 0, nil, err
		}
	default:
		msg = make([]byte, length)
		if _, err := io.ReadFull(p.r, msg); err != nil {
			return 0, nil, err
		}
	}
	if closing {
		p.close()
	}
	return code, msg, nil
}

func (p *publisher) close() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn, p.r = nil, nil
	}
}

// TestPublisher holds the lean client to what net/http's server answers:
// a 202 on a kept connection, a refusal's body, a connection the server
// closes after its answer, and one it closed while idle.
func TestPublisher(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path != "/api/v1/events" || r.Header.Get("X-Client-Key") != "fbk_k" || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "wrong request", http.StatusBadRequest)
		case string(body) == "close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusAccepted)
		case string(body) == "big":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write(bytes.Repeat([]byte("x"), 100_000)) // chunked: no Content-Length set
		case string(body) == "bigbad":
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write(bytes.Repeat([]byte("y"), 10_000))
		case string(body) == "bad":
			http.Error(w, `{"error":"no"}`, http.StatusUnprocessableEntity)
		default:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"id":"e1"}`))
		}
	}))
	defer srv.Close()
	p, err := newPublisher(srv.URL+"/api/v1", "/events", "fbk_k")
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for i, c := range []struct {
		body string
		code int
		msg  string
	}{{"{}", 202, ""}, {"{}", 202, ""}, {"bad", 422, `{"error":"no"}`}, {"big", 202, ""}, {"bigbad", 422, strings.Repeat("y", 10_000)},
		{"{}", 202, ""}, {"close", 202, ""}, {"{}", 202, ""}} {
		code, msg, err := p.post([]byte(c.body))
		if err != nil || code != c.code || strings.TrimSpace(string(msg)) != c.msg {
			t.Fatalf("request %d (%s): %d %q %v, want %d %q", i, c.body, code, msg, err, c.code, c.msg)
		}
	}
	srv.CloseClientConnections() // the idle connection goes away
	if code, _, err := p.post([]byte("{}")); err != nil || code != 202 {
		t.Fatalf("after the server closed the idle connection: %d %v", code, err)
	}
	if n := requests.Load(); n != 9 {
		t.Fatalf("the server saw %d requests, want 9", n)
	}
}
