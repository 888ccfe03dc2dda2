// Package client is a Go client for the Fluxhook API: publishing events,
// managing webhooks and client keys, signing in, and verifying the
// deliveries a webhook endpoint receives. It uses only the standard
// library.
//
// A service publishing events usually holds a client key:
//
//	c, err := client.New("https://hooks.example.com", os.Getenv("FLUXHOOK_KEY"))
//	res, err := c.PublishEvent(ctx, "order.paid", map[string]any{"order_id": 42},
//		client.IdempotencyKey("order-42-paid"))
//
// A program acting as a user signs in instead (SignIn, AdminLogin); the
// client keeps the session and refreshes it before the access token
// expires. Every method returns an *Error for an error answer of the
// server, with the status, code and request id.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// refreshMargin: the session is refreshed this long before the access
// token expires, so a request sent just before expiry does not arrive
// just after it.
const refreshMargin = 30 * time.Second

// Client calls one Fluxhook server. It is safe for concurrent use.
type Client struct {
	base string
	key  string
	hc   *http.Client
	now  func() time.Time

	mu      sync.Mutex
	session *Session
	// refreshing is closed when the refresh in progress ends. Refresh
	// tokens rotate and presenting one twice ends the session on the
	// server, so only one refresh runs at a time.
	refreshing chan struct{}
	refreshErr error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// New returns a client for the server at baseURL (e.g.
// http://localhost:8080). key is a client key (fbk_...) to authenticate
// with, or "" for a client that signs in or calls only public endpoints.
func New(baseURL, key string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: %q is not an absolute http(s) URL", baseURL)
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), key: key, hc: &http.Client{Timeout: 30 * time.Second}, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is an error answer of the server, or why no answer came (Status 0).
type Error struct {
	Status    int               // HTTP status
	Code      string            // the server's code: VALIDATION_FAILED, NOT_FOUND, ...
	Message   string            // the server's sentence
	RequestID string            // X-Request-Id, to quote to an operator
	Details   map[string]string // per-field problems of a 422
	// RetryAfter is how long to wait before retrying a 429 or 503.
	RetryAfter time.Duration
	// Body is the whole error body.
	Body json.RawMessage
}

func (e *Error) Error() string {
	s := fmt.Sprintf("fluxhook: %d %s: %s", e.Status, e.Code, e.Message)
	if e.RequestID != "" {
		s += " (request " + e.RequestID + ")"
	}
	return s
}

// ErrorCode returns the server's code of err ("" when err is not an *Error).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrorStatus returns the HTTP status of err (0 when err is not an *Error).
func ErrorStatus(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Session is a signed-in user's tokens.
type Session struct {
	User         User
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	// Admin is true for a dashboard login (refreshed at /admin/refresh).
	Admin bool
}

// Session returns a copy of the current session, or nil.
func (c *Client) Session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.session == nil {
		return nil
	}
	s := *c.session
	return &s
}

// SetSession replaces the session (nil: none; requests then carry the key).
func (c *Client) SetSession(s *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s != nil {
		cp := *s
		s = &cp
	}
	c.session = s
}

func (c *Client) startSession(a *AuthResponse, admin bool) {
	c.SetSession(&Session{User: a.User, AccessToken: a.AccessToken, RefreshToken: a.RefreshToken,
		ExpiresAt: c.now().Add(time.Duration(a.ExpiresIn) * time.Second), Admin: admin})
}

// Refresh exchanges the session's refresh token for a new pair now (the
// client also does this by itself before the access token expires).
// Concurrent callers share one exchange.
func (c *Client) Refresh(ctx context.Context) error {
	c.mu.Lock()
	s := c.session
	if s == nil {
		c.mu.Unlock()
		return &Error{Status: http.StatusUnauthorized, Code: "NO_SESSION", Message: "not signed in: there is no session to refresh"}
	}
	if ch := c.refreshing; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.refreshErr
	}
	ch := make(chan struct{})
	c.refreshing = ch
	c.mu.Unlock()

	path := "/api/v1/auth/refresh"
	if s.Admin {
		path = "/api/v1/admin/refresh"
	}
	var res AuthResponse
	err := c.send(ctx, http.MethodPost, path, map[string]string{"refresh_token": s.RefreshToken}, nil, "", &res)

	c.mu.Lock()
	// A sign-in or sign-out that happened meanwhile wins over this refresh.
	if c.session == s {
		switch {
		case err == nil:
			c.session = &Session{User: res.User, AccessToken: res.AccessToken, RefreshToken: res.RefreshToken,
				ExpiresAt: c.now().Add(time.Duration(res.ExpiresIn) * time.Second), Admin: s.Admin}
		case ErrorStatus(err) == http.StatusUnauthorized:
			c.session = nil // the refresh token was refused: the session is over
		}
	}
	c.refreshErr = err
	c.refreshing = nil
	close(ch)
	c.mu.Unlock()
	return err
}

// call sends a request with the session's access token (refreshed first
// when about to expire, and once more after a 401), or the client key.
func (c *Client) call(ctx context.Context, method, path string, in any, query url.Values, out any, header ...string) error {
	s := c.Session()
	if s != nil && s.RefreshToken != "" && c.now().Add(refreshMargin).After(s.ExpiresAt) {
		if err := c.Refresh(ctx); err != nil {
			return err
		}
		s = c.Session()
	}
	token := c.key
	if s != nil {
		token = s.AccessToken
	}
	err := c.send(ctx, method, path, in, query, token, out, header...)
	if s == nil || s.RefreshToken == "" || ErrorStatus(err) != http.StatusUnauthorized {
		return err
	}
	// The token may have expired in flight, or another call refreshed it
	// meanwhile: one refresh and one retry, never more.
	if cur := c.Session(); cur != nil && cur.AccessToken == s.AccessToken {
		if c.Refresh(ctx) != nil {
			return err // the request's own 401 says more than the refresh's
		}
	}
	cur := c.Session()
	if cur == nil {
		return err
	}
	return c.send(ctx, method, path, in, query, cur.AccessToken, out, header...)
}

// send makes one HTTP request. header is name, value pairs.
func (c *Client) send(ctx context.Context, method, path string, in any, query url.Values, token string, out any, header ...string) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("apikey", c.key)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	// Error bodies are small; success bodies are bounded by what the API
	// returns (a page of deliveries at most).
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("client: %s %s: read response: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		return toError(res, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: %s %s: decode response: %w", method, path, err)
	}
	return nil
}

func toError(res *http.Response, b []byte) *Error {
	e := &Error{Status: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	var body struct {
		Error      string            `json:"error"`
		Message    string            `json:"message"`
		Code       string            `json:"code"`
		Details    map[string]string `json:"details"`
		RetryAfter *int              `json:"retry_after"`
		RequestID  string            `json:"request_id"`
	}
	if json.Unmarshal(b, &body) == nil {
		e.Code, e.Details = body.Code, body.Details
		e.Message = body.Error
		if e.Message == "" {
			e.Message = body.Message
		}
		if e.RequestID == "" {
			e.RequestID = body.RequestID
		}
		if body.RetryAfter != nil {
			e.RetryAfter = time.Duration(*body.RetryAfter) * time.Second
		}
	}
	if e.RetryAfter == 0 {
		if n, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && n > 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	if e.Code == "" {
		e.Code = "HTTP_" + strconv.Itoa(res.StatusCode)
	}
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	e.Body = append(json.RawMessage(nil), b...)
	return e
}

func seg(s string) string { return url.PathEscape(s) }
