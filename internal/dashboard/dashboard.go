// Package dashboard is Fluxhook's web dashboard: plain HTML, CSS and
// JavaScript modules embedded in the binary (no build step, no request
// to any other host), served by the API at every path outside /api. The
// pages talk to the API like any client; see README "Dashboard" for how
// they hold the session.
package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed web
var webFS embed.FS

// CSP is the pages' Content-Security-Policy: scripts, styles and images
// from this origin only, no inline script or style, no plugins, no
// framing, and DOM writes only through the safe APIs (Trusted Types with
// no policy: the scripts never assign HTML strings).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// pages are the paths the single page answers; the script routes among
// them. Any other path outside /assets is 404.
var pages = []string{"/{$}", "/login", "/webhooks", "/webhooks/{id}", "/deliveries", "/deliveries/{id}", "/keys", "/invitations", "/invite/{token}"}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func load(name string) asset {
	b, err := fs.ReadFile(webFS, "web/"+name)
	if err != nil {
		panic("dashboard: " + err.Error()) // the embed is fixed at build time
	}
	sum := sha256.Sum256(b)
	ct := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".html":
		ct = "text/html; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	return asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Handler serves the dashboard.
func Handler() http.Handler {
	assets := map[string]asset{}
	_ = fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			name := strings.TrimPrefix(p, "web/")
			assets[name] = load(name)
		}
		return nil
	})
	index := assets["index.html"]
	mux := http.NewServeMux()
	for _, p := range pages {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { serve(w, r, index) })
	}
	mux.HandleFunc("GET /assets/{name...}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("name")]
		if !ok || r.PathValue("name") == "index.html" {
			notFound(w)
			return
		}
		serve(w, r, a)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { serve(w, r, assets["icon.svg"]) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
			return
		}
		notFound(w)
	})
	return secure(mux)
}

// serve writes an asset. Assets revalidate on every load (their ETag is
// their content's hash), so an upgraded binary is seen at once.
func serve(w http.ResponseWriter, r *http.Request, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	if strings.Contains(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("Not found. The dashboard is at /, the API at /api/v1.\n"))
}

// secure sets the headers every dashboard response carries.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer") // invitation tokens are in /invite/ URLs
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		next.ServeHTTP(w, r)
	})
}
