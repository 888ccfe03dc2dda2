package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"

	"github.com/fluxhook/fluxhook/api"
)

// openAPIETag names the document's version, so that clients and caches
// can ask whether it changed without fetching it again.
var openAPIETag = func() string {
	sum := sha256.Sum256([]byte(api.OpenAPI))
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}()

// openAPI serves the API's contract (api/openapi.json). It is public and
// the same for everyone, so unlike the rest of the API it may be cached.
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", openAPIETag)
	// A list of tags, or a weak one (W/"…"), matches too: If-None-Match
	// compares weakly.
	if strings.Contains(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, api.OpenAPI)
	return nil
}
