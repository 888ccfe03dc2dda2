package httpapi_test

import (
	"strings"
	"testing"
)

// TestWebhookFilterOverHTTP: API.md "Filters": the filter is returned
// with the webhook, a bad one is 422 VALIDATION_FAILED on filter with a
// message that says where (line:column), and null removes it. Every
// answer is also checked against api/openapi.json.
func TestWebhookFilterOverHTTP(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("filters@example.com")
	const f = `data.amount > 100 && data.currency == "EUR"`
	created := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://myapp.com/orders", "events": []string{"order.*"}, "filter": f}).must(t, 201)
	id := created.str("id")
	if created.str("filter") != f {
		t.Fatalf("create: %s", created.raw)
	}
	if got := e.do("GET", "/webhooks/"+id, tok, nil).must(t, 200); got.str("filter") != f {
		t.Fatalf("get: %s", got.raw)
	}

	bad := []struct {
		name   string
		method string
		filter any
		says   string
	}{
		{"syntax error on create", "POST", `data.amount >`, "1:14: Syntax error"},
		{"syntax error on patch", "PATCH", "data.amount > 100 &&\n  data.currency = \"EUR\"", "2:17: Syntax error"},
		{"syntax error on put", "PUT", `data.amount > 100)`, "1:18"},
		{"unknown variable", "POST", `amount > 100`, "1:1: undeclared reference to 'amount'"},
		{"not a bool", "PATCH", `data.amount + 1`, "must be true or false"},
		{"too long", "POST", `data.note == "` + strings.Repeat("x", 1000) + `"`, "at most 1000 characters"},
		{"too costly", "PATCH", `data.a.all(x, data.b.all(y, data.c.exists(z, x + y == z)))`, "too costly"},
		{"not a string", "PATCH", 42, "must be a string"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			path, body := "/webhooks/"+id, map[string]any{"filter": c.filter}
			if c.method == "POST" {
				path, body = "/webhooks", map[string]any{"url": "https://myapp.com/x", "events": []string{"*"}, "filter": c.filter}
			}
			r := e.do(c.method, path, tok, body).must(t, 422)
			d, _ := r.body["details"].(map[string]any)
			if msg, _ := d["filter"].(string); r.str("code") != "VALIDATION_FAILED" || !strings.Contains(msg, c.says) {
				t.Fatalf("want VALIDATION_FAILED with details.filter saying %q: %s", c.says, r.raw)
			}
		})
	}
	if got := e.do("GET", "/webhooks/"+id, tok, nil).must(t, 200); got.str("filter") != f {
		t.Fatalf("a refused update changed the filter: %s", got.raw)
	}

	// Other fields change, the filter stays; null removes it.
	if upd := e.do("PATCH", "/webhooks/"+id, tok, map[string]any{"description": "orders"}).must(t, 200); upd.str("filter") != f {
		t.Fatalf("patch without filter: %s", upd.raw)
	}
	upd := e.do("PATCH", "/webhooks/"+id, tok, map[string]any{"filter": nil}).must(t, 200)
	if _, ok := upd.body["filter"]; ok {
		t.Fatalf("null did not remove the filter: %s", upd.raw)
	}
}
