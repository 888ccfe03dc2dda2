package httpapi

import (
	"net/http"

	"github.com/fluxhook/fluxhook/internal/clientkey"
)

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var in clientkey.CreateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	k, key, err := s.keys.Create(r.Context(), principalFrom(r.Context()), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"client_key": k, "key": key})
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.keys.List(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"client_keys": keys, "total": len(keys)})
	return nil
}

func (s *Server) getKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.keys.Get(r.Context(), principalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (s *Server) updateKey(w http.ResponseWriter, r *http.Request) error {
	var in clientkey.UpdateInput
	if err := decode(r, &in); err != nil {
		return err
	}
	k, err := s.keys.Update(r.Context(), principalFrom(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, k)
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.keys.Revoke(r.Context(), principalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"Client key revoked successfully"})
	return nil
}

func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.keys.Delete(r.Context(), principalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"Client key deleted successfully"})
	return nil
}
