package httpapi_test

import (
	"strings"
	"testing"
)

// TestWebhookOrderingOverHTTP: API.md "Ordered delivery": ordering is
// "fifo" or absent ("none" and null turn it off), returned with the
// webhook; anything else is 422 VALIDATION_FAILED on ordering, saying
// what is allowed. Every answer is also checked against api/openapi.json.
func TestWebhookOrderingOverHTTP(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("ordering@example.com")
	created := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://myapp.com/orders", "events": []string{"order.*"}, "ordering": "fifo"}).must(t, 201)
	id := created.str("id")
	if created.str("ordering") != "fifo" {
		t.Fatalf("create: %s", created.raw)
	}
	if got := e.do("GET", "/webhooks/"+id, tok, nil).must(t, 200); got.str("ordering") != "fifo" {
		t.Fatalf("get: %s", got.raw)
	}
	for _, c := range []struct {
		name     string
		method   string
		ordering any
		says     string
	}{
		{"unknown on create", "POST", "lifo", `must be "fifo"`},
		{"unknown on patch", "PATCH", "FIFO", `must be "fifo"`},
		{"not a string", "PATCH", true, "must be a string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, body := "/webhooks/"+id, map[string]any{"ordering": c.ordering}
			if c.method == "POST" {
				path, body = "/webhooks", map[string]any{"url": "https://myapp.com/x", "events": []string{"*"}, "ordering": c.ordering}
			}
			r := e.do(c.method, path, tok, body).must(t, 422)
			d, _ := r.body["details"].(map[string]any)
			if msg, _ := d["ordering"].(string); r.str("code") != "VALIDATION_FAILED" || !strings.Contains(msg, c.says) {
				t.Fatalf("want VALIDATION_FAILED with details.ordering saying %q: %s", c.says, r.raw)
			}
		})
	}
	if upd := e.do("PATCH", "/webhooks/"+id, tok, map[string]any{"description": "orders"}).must(t, 200); upd.str("ordering") != "fifo" {
		t.Fatalf("patch without ordering changed it: %s", upd.raw)
	}
	for _, off := range []any{"none", nil} {
		upd := e.do("PATCH", "/webhooks/"+id, tok, map[string]any{"ordering": off}).must(t, 200)
		if _, ok := upd.body["ordering"]; ok {
			t.Fatalf("ordering %v did not turn it off: %s", off, upd.raw)
		}
		e.do("PATCH", "/webhooks/"+id, tok, map[string]any{"ordering": "fifo"}).must(t, 200)
	}
	plain := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://myapp.com/plain", "events": []string{"*"}}).must(t, 201)
	if _, ok := plain.body["ordering"]; ok {
		t.Fatalf("a webhook created without ordering has one: %s", plain.raw)
	}
}
