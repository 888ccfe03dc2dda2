package httpapi_test

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/fluxhook/fluxhook/api"
	"github.com/fluxhook/fluxhook/internal/httpapi"
)

// The API's contract is api/openapi.json. Two things hold the server to
// it: TestEveryRouteHasAnOperation compares the route table with the
// document's operations, and checkContract, which newEnv wraps around
// every test server, checks each answer the API tests provoke against
// the document: its status must be documented for the operation, its
// body must validate against that status's schema (formats asserted),
// and its required headers must be there.

// contract is the OpenAPI document, compiled for checking answers.
type contract struct {
	// ops maps "METHOD /api/v1/path/{param}" (a ServeMux pattern, as
	// routes.go writes them) to the operation the document gives it.
	ops map[string]*operation
	// mux routes requests to the document's operations, the way the
	// server routes them to handlers.
	mux *http.ServeMux
	// errorSchema is what the server's own 404 and 405 (no route) answer.
	errorSchema *jsonschema.Schema
}

type operation struct {
	pattern   string
	responses map[string]*answer // by status ("200") or range ("2XX")
}

// answer is one documented response of an operation.
type answer struct {
	where   string             // its place in the document, for messages
	schema  *jsonschema.Schema // nil: no body
	headers []string           // required headers
}

const docURL = "https://fluxhook.invalid/api/openapi.json"

var loadContract = sync.OnceValues(func() (*contract, error) {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(api.OpenAPI))
	if err != nil {
		return nil, fmt.Errorf("api/openapi.json is not JSON: %w", err)
	}
	root, _ := doc.(map[string]any)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, err
	}
	compile := func(ptr string) (*jsonschema.Schema, error) {
		return c.Compile(docURL + "#" + ptr)
	}
	k := &contract{ops: map[string]*operation{}, mux: http.NewServeMux()}
	if k.errorSchema, err = compile("/components/schemas/Error"); err != nil {
		return nil, err
	}
	base := strings.TrimSuffix(str(lookup(root, "servers", 0, "url")), "/")
	paths, _ := root["paths"].(map[string]any)
	if base == "" || len(paths) == 0 {
		return nil, fmt.Errorf("api/openapi.json has no servers[0].url or no paths")
	}
	for path, item := range paths {
		for method, o := range item.(map[string]any) {
			if !slices.Contains([]string{"get", "put", "post", "delete", "patch"}, method) {
				continue
			}
			op := &operation{pattern: strings.ToUpper(method) + " " + base + path, responses: map[string]*answer{}}
			opPtr := "/paths/" + escape(path) + "/" + method
			responses, _ := lookup(o, "responses").(map[string]any)
			for status, r := range responses {
				ptr := opPtr + "/responses/" + escape(status)
				r, ptr, err := deref(root, r, ptr)
				if err != nil {
					return nil, err
				}
				a := &answer{where: ptr}
				if content, ok := lookup(r, "content").(map[string]any); ok {
					if len(content) != 1 || content["application/json"] == nil {
						return nil, fmt.Errorf("%s: content must be application/json only", ptr)
					}
					if a.schema, err = compile(ptr + "/content/application~1json/schema"); err != nil {
						return nil, fmt.Errorf("%s: %w", ptr, err)
					}
				}
				hs, _ := lookup(r, "headers").(map[string]any)
				for name, h := range hs {
					h, _, err := deref(root, h, ptr+"/headers/"+escape(name))
					if err != nil {
						return nil, err
					}
					if lookup(h, "required") == true {
						a.headers = append(a.headers, name)
					}
				}
				op.responses[status] = a
			}
			if err := register(k.mux, op.pattern); err != nil {
				return nil, err
			}
			k.ops[op.pattern] = op
		}
	}
	return k, nil
})

// register adds a pattern to mux, turning ServeMux's panic on a bad or
// clashing pattern into an error.
func register(mux *http.ServeMux, pattern string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("api/openapi.json: path %q: %v", pattern, p)
		}
	}()
	mux.Handle(pattern, http.NotFoundHandler())
	return nil
}

