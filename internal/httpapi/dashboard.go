package httpapi

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/auth"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// How the dashboard in a browser holds its session (README "Dashboard"):
//
//   - The access token lives in the page's memory only: never in a URL,
//     localStorage or a cookie, so that no other origin's script and no
//     log can read it. It goes out as Authorization: Bearer, like any
//     API client's, and a forged cross-site request cannot carry it.
//   - The refresh token lives in an HttpOnly cookie that no script can
//     read, SameSite=Strict (never sent on a request another site
//     starts), Secure when the page is served over https, and scoped to
//     the one path that uses it: /api/v1/dashboard/session. It is a
//     session cookie: closing the browser ends it. Refresh rotates it,
//     and reuse of an old one ends the whole session, as for any client.
//   - The endpoints that read or set the cookie accept only requests that
//     carry X-Fluxhook-Dashboard: 1 (a header a cross-origin page cannot
//     send without a CORS preflight, which this API refuses for it) and
//     whose Origin and Sec-Fetch-Site, when the browser sends them, say
//     the request comes from the dashboard's own origin. That covers the
//     sibling subdomains SameSite alone would let through, and login CSRF.
const (
	sessionCookie = "fluxhook_dashboard_session"
	sessionPath   = "/api/v1/dashboard/session"
	csrfHeader    = "X-Fluxhook-Dashboard"
)

// dashboardAuth answers a dashboard sign-in: the access token, but not
// the refresh token, which travels only in the cookie.
type dashboardAuth struct {
	User        adminUser `json:"user"`
	AccessToken string    `json:"access_token"`
	ExpiresIn   int       `json:"expires_in"`
}

var errCrossSite = &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "CROSS_SITE_REQUEST",
	Message: "This endpoint serves the dashboard's own pages only: send X-Fluxhook-Dashboard: 1 from the dashboard's origin."}

// sameSite guards the cookie endpoints against cross-site requests. The
// dashboard's origin is the request's own Host, or FLUXHOOK_PUBLIC_URL's
// host: behind a proxy that passes its upstream's name as Host (nginx's
// default), the browser's Origin names the public one.
func (s *Server) sameSite(h handlerFunc) handlerFunc {
	public := ""
	if u, err := url.Parse(s.opts.PublicURL); err == nil {
		public = u.Host
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get(csrfHeader) != "1" {
			return errCrossSite
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
			return errCrossSite
		}
		if o := r.Header.Get("Origin"); o != "" {
			u, err := url.Parse(o)
			if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(u.Host, public) {
				return errCrossSite
			}
		}
		return h(w, r)
	}
}

// https reports whether the browser reaches us over https: directly,
// through a trusted proxy that says so, or at an https FLUXHOOK_PUBLIC_URL
// (TLS ended by a proxy not listed as trusted).
func (s *Server) https(r *http.Request) bool {
	if r.TLS != nil || strings.HasPrefix(s.opts.PublicURL, "https://") {
		return true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil || !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(peer.Addr().Unmap()) {
			return true
		}
	}
	return false
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, refresh string) {
	c := &http.Cookie{Name: sessionCookie, Value: refresh, Path: sessionPath, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.https(r)}
	if refresh == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// startDashboardSession answers a sign-in, a refresh or an accepted
// invitation: the cookie, and the access token in the body.
func (s *Server) startDashboardSession(w http.ResponseWriter, r *http.Request, status int, res *account.AuthResult) {
	s.setSessionCookie(w, r, res.RefreshToken)
	writeJSON(w, status, dashboardAuth{User: toAdminUser(res.User), AccessToken: res.AccessToken, ExpiresIn: res.ExpiresIn})
}

// dashboardSignIn is POST /dashboard/session: an admin login (dashboard
// users and admins only) whose refresh token goes into the cookie.
func (s *Server) dashboardSignIn(w http.ResponseWriter, r *http.Request) error {
	var in credentials
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.accounts.SignIn(r.Context(), in.Email, in.Password, auth.AudienceAdmin)
	if err != nil {
		return err
	}
	s.startDashboardSession(w, r, http.StatusOK, res)
	return nil
}

var errNoSession = &fluxhook.Error{Kind: fluxhook.KindUnauthorized, Code: "NO_SESSION", Message: "There is no dashboard session in this browser; sign in."}

// dashboardRefresh is POST /dashboard/session/refresh: the cookie's
// refresh token for a new access token and a new cookie.
func (s *Server) dashboardRefresh(w http.ResponseWriter, r *http.Request) error {
	c, err := theSessionCookie(r)
	if err != nil {
		return err
	}
	// The browser's tabs share the cookie: RefreshShared takes two uses
	// at once for a race (409), not a theft.
	res, err := s.accounts.RefreshShared(r.Context(), c.Value, auth.AudienceAdmin)
	if err != nil {
		if fluxhook.ErrorKind(err) == fluxhook.KindUnauthorized {
			s.setSessionCookie(w, r, "") // dead: do not send it again
		}
		return err
	}
	s.startDashboardSession(w, r, http.StatusOK, res)
	return nil
}

var errTwoSessionCookies = &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "CROSS_SITE_REQUEST",
	Message: "The request carries two dashboard session cookies; one was set by another site (a sibling subdomain). Clear this site's cookies and sign in again."}

// theSessionCookie returns the dashboard's session cookie. A sibling
// subdomain can set a cookie of the same name for the parent domain
// with a longer path, which the browser sends first ("cookie tossing"):
// with two, the request is refused rather than signed in as whoever
// set the other.
func theSessionCookie(r *http.Request) (*http.Cookie, error) {
	var found *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name != sessionCookie {
			continue
		}
		if found != nil {
			return nil, errTwoSessionCookies
		}
		found = c
	}
	if found == nil || found.Value == "" {
		return nil, errNoSession
	}
	return found, nil
}

// dashboardSignOut is DELETE /dashboard/session: it ends the session of
// the access token sent, or else of the cookie's refresh token, and
// clears the cookie in any case, so that a page whose access token was
// lost can still sign out.
func (s *Server) dashboardSignOut(w http.ResponseWriter, r *http.Request) error {
	s.setSessionCookie(w, r, "")
	p, _, err := s.authenticate(r)
	if err == nil && p != nil && p.SessionID != "" {
		if err := s.accounts.SignOut(r.Context(), p.UserID, p.SessionID); err != nil && !fluxhook.IsNotFound(err) {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if c, err := theSessionCookie(r); err == nil {
		// The refresh token names the session only through a refresh:
		// spend it, and end the session the new access token names.
		if res, err := s.accounts.Refresh(r.Context(), c.Value, auth.AudienceAdmin); err == nil {
			if claims, err := s.tokens.Parse(res.AccessToken, auth.AudienceAdmin); err == nil {
				if err := s.accounts.SignOut(r.Context(), claims.UserID, claims.SessionID); err != nil && !fluxhook.IsNotFound(err) {
					return err
				}
			}
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dashboardAcceptInvitation is POST /dashboard/invitations/{token}/accept:
// the invitee's account is created and signed in to the dashboard.
func (s *Server) dashboardAcceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var in account.AcceptInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.accounts.AcceptInvitation(r.Context(), r.PathValue("token"), in)
	if err != nil {
		return err
	}
	s.startDashboardSession(w, r, http.StatusCreated, res)
	return nil
}

// apiOrDashboard sends /api/… to the API and every other path to the
// dashboard's pages, which the same server serves (internal/dashboard).
func apiOrDashboard(api, ui http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	})
}
