package httpapi

import (
	"net/http"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// webhookView is API.md's Webhook: the stored webhook, whether it has a
// secret, and the secret itself only in the create response.
type webhookView struct {
	*fluxhook.Webhook
	HasSecret bool   `json:"has_secret"`
	Secret    string `json:"secret,omitempty"`
}

func view(w *fluxhook.Webhook) webhookView {
	return webhookView{Webhook: w, HasSecret: len(w.SecretEnc) > 0}
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var in webhooks.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	wh, secret, err := s.webhooks.Create(r.Context(), principalFrom(r.Context()), in)
	if err != nil {
		return err
	}
	v := view(wh)
	v.Secret = secret
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	list, err := s.webhooks.List(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	views := make([]webhookView, len(list))
	for i, wh := range list {
		views[i] = view(wh)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": views, "total": len(views)})
	return nil
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := s.webhooks.Get(r.Context(), principalFrom(r.Context()), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(wh))
	return nil
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var in webhooks.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	wh, err := s.webhooks.Update(r.Context(), principalFrom(r.Context()), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view(wh))
	return nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	if err := s.webhooks.Delete(r.Context(), principalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, message{"Webhook deleted successfully"})
	return nil
}

func (s *Server) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Secret *string `json:"secret"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	a := principalFrom(r.Context())
	secret, err := s.webhooks.RotateSecret(r.Context(), a, r.PathValue("id"), in.Secret)
	if err != nil {
		return err
	}
	body := map[string]any{"secret": secret}
	// The overlap's end, so that the dashboard can say until when the
	// old secret still signs.
	if hook, err := s.webhooks.Get(r.Context(), a, r.PathValue("id")); err == nil && hook.PrevSecretExpires != nil {
		body["previous_secret_expires_at"] = hook.PrevSecretExpires.UTC()
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
