package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/dashboard"
	"github.com/fluxhook/fluxhook/internal/httpapi"
)

// browser is what the dashboard's pages send: the CSRF header, and the
// Origin and Sec-Fetch-Site a browser adds to a same-origin fetch.
func (e *env) browser(extra http.Header) http.Header {
	h := http.Header{"X-Fluxhook-Dashboard": {"1"}, "Origin": {e.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func sessionCookie(t *testing.T, r resp) *http.Cookie {
	t.Helper()
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "fluxhook_dashboard_session" {
			return c
		}
	}
	t.Fatalf("no session cookie set; headers %v", r.header)
	return nil
}

func withCookie(h http.Header, c *http.Cookie) http.Header {
	h.Set("Cookie", c.Name+"="+c.Value)
	return h
}

func TestDashboardSessionLivesInAnHttpOnlyCookie(t *testing.T) {
	e := newEnv(t, envOpts{})
	creds := map[string]any{"email": "admin@example.com", "password": "admin-password-123"}
	in := e.doH("POST", "/dashboard/session", creds, e.browser(nil)).must(t, 200)
	if in.str("access_token") == "" || in.str("user.role") != "dashboard_admin" {
		t.Fatalf("sign-in: %s", in.raw)
	}
	if strings.Contains(in.raw, "fbr_") || in.body["refresh_token"] != nil {
		t.Fatalf("the refresh token is in the body, where a script can read it: %s", in.raw)
	}
	c := sessionCookie(t, in)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/api/v1/dashboard/session" || c.Secure || !strings.HasPrefix(c.Value, "fbr_") {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, the session path, not Secure over http", c)
	}
	e.do("GET", "/admin/me", in.str("access_token"), nil).must(t, 200)

	// Refresh rotates the cookie; the old one used again ends the session.
	r := e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 200)
	c2 := sessionCookie(t, r)
	if c2.Value == c.Value || r.str("access_token") == "" {
		t.Fatalf("refresh did not rotate: %s", r.raw)
	}
	// At once, as a second tab would without Web Locks: a race, 409,
	// and the cookie is left alone.
	race := e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 409)
	if race.str("code") != "REFRESH_RACE" || race.header.Get("Set-Cookie") != "" {
		t.Fatalf("a second use at once: %s, Set-Cookie %q; want REFRESH_RACE and no cookie change", race.raw, race.header.Get("Set-Cookie"))
	}
	e.clock.Advance(account.SharedRefreshGrace)
	reuse := e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 401)
	if reuse.str("code") != "REFRESH_TOKEN_REUSED" || sessionCookie(t, reuse).MaxAge >= 0 {
		t.Fatalf("reuse: %s, cookie %+v (want it cleared)", reuse.raw, sessionCookie(t, reuse))
	}
	e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c2)).must(t, 401)
	e.do("GET", "/admin/me", r.str("access_token"), nil).must(t, 401)
	if got := e.doH("POST", "/dashboard/session/refresh", nil, e.browser(nil)).must(t, 401).str("code"); got != "NO_SESSION" {
		t.Fatalf("refresh without a cookie: code %s", got)
	}

	// Sign-out ends the session and clears the cookie, with the access
	// token or, when the page lost it, with the cookie alone.
	for _, byCookie := range []bool{false, true} {
		in := e.doH("POST", "/dashboard/session", creds, e.browser(nil)).must(t, 200)
		c := sessionCookie(t, in)
		h := withCookie(e.browser(nil), c)
		if !byCookie {
			h.Set("Authorization", "Bearer "+in.str("access_token"))
		}
		out := e.doH("DELETE", "/dashboard/session", nil, h).must(t, 204)
		if sessionCookie(t, out).MaxAge >= 0 {
			t.Fatalf("sign-out (by cookie %v) did not clear the cookie", byCookie)
		}
		e.do("GET", "/admin/me", in.str("access_token"), nil).must(t, 401)
		e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 401)
	}

	// App users have no dashboard.
	e.signUp("app@example.com")
	e.doH("POST", "/dashboard/session", map[string]any{"email": "app@example.com", "password": "correct-horse-battery"}, e.browser(nil)).must(t, 403)
	e.doH("POST", "/dashboard/session", map[string]any{"email": "admin@example.com", "password": "wrong-password-12"}, e.browser(nil)).must(t, 401)
}