// deref follows a Reference Object ({"$ref": "#/components/..."}) within
// the document, and returns where it led.
func deref(root map[string]any, v any, ptr string) (any, string, error) {
	r, ok := lookup(v, "$ref").(string)
	if !ok {
		return v, ptr, nil
	}
	target, ok := strings.CutPrefix(r, "#")
	if !ok {
		return nil, "", fmt.Errorf("%s: only local references are supported, not %q", ptr, r)
	}
	var keys []any
	for _, part := range strings.Split(strings.TrimPrefix(target, "/"), "/") {
		keys = append(keys, strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~"))
	}
	found := lookup(root, keys...)
	if found == nil {
		return nil, "", fmt.Errorf("%s: $ref %q leads nowhere", ptr, r)
	}
	return found, target, nil
}

// lookup walks objects by key and arrays by index; nil when absent.
func lookup(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// escape makes a key a JSON Pointer token.
func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// check reports how an answer breaks the contract, or nil.
func (k *contract) check(r *http.Request, status int, h http.Header, body []byte) error {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		return nil // the dashboard's pages (internal/dashboard), not the API
	}
	_, pattern := k.mux.Handler(r)
	op := k.ops[pattern]
	if op == nil {
		switch {
		case r.Method == http.MethodOptions && status == http.StatusNoContent:
			return nil // a CORS preflight, answered before routing
		case !slices.Contains([]int{404, 405, 413, 431}, status):
			// The mux answers 404 and 405, the middleware 413 and 431
			// (api/openapi.json's info says so); nothing else can.
			return fmt.Errorf("no operation in api/openapi.json matches this request, yet it was answered %d, not 404, 405, 413 or 431", status)
		}
		return validateBody(k.errorSchema, "#/components/schemas/Error", h, body)
	}
	a := op.responses[strconv.Itoa(status)]
	if a == nil {
		a = op.responses[strconv.Itoa(status/100)+"XX"]
	}
	if a == nil {
		documented := make([]string, 0, len(op.responses))
		for s := range op.responses {
			documented = append(documented, s)
		}
		slices.Sort(documented)
		return fmt.Errorf("status %d is not documented for %s (documented: %s)", status, op.pattern, strings.Join(documented, ", "))
	}
	for _, name := range a.headers {
		if h.Get(name) == "" {
			return fmt.Errorf("header %s, required by %s, is missing", name, a.where)
		}
	}
	if a.schema == nil {
		if len(body) > 0 {
			return fmt.Errorf("%s has no body, yet the answer has one", a.where)
		}
		return nil
	}
	if r.Method == http.MethodHead {
		return nil
	}
	return validateBody(a.schema, a.where, h, body)
}

func validateBody(schema *jsonschema.Schema, where string, h http.Header, body []byte) error {
	if mt, _, err := mime.ParseMediaType(h.Get("Content-Type")); err != nil || mt != "application/json" {
		return fmt.Errorf("%s is application/json, yet the answer's Content-Type is %q", where, h.Get("Content-Type"))
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	if err := schema.Validate(v); err != nil {
		return fmt.Errorf("the body does not match %s: %v", where, err)
	}
	return nil
}

// checkContract serves h, checking every answer against the contract;
// a breach fails the test that provoked it.
func checkContract(tb testing.TB, h http.Handler) http.Handler {
	tb.Helper()
	k, err := loadContract()
	if err != nil {
		tb.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		if err := k.check(r, rec.status, w.Header(), rec.body.Bytes()); err != nil {
			body := rec.body.String()
			if len(body) > 2000 {
				body = body[:2000] + "…"
			}
			tb.Errorf("API contract (api/openapi.json): %s %s answered %d: %v\nbody: %s", r.Method, r.URL.RequestURI(), rec.status, err, body)
		}
	})
}

// recorder passes an answer through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// routePatterns reads the route table: the pattern of every m.handle
// call in routes.go.
func routePatterns(tb testing.TB) []string {
	tb.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "routes.go", nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	consts := map[string]string{}
	var eval func(e ast.Expr) (string, bool)
	eval = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind == token.STRING {
				s, err := strconv.Unquote(e.Value)
				return s, err == nil
			}
		case *ast.Ident:
			s, ok := consts[e.Name]
			return s, ok
		case *ast.ParenExpr:
			return eval(e.X)
		case *ast.BinaryExpr:
			if e.Op == token.ADD {
				x, okx := eval(e.X)
				y, oky := eval(e.Y)
				return x + y, okx && oky
			}
		}
		return "", false
	}
	var patterns []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GenDecl:
			if n.Tok != token.CONST {
				break
			}
			for _, spec := range n.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := eval(vs.Values[i]); ok {
							consts[name.Name] = s
						}
					}
				}
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "handle" || len(n.Args) == 0 {
				break
			}
			p, ok := eval(n.Args[0])
			if !ok {
				tb.Errorf("%s: cannot read this route's pattern; write it as string constants joined by +", fset.Position(n.Pos()))
				break
			}
			patterns = append(patterns, p)
		}
		return true
	})
	return patterns
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// requestFor returns a request that a pattern like "GET /a/{id}" matches.
func requestFor(pattern string) *http.Request {
	method, path, _ := strings.Cut(pattern, " ")
	return httptest.NewRequest(method, wildcard.ReplaceAllString(path, "x"), nil)
}

