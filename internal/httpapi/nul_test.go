package httpapi_test

import (
	"strings"
	"testing"
)

// TestNULIsRefusedWith422NamingTheField: the cases users met, a 500 on
// PostgreSQL before: a NUL in a client key's name or description, a
// webhook's description, or a user's metadata (signup and PATCH
// /auth/user) is a 422 naming the field, on SQLite and PostgreSQL alike.
func TestNULIsRefusedWith422NamingTheField(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			ft := newFuzzTarget(t, driver)
			cases := []struct {
				name, method, path, token, body, field string
			}{
				{"client key name", "POST", "/client-keys", ft.user, `{"name":"svc\u0000","scopes":["read:users"],"rate_limit_per_minute":10}`, "name"},
				{"client key description", "POST", "/client-keys", ft.user, `{"name":"svc","description":"a\u0000b","scopes":["read:users"],"rate_limit_per_minute":10}`, "description"},
				{"client key description by update", "PATCH", "/client-keys/" + ft.key, ft.user, `{"description":"\u0000"}`, "description"},
				{"webhook description", "POST", "/webhooks", ft.user, `{"url":"https://myapp.com/webhook","events":["*"],"description":"hi\u0000"}`, "description"},
				{"signup metadata", "POST", "/auth/signup", "", `{"email":"meta@example.com","password":"correct-horse-battery","metadata":{"note":"\u0000"}}`, "metadata"},
				{"PATCH /auth/user metadata", "PATCH", "/auth/user", ft.user, `{"metadata":{"tags":["ok","\u0000"]}}`, "metadata"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					e := *ft.env
					e.t = t
					r := e.do(c.method, c.path, c.token, c.body).must(t, 422)
					d, _ := r.body["details"].(map[string]any)
					if detail, _ := d[c.field].(string); !strings.Contains(detail, "NUL") || !strings.Contains(r.str("error"), c.field) {
						t.Fatalf("422 does not name %s: %s", c.field, r.raw)
					}
				})
			}
			// Nothing was kept: the key's description and the user's metadata are as before.
			if r := ft.do("GET", "/client-keys/"+ft.key, ft.user, nil).must(t, 200); r.body["description"] != nil {
				t.Fatalf("key after a refused update: %s", r.raw)
			}
		})
	}
}