func TestDashboardSessionRefusesOtherSites(t *testing.T) {
	e := newEnv(t, envOpts{})
	creds := map[string]any{"email": "admin@example.com", "password": "admin-password-123"}
	cases := map[string]http.Header{
		"no dashboard header":   {"Origin": {e.srv.URL}},
		"header not 1":          {"X-Fluxhook-Dashboard": {"yes"}},
		"another origin":        {"X-Fluxhook-Dashboard": {"1"}, "Origin": {"https://evil.example"}},
		"a sibling subdomain":   {"X-Fluxhook-Dashboard": {"1"}, "Origin": {"http://other." + strings.TrimPrefix(e.srv.URL, "http://")}},
		"cross-site fetch":      {"X-Fluxhook-Dashboard": {"1"}, "Sec-Fetch-Site": {"cross-site"}},
		"same-site, not origin": {"X-Fluxhook-Dashboard": {"1"}, "Sec-Fetch-Site": {"same-site"}},
		"an unparsable origin":  {"X-Fluxhook-Dashboard": {"1"}, "Origin": {"::"}},
	}
	for name, h := range cases {
		for _, path := range []string{"/dashboard/session", "/dashboard/session/refresh"} {
			r := e.doH("POST", path, creds, h).must(t, 403)
			if r.str("code") != "CROSS_SITE_REQUEST" || r.header.Get("Set-Cookie") != "" {
				t.Errorf("%s, %s: %s", name, path, r.raw)
			}
		}
	}
	// A client that is no browser (no Origin, no Sec-Fetch-Site) may use it.
	e.doH("POST", "/dashboard/session", creds, http.Header{"X-Fluxhook-Dashboard": {"1"}}).must(t, 200)
}

func TestDashboardAcceptsAnInvitationIntoACookieSession(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.admin()
	tok := e.do("POST", "/admin/invitations", admin, map[string]any{"email": "colleague@example.com", "role": "dashboard_user"}).must(t, 201).str("invitation.token")
	body := map[string]any{"name": "Colleague", "password": "colleague-password-1"}
	e.doH("POST", "/dashboard/invitations/"+tok+"/accept", body, http.Header{"Origin": {"https://evil.example"}}).must(t, 403)
	r := e.doH("POST", "/dashboard/invitations/"+tok+"/accept", body, e.browser(nil)).must(t, 201)
	if r.str("user.role") != "dashboard_user" || r.body["refresh_token"] != nil {
		t.Fatalf("accept: %s", r.raw)
	}
	c := sessionCookie(t, r)
	e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 200)
	e.doH("POST", "/dashboard/invitations/"+tok+"/accept", body, e.browser(nil)).must(t, 409)
	e.doH("POST", "/dashboard/invitations/fbi_nope/accept", body, e.browser(nil)).must(t, 404)
}

// get fetches a dashboard path (outside /api).
func (e *env) get(t *testing.T, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestDashboardPagesAreServed(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, path := range []string{"/", "/login", "/webhooks", "/webhooks/abc", "/deliveries", "/deliveries/abc", "/keys", "/invitations", "/invite/fbi_token"} {
		res, body := e.get(t, "GET", path)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `src="/assets/app.js"`) {
			t.Errorf("GET %s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if res.Header.Get("Content-Security-Policy") != dashboard.CSP || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: security headers %v", path, res.Header)
		}
	}
	if !strings.Contains(dashboard.CSP, "script-src 'self';") || strings.Contains(dashboard.CSP, "unsafe") || strings.Contains(dashboard.CSP, "http") {
		t.Errorf("CSP %q allows more than this origin's files", dashboard.CSP)
	}
	res, _ := e.get(t, "GET", "/assets/app.js")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") || res.Header.Get("ETag") == "" {
		t.Fatalf("app.js: %d %v", res.StatusCode, res.Header)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/assets/app.js", nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if res2, err := http.DefaultClient.Do(req); err != nil || res2.StatusCode != 304 {
		t.Fatalf("revalidation: %v %v", res2, err)
	}
	for path, want := range map[string]int{"/nowhere": 404, "/assets/nope.js": 404, "/assets/index.html": 404, "/webhooks/a/b": 404} {
		if res, _ := e.get(t, "GET", path); res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
	if res, _ := e.get(t, "POST", "/"); res.StatusCode != 405 {
		t.Errorf("POST /: %d", res.StatusCode)
	}
	// The API keeps its own answers.
	e.do("GET", "/nowhere", "", nil).must(t, 404)
}

func TestRotateSecretSaysWhenTheOverlapEnds(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("rotate@example.com")
	hook := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://example.com/hook", "events": []string{"*"}}).must(t, 201).str("id")
	r := e.do("POST", "/webhooks/"+hook+"/rotate-secret", tok, nil).must(t, 200)
	until, err := time.Parse(time.RFC3339Nano, r.str("previous_secret_expires_at"))
	if err != nil || time.Until(until) < 23*time.Hour || time.Until(until) > 25*time.Hour {
		t.Fatalf("overlap end %q (%v): want about 24 h from now", r.str("previous_secret_expires_at"), err)
	}
}

