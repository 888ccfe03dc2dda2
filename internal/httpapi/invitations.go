package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/fluxhook/fluxhook/internal/account"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request) error {
	var in account.InviteInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.accounts.Invite(r.Context(), principalFrom(r.Context()), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) error {
	details := map[string]string{}
	accepted := queryBool(r, "include_accepted", details)
	expired := queryBool(r, "include_expired", details)
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	invs, err := s.accounts.Invitations(r.Context(), accepted, expired)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"invitations": invs})
	return nil
}

func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	if err := s.accounts.RevokeInvitation(r.Context(), r.PathValue("token")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"Invitation revoked"})
	return nil
}

// validateInvitation always answers 200: whether the invitation can be
// used is the answer, not an error.
func (s *Server) validateInvitation(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.accounts.ValidateInvitation(r.Context(), r.PathValue("token"))
	if err != nil {
		var fe *fluxhook.Error
		if !errors.As(err, &fe) || fe.Kind == fluxhook.KindInternal || fe.Kind == fluxhook.KindUnavailable {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "error": fe.Message})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true, "invitation": inv})
	return nil
}

func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	var in account.AcceptInput
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.accounts.AcceptInvitation(r.Context(), r.PathValue("token"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// queryBool reads an optional true/false query parameter.
func queryBool(r *http.Request, name string, details map[string]string) bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		details[name] = "must be true or false"
	}
	return b
}
