package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// decode reads one JSON object from the request body into v. It answers
// the caller's mistakes with a sentence that says what to fix: 400 for a
// body that is not JSON, 413 for one over the limit, 422 for a field of
// the wrong type.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return fluxhook.Errorf(fluxhook.KindMalformed, "UNSUPPORTED_CONTENT_TYPE", "The request body must be JSON, sent with Content-Type: application/json (got %q).", ct)
		}
	}
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return fluxhook.Errorf(fluxhook.KindMalformed, "INVALID_JSON", "The request body must hold a single JSON object, but more follows it.")
		}
		return nil
	}
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		maxErr    *http.MaxBytesError
	)
	switch {
	case errors.As(err, &maxErr):
		return fluxhook.Errorf(fluxhook.KindTooLarge, "PAYLOAD_TOO_LARGE", "The request body is larger than the limit of %d bytes.", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return fluxhook.Errorf(fluxhook.KindMalformed, "INVALID_JSON", "The request body is empty; send a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fluxhook.Errorf(fluxhook.KindMalformed, "INVALID_JSON", "The request body is not valid JSON: it ends too early.")
	case errors.As(err, &syntaxErr):
		return fluxhook.Errorf(fluxhook.KindMalformed, "INVALID_JSON", "The request body is not valid JSON: %s (at byte %d).", syntaxErr.Error(), syntaxErr.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fluxhook.Errorf(fluxhook.KindMalformed, "INVALID_JSON", "The request body must be a JSON object, not %s.", article(typeErr.Value))
		}
		return fluxhook.Invalid(map[string]string{typeErr.Field: fmt.Sprintf("must be %s, not %s", jsonKind(typeErr.Type.String()), article(typeErr.Value))})
	default:
		return fluxhook.Errorf(fluxhook.KindMalformed, "INVALID_JSON", "The request body could not be read as JSON.")
	}
}

func article(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "number", "string", "bool":
		return "a " + v
	}
	return v
}

func jsonKind(goType string) string {
	switch {
	case goType == "string" || goType == "*string" || strings.HasSuffix(goType, "Role"):
		return "a string"
	case goType == "bool" || goType == "*bool":
		return "true or false"
	case strings.Contains(goType, "int") || strings.Contains(goType, "float"):
		return "a number"
	case strings.HasPrefix(goType, "[]") || strings.HasPrefix(goType, "*[]"):
		return "an array"
	case strings.HasPrefix(goType, "map") || strings.HasPrefix(goType, "*map"):
		return "an object"
	}
	return "a valid value"
}
