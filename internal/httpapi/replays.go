package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/replay"
)

// Replays starts, shows and cancels a webhook's replays and bulk retries
// (replay.Service).
type Replays interface {
	Replay(ctx context.Context, hook *fluxhook.Webhook, req replay.Request) (*fluxhook.Replay, error)
	RetryFailed(ctx context.Context, hook *fluxhook.Webhook) (*fluxhook.Replay, error)
	Get(ctx context.Context, hook *fluxhook.Webhook, id string) (*fluxhook.Replay, error)
	List(ctx context.Context, hook *fluxhook.Webhook) ([]*fluxhook.Replay, error)
	Cancel(ctx context.Context, hook *fluxhook.Webhook, id string) (*fluxhook.Replay, error)
}

// replayBody is POST /webhooks/{id}/replay's body; times are read here
// so that a malformed one is a 422 naming the field.
type replayBody struct {
	Since  *string `json:"since"`
	Until  *string `json:"until"`
	Status *string `json:"status"`
}

func parseTime(field string, s *string, details map[string]string) *time.Time {
	if s == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		details[field] = "must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z"
		return nil
	}
	return &t
}

// hookFor returns the webhook named in the path, if the caller may see
// it, for one of the replay routes.
func (s *Server) hookFor(r *http.Request) (*fluxhook.Webhook, error) {
	if s.replays == nil {
		return nil, &fluxhook.Error{Kind: fluxhook.KindNotImplement, Code: "NOT_IMPLEMENTED", Message: "Replays are not configured on this server."}
	}
	return s.webhooks.Get(r.Context(), principalFrom(r.Context()), r.PathValue("id"))
}

func (s *Server) startReplay(w http.ResponseWriter, r *http.Request) error {
	var body replayBody
	if err := decode(r, &body); err != nil {
		return err
	}
	details := map[string]string{}
	req := replay.Request{Since: parseTime("since", body.Since, details), Until: parseTime("until", body.Until, details), Status: body.Status}
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	hook, err := s.hookFor(r)
	if err != nil {
		return err
	}
	rp, err := s.replays.Replay(r.Context(), hook, req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, rp)
	return nil
}

func (s *Server) retryFailed(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.hookFor(r)
	if err != nil {
		return err
	}
	rp, err := s.replays.RetryFailed(r.Context(), hook)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, rp)
	return nil
}

func (s *Server) listReplays(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.hookFor(r)
	if err != nil {
		return err
	}
	list, err := s.replays.List(r.Context(), hook)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"replays": list})
	return nil
}

func (s *Server) getReplay(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.hookFor(r)
	if err != nil {
		return err
	}
	rp, err := s.replays.Get(r.Context(), hook, r.PathValue("replay_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rp)
	return nil
}

func (s *Server) cancelReplay(w http.ResponseWriter, r *http.Request) error {
	hook, err := s.hookFor(r)
	if err != nil {
		return err
	}
	rp, err := s.replays.Cancel(r.Context(), hook, r.PathValue("replay_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rp)
	return nil
}
