package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// kinds maps each error kind to its HTTP status and default code: the one
// place where that happens. Unknown kinds are internal errors.
var kinds = map[fluxhook.Kind]struct {
	status int
	code   string
}{
	fluxhook.KindMalformed:    {http.StatusBadRequest, "BAD_REQUEST"},
	fluxhook.KindInvalid:      {http.StatusUnprocessableEntity, "VALIDATION_FAILED"},
	fluxhook.KindUnauthorized: {http.StatusUnauthorized, "UNAUTHORIZED"},
	fluxhook.KindForbidden:    {http.StatusForbidden, "FORBIDDEN"},
	fluxhook.KindNotFound:     {http.StatusNotFound, "NOT_FOUND"},
	fluxhook.KindConflict:     {http.StatusConflict, "CONFLICT"},
	fluxhook.KindGone:         {http.StatusGone, "GONE"},
	fluxhook.KindTooLarge:     {http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
	kindHeadersTooLarge:       {http.StatusRequestHeaderFieldsTooLarge, "REQUEST_HEADERS_TOO_LARGE"},
	fluxhook.KindRateLimited:  {http.StatusTooManyRequests, "RATE_LIMIT_EXCEEDED"},
	fluxhook.KindUnavailable:  {http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"},
	fluxhook.KindNotImplement: {http.StatusNotImplemented, "NOT_IMPLEMENTED"},
}

// kindHeadersTooLarge is a request whose headers are over the limit
// (431): a transport matter, so it is the HTTP layer's own kind.
const kindHeadersTooLarge fluxhook.Kind = "headers_too_large"

func statusOf(k fluxhook.Kind) int {
	if m, ok := kinds[k]; ok {
		return m.status
	}
	return http.StatusInternalServerError
}

// writeError turns err into the API's error body. Internal errors are
// logged with the request id and shown only as "internal error": their
// text may hold SQL, paths or addresses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var fe *fluxhook.Error
	if !errors.As(err, &fe) {
		fe = &fluxhook.Error{Kind: fluxhook.KindInternal, Err: err}
	}
	status := statusOf(fe.Kind)
	body := map[string]any{}
	for k, v := range fe.Extra {
		body[k] = v
	}
	if status >= 500 && fe.Kind != fluxhook.KindUnavailable && fe.Kind != fluxhook.KindNotImplement {
		body["error"] = "internal error"
		body["code"] = "INTERNAL_ERROR"
		body["request_id"] = requestID(r.Context())
		s.logger.LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method), slog.String("route", r.Pattern), slog.String("err", err.Error()))
	} else {
		body["error"] = fe.Message
		body["code"] = fe.Code
		if fe.Code == "" {
			body["code"] = defaultCode(fe.Kind)
		}
		if len(fe.Details) > 0 {
			body["details"] = fe.Details
		}
		if fe.Kind == fluxhook.KindUnavailable {
			s.logger.LogAttrs(r.Context(), slog.LevelWarn, "dependency unavailable", slog.String("request_id", requestID(r.Context())),
				slog.String("route", r.Pattern), slog.String("err", err.Error()))
		}
	}
	if fe.RetryAfter > 0 {
		secs := int(math.Ceil(fe.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		if fe.Kind == fluxhook.KindRateLimited {
			body["retry_after"] = secs
		}
	}
	writeJSON(w, status, body)
}

func defaultCode(k fluxhook.Kind) string {
	if m, ok := kinds[k]; ok {
		return m.code
	}
	return "INTERNAL_ERROR"
}

// writeJSON writes v as the response body. Errors writing it are the
// client's (it went away), so there is nothing to do with them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// message is the {message} body of simple confirmations.
type message struct {
	Message string `json:"message"`
}
