package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/httpapi"
)

// TestOversizedHeadersGetTheJSONErrorAndARequestID: a request whose
// headers are over the limit is answered 431 like every other error: the
// JSON body with a code, and X-Request-Id. Just under the limit passes.
func TestOversizedHeadersGetTheJSONErrorAndARequestID(t *testing.T) {
	e := newEnv(t, envOpts{})
	// httptest's server has net/http's default limit, ServerMaxHeaderBytes.
	srv := e.srv
	send := func(size int) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/health", nil)
		req.Header.Set("X-Padding", strings.Repeat("a", size))
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		return res, body
	}
	res, body := send(httpapi.MaxHeaderBytes)
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || body["code"] != "REQUEST_HEADERS_TOO_LARGE" || body["error"] == nil ||
		res.Header.Get("X-Request-Id") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%d %v %v, want 431 with the JSON error body and X-Request-Id", res.StatusCode, res.Header, body)
	}
	if res, _ := send(httpapi.MaxHeaderBytes - 1024); res.StatusCode != http.StatusOK {
		t.Fatalf("headers under the limit: %d, want 200", res.StatusCode)
	}
	// Up to the server's own limit the API answers, not net/http.
	if res, body := send(httpapi.ServerMaxHeaderBytes - 8192); res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || body["code"] != "REQUEST_HEADERS_TOO_LARGE" {
		t.Fatalf("headers near the server's limit: %d %v, want the API's 431", res.StatusCode, body)
	}
}