func TestDashboardCookieIsSecureOverHTTPS(t *testing.T) {
	e := newEnv(t, envOpts{})
	srv := httptest.NewTLSServer(e.api)
	defer srv.Close()
	body := strings.NewReader(`{"email":"admin@example.com","password":"admin-password-123"}`)
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/dashboard/session", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Fluxhook-Dashboard", "1")
	req.Header.Set("Origin", srv.URL)
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cs := res.Cookies()
	if res.StatusCode != 200 || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("over https: %d, cookies %+v", res.StatusCode, cs)
	}
}

// TestDashboardBehindAProxy: a proxy that passes its upstream's name as
// Host (nginx's default) still lets the dashboard's own origin, the
// public URL, sign in; another origin is still refused; and a public URL
// on https makes the cookie Secure though TLS ended at the proxy.
func TestDashboardBehindAProxy(t *testing.T) {
	e := newEnv(t, envOpts{publicURL: "https://hooks.example.com"})
	creds := map[string]any{"email": "admin@example.com", "password": "admin-password-123"}
	proxied := func(origin string) http.Header {
		return http.Header{"X-Fluxhook-Dashboard": {"1"}, "Origin": {origin}, "Sec-Fetch-Site": {"same-origin"}}
	}
	r := e.doH("POST", "/dashboard/session", creds, proxied("https://hooks.example.com")).must(t, 200)
	if c := sessionCookie(t, r); !c.Secure {
		t.Errorf("behind an https public URL, the cookie is not Secure: %+v", c)
	}
	if r := e.doH("POST", "/dashboard/session", creds, proxied("https://evil.example")); r.status != 403 || r.str("code") != "CROSS_SITE_REQUEST" {
		t.Errorf("another origin: %d %s, want 403 CROSS_SITE_REQUEST", r.status, r.str("code"))
	}
}

// TestDashboardRefusesTwoSessionCookies: a sibling subdomain can toss a
// cookie of the same name at the browser, which sends both; the refresh
// is refused rather than signed in as whoever set the other.
func TestDashboardRefusesTwoSessionCookies(t *testing.T) {
	e := newEnv(t, envOpts{})
	in := e.doH("POST", "/dashboard/session", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}, e.browser(nil)).must(t, 200)
	c := sessionCookie(t, in)
	h := e.browser(nil)
	h.Set("Cookie", c.Name+"=fbr_tossed-by-a-sibling; "+c.Name+"="+c.Value)
	if r := e.doH("POST", "/dashboard/session/refresh", nil, h); r.status != 403 || r.str("code") != "CROSS_SITE_REQUEST" {
		t.Fatalf("two session cookies: %d %s, want 403 CROSS_SITE_REQUEST", r.status, r.raw)
	}
	// The real cookie alone still works: nothing was spent.
	e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 200)
}

// TestDashboardRefreshIsNotLimitedPerIP: page loads refresh; a team
// behind one address must not run out of them as it would of sign-ins.
func TestDashboardRefreshIsNotLimitedPerIP(t *testing.T) {
	e := newEnv(t, envOpts{authRateLimit: 2})
	in := e.doH("POST", "/dashboard/session", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}, e.browser(nil)).must(t, 200)
	c := sessionCookie(t, in)
	for range 5 {
		r := e.doH("POST", "/dashboard/session/refresh", nil, withCookie(e.browser(nil), c)).must(t, 200)
		c = sessionCookie(t, r)
	}
	for range 3 {
		e.doH("POST", "/dashboard/session", map[string]any{"email": "admin@example.com", "password": "wrong-password-12"}, e.browser(nil))
	}
	e.doH("POST", "/dashboard/session", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}, e.browser(nil)).must(t, 429)
}

// TestDashboardCallsOnlyRoutesThatExist reads every API call the pages
// make and asks the route table for it, so that the pages and the API
// cannot drift apart unnoticed.
func TestDashboardCallsOnlyRoutesThatExist(t *testing.T) {
	call := regexp.MustCompile("(?:api|publicApi|sessionCall)\\('(GET|POST|PATCH|PUT|DELETE)', [`']([^`']+)[`']")
	param := regexp.MustCompile(`\$\{[^}]*\}`)
	files, err := filepath.Glob("../dashboard/web/*.js")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob("../dashboard/web/pages/*.js")
	table := httpapi.RouteTable()
	n := 0
	for _, f := range append(files, pages...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			n++
			path := "/api/v1" + param.ReplaceAllString(m[2], "0198f8a2-7c1e-7a3b-8f00-000000000001")
			if _, pattern := table.Handler(httptest.NewRequest(m[1], path, nil)); pattern == "" {
				t.Errorf("%s calls %s %s, which no route serves", filepath.Base(f), m[1], m[2])
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d API calls in the pages", n)
	}
}