func TestEveryRouteHasAnOperation(t *testing.T) {
	k, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	routes := routePatterns(t)
	if len(routes) < 40 {
		t.Fatalf("read only %d routes from routes.go: %q", len(routes), routes)
	}
	table := httpapi.RouteTable()
	// The patterns read from the source are the ones the server serves.
	for _, p := range routes {
		if _, got := table.Handler(requestFor(p)); got != p {
			t.Errorf("routes.go pattern %q: the route table routes its requests to %q", p, got)
		}
		if k.ops[p] == nil {
			t.Errorf("route %s has no operation in api/openapi.json", p)
		}
	}
	for p := range k.ops {
		if _, got := table.Handler(requestFor(p)); got != p {
			t.Errorf("operation %s of api/openapi.json has no route (its requests go to %q)", p, got)
		}
	}
}

// TestContractCheckFails shows that the check catches each kind of
// breach: a test that could not fail would prove nothing.
func TestContractCheckFails(t *testing.T) {
	k, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	jsonH := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r1"}}
	cases := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		want               string // "" for no breach
	}{
		{"documented", "GET", "/api/v1/health", 200, jsonH, `{"status":"ok"}`, ""},
		{"undocumented status", "GET", "/api/v1/health", 404, jsonH, `{"error":"x","code":"NOT_FOUND"}`, "status 404 is not documented"},
		{"missing field", "POST", "/api/v1/events", 202, jsonH, `{"id":"0198f8a2-7c1e-7a3b-8f00-000000000001"}`, "does not match"},
		{"undocumented field", "POST", "/api/v1/events", 202, jsonH, `{"id":"0198f8a2-7c1e-7a3b-8f00-000000000001","duplicate":false,"extra":1}`, "does not match"},
		{"bad format", "POST", "/api/v1/events", 202, jsonH, `{"id":"not-a-uuid","duplicate":false}`, "does not match"},
		{"422 without details", "POST", "/api/v1/events", 422, jsonH, `{"error":"x","code":"VALIDATION_FAILED"}`, "does not match"},
		{"no request id", "GET", "/api/v1/health", 200, http.Header{"Content-Type": {"application/json"}}, `{"status":"ok"}`, "X-Request-Id"},
		{"not JSON", "GET", "/api/v1/health", 200, http.Header{"Content-Type": {"text/plain"}, "X-Request-Id": {"r1"}}, `ok`, "Content-Type"},
		{"body where none is", "POST", "/api/v1/auth/signout", 204, jsonH, `{}`, "has no body"},
		{"unknown route", "GET", "/api/v1/nowhere", 404, jsonH, `{"error":"x","code":"ROUTE_NOT_FOUND"}`, ""},
		{"unknown route, not 404", "GET", "/api/v1/nowhere", 200, jsonH, `{}`, "no operation"},
		{"unknown route, 404 not an error", "GET", "/api/v1/nowhere", 404, jsonH, `{"message":"x"}`, "does not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := k.check(httptest.NewRequest(c.method, c.path, nil), c.status, c.header, []byte(c.body))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("breach reported: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want a breach saying %q", err, c.want)
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := e.do("GET", "/openapi.json", "", nil).must(t, 200)
	if r.raw != api.OpenAPI {
		t.Fatal("GET /api/v1/openapi.json is not api/openapi.json")
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "public") {
		t.Errorf("Cache-Control %q: the document should be cacheable", cc)
	}
	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	// Credentials a public endpoint cannot use do not matter.
	e.doH("GET", "/openapi.json", nil, http.Header{"If-None-Match": {etag}, "Authorization": {"Bearer nonsense"}}).must(t, 304)
	e.doH("GET", "/openapi.json", nil, http.Header{"If-None-Match": {`"other"`}}).must(t, 200)
}

// TestContractAtTheEdges provokes answers the other API tests do not:
// the PUT forms of the partial updates, empty lists, credentials a
// route cannot use, and the mux's own 404 and 405. newEnv's check holds
// each to api/openapi.json; the statuses are asserted here.
func TestContractAtTheEdges(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("edges@example.com")
	admin := e.admin()

	// Empty lists are empty arrays, not null.
	for _, path := range []string{"/client-keys", "/webhooks"} {
		e.do("GET", path, tok, nil).must(t, 200)
	}
	e.do("GET", "/admin/invitations", admin, nil).must(t, 200)
	hook := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://example.com/hook", "events": []string{"*"}}).must(t, 201).str("id")
	e.do("GET", "/webhooks/"+hook+"/deliveries", tok, nil).must(t, 200)

	// PUT is the same partial update as PATCH.
	e.do("PUT", "/auth/user", tok, map[string]any{"name": "Edge"}).must(t, 200)
	e.do("PUT", "/webhooks/"+hook, tok, map[string]any{"description": "put"}).must(t, 200)
	key := e.do("POST", "/client-keys", tok, map[string]any{"name": "k", "scopes": []string{"read:users"}, "rate_limit_per_minute": 5}).must(t, 201).str("client_key.id")
	e.do("PUT", "/client-keys/"+key, tok, map[string]any{"name": "k2"}).must(t, 200)

	// Rotation with and without a body.
	e.do("POST", "/webhooks/"+hook+"/rotate-secret", tok, nil).must(t, 200)
	e.do("POST", "/webhooks/"+hook+"/rotate-secret", tok, map[string]any{"secret": "another-webhook-secret"}).must(t, 200)

	// Credentials: a public route ignores one it cannot use; a protected
	// one refuses it.
	junk := http.Header{"Authorization": {"Bearer not-a-credential"}}
	e.doH("GET", "/invitations/"+strings.Repeat("a", 43)+"/validate", nil, junk).must(t, 200)
	e.doH("GET", "/health", nil, junk).must(t, 200)
	e.doH("GET", "/webhooks", nil, junk).must(t, 401)
	e.doH("GET", "/webhooks", nil, http.Header{"X-Client-Key": {"fbk_" + strings.Repeat("x", 43)}}).must(t, 401)

	// The mux's own answers, and the middleware's, which come before
	// routing.
	e.do("GET", "/nowhere", tok, nil).must(t, 404)
	e.do("PATCH", "/health", tok, nil).must(t, 405)
	e.do("GET", "/admin/users/"+hook, admin, nil).must(t, 404)
	big := http.Header{"Authorization": bearer(tok), "X-Padding": {strings.Repeat("a", httpapi.MaxHeaderBytes)}}
	e.doH("GET", "/webhooks", nil, big).must(t, 431)
	e.doH("GET", "/nowhere", nil, big).must(t, 431)
}
