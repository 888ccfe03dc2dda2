package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) error {
	var in account.SignUpInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.accounts.SignUp(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) signIn(audience string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in credentials
		if err := decode(r, &in); err != nil {
			return err
		}
		res, err := s.accounts.SignIn(r.Context(), in.Email, in.Password, audience)
		if err != nil {
			return err
		}
		writeAuth(w, audience, res)
		return nil
	}
}

func (s *Server) refresh(audience string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := decode(r, &in); err != nil {
			return err
		}
		res, err := s.accounts.Refresh(r.Context(), in.RefreshToken, audience)
		if err != nil {
			return err
		}
		writeAuth(w, audience, res)
		return nil
	}
}

// writeAuth answers a sign-in or refresh: an AuthResponse, or for the
// dashboard an AdminAuthResponse.
func writeAuth(w http.ResponseWriter, audience string, res *account.AuthResult) {
	if audience == account.AudienceAdmin {
		writeJSON(w, http.StatusOK, adminAuth(res))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	if p.SessionID == "" {
		return &fluxhook.Error{Kind: fluxhook.KindForbidden, Code: "SESSION_REQUIRED", Message: "Signing out needs the access token of a session; a client key has no session to end."}
	}
	if err := s.accounts.SignOut(r.Context(), p.UserID, p.SessionID); err != nil {
		if fluxhook.IsNotFound(err) {
			return errUnauthenticated
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// self loads the caller's own user; a token of a deleted user is 401.
func (s *Server) self(r *http.Request) (*fluxhook.User, error) {
	u, err := s.accounts.User(r.Context(), principalFrom(r.Context()).UserID)
	if fluxhook.IsNotFound(err) {
		return nil, errUnauthenticated
	}
	return u, err
}

func (s *Server) getSelf(w http.ResponseWriter, r *http.Request) error {
	u, err := s.self(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) updateSelf(w http.ResponseWriter, r *http.Request) error {
	var in account.UpdateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	u, err := s.accounts.UpdateSelf(r.Context(), p.UserID, p.SessionID, in)
	if fluxhook.IsNotFound(err) {
		return errUnauthenticated
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) deleteSelf(w http.ResponseWriter, r *http.Request) error {
	err := s.accounts.Delete(r.Context(), principalFrom(r.Context()).UserID)
	if fluxhook.IsNotFound(err) {
		return errUnauthenticated
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) requestReset(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.RequestPasswordReset(r.Context(), in.Email); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"If an account exists for this email address, a password reset link has been sent to it."})
	return nil
}

func (s *Server) confirmReset(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.ConfirmPasswordReset(r.Context(), in.Token, in.Password); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"Your password has been changed; sign in with the new one."})
	return nil
}

func (s *Server) verifyEmail(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := s.accounts.VerifyEmail(r.Context(), in.Token); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"Your email address has been verified."})
	return nil
}

// adminUser is API.md's AdminUser: a User without metadata.
type adminUser struct {
	ID            string        `json:"id"`
	Email         string        `json:"email"`
	Name          string        `json:"name"`
	Role          fluxhook.Role `json:"role"`
	EmailVerified bool          `json:"email_verified"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	LastLoginAt   *time.Time    `json:"last_login_at,omitempty"`
}

func toAdminUser(u *fluxhook.User) adminUser {
	return adminUser{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role, EmailVerified: u.EmailVerified,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, LastLoginAt: u.LastLoginAt}
}

type adminAuthResponse struct {
	User         adminUser `json:"user"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresIn    int       `json:"expires_in"`
}

func adminAuth(res *account.AuthResult) adminAuthResponse {
	return adminAuthResponse{User: toAdminUser(res.User), AccessToken: res.AccessToken, RefreshToken: res.RefreshToken, ExpiresIn: res.ExpiresIn}
}

func (s *Server) adminMe(w http.ResponseWriter, r *http.Request) error {
	u, err := s.self(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAdminUser(u))
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	details := map[string]string{}
	limit := queryInt(r, "limit", 50, 1, 1000, details)
	offset := queryInt(r, "offset", 0, 0, 1<<30, details)
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	users, total, err := s.accounts.ListUsers(r.Context(), limit, offset)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "total": total})
	return nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.accounts.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in account.UpdateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := s.accounts.UpdateByAdmin(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.accounts.Delete(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"User deleted."})
	return nil
}

// queryInt reads an integer query parameter within [lo, hi].
func queryInt(r *http.Request, name string, def, lo, hi int, details map[string]string) int {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		details[name] = "must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
		return def
	}
	return n
}
