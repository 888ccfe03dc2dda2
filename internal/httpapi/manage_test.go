package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// signIn signs a new app user up and returns their access token.
func (e *env) user(email string) (token, id string) {
	e.t.Helper()
	r := e.signUp(email)
	return r.str("access_token"), r.str("user.id")
}

func (e *env) admin() string {
	e.t.Helper()
	return e.do("POST", "/admin/login", "", map[string]any{"email": "admin@example.com", "password": "admin-password-123"}).must(e.t, 200).str("access_token")
}

// TestClientKeysAsTheSeedsShow walks the seeds' client key calls.
func TestClientKeysAsTheSeedsShow(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, uid := e.user("user@example.com")

	created := e.do("POST", "/client-keys", tok, map[string]any{
		"name": "Production Service", "description": "Client key for production microservice",
		"scopes": []string{"read:users", "write:users", "read:products"}, "rate_limit_per_minute": 100,
		"expires_at": "2099-12-31T23:59:59Z",
	}).must(t, 201)
	key := created.str("key")
	ck := created.body["client_key"].(map[string]any)
	if !strings.HasPrefix(key, "fbk_") || len(key) != 47 || ck["key_prefix"] != key[:12] || ck["user_id"] != uid ||
		ck["rate_limit_per_minute"] != float64(100) || ck["expires_at"] != "2099-12-31T23:59:59Z" || len(ck["scopes"].([]any)) != 3 {
		t.Fatalf("create: %s", created.raw)
	}
	if strings.Contains(created.raw, "key_hash") {
		t.Fatal("the key's hash is in the response")
	}
	id := ck["id"].(string)

	// The seeds' own expires_at (2025-12-31) has passed: the call works
	// and makes a key that is already expired.
	past := e.do("POST", "/client-keys", tok, map[string]any{"name": "Old", "scopes": []string{"read:users"}, "rate_limit_per_minute": 100, "expires_at": "2025-12-31T23:59:59Z"}).must(t, 201)
	e.do("GET", "/auth/user", past.str("key"), nil).must(t, 401)

	// The key acts as its owner, through every header the SDK uses.
	for _, h := range []http.Header{
		{"Authorization": {"Bearer " + key}},
		{"X-Client-Key": {key}},
		{"Apikey": {key}},
	} {
		if r := e.doH("GET", "/auth/user", nil, h).must(t, 200); r.str("id") != uid || r.header.Get("X-RateLimit-Limit") != "100" {
			t.Fatalf("GET /auth/user with %v: %s %v", h, r.raw, r.header)
		}
	}

	list := e.do("GET", "/client-keys", tok, nil).must(t, 200)
	if list.body["total"] != float64(2) || list.body["client_keys"].([]any)[1].(map[string]any)["id"] != id {
		t.Fatalf("list (newest first): %s", list.raw)
	}
	got := e.do("GET", "/client-keys/"+id, tok, nil).must(t, 200)
	if got.str("name") != "Production Service" || got.str("last_used_at") == "" {
		t.Fatalf("get: %s", got.raw)
	}
	// No request wrote last_used_at; it reaches the database in the
	// batched flush.
	if k, err := e.db.ClientKey(context.Background(), id); err != nil || k.LastUsedAt != nil {
		t.Fatalf("last_used_at written per request: %+v %v", k, err)
	}
	if err := e.keys.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if k, err := e.db.ClientKey(context.Background(), id); err != nil || k.LastUsedAt == nil {
		t.Fatalf("last_used_at not stored after flush: %+v %v", k, err)
	}

	upd := e.do("PATCH", "/client-keys/"+id, tok, map[string]any{
		"name": "Updated Service Name", "description": "New description",
		"scopes": []string{"read:users", "write:users", "read:orders"}, "rate_limit_per_minute": 200,
	}).must(t, 200)
	if upd.str("name") != "Updated Service Name" || upd.body["rate_limit_per_minute"] != float64(200) {
		t.Fatalf("update: %s", upd.raw)
	}
	// The new limit applies at once.
	if r := e.doH("GET", "/auth/user", nil, http.Header{"X-Client-Key": {key}}).must(t, 200); r.header.Get("X-RateLimit-Limit") != "200" {
		t.Fatalf("limit after update: %v", r.header)
	}
	// The key is cached now; revoking must stop it at once anyway.
	if r := e.do("POST", "/client-keys/"+id+"/revoke", tok, nil).must(t, 200); r.str("message") == "" {
		t.Fatalf("revoke: %s", r.raw)
	}
	r := e.doH("GET", "/auth/user", nil, http.Header{"X-Client-Key": {key}}).must(t, 401)
	if r.str("code") != "INVALID_CLIENT_KEY" || r.str("error") != "Invalid client key" {
		t.Fatalf("revoked key: %s", r.raw)
	}
	if g := e.do("GET", "/client-keys/"+id, tok, nil).must(t, 200); g.str("revoked_at") == "" {
		t.Fatalf("revoked key lost its revoked_at: %s", g.raw)
	}
	e.do("POST", "/client-keys/"+id+"/revoke", tok, nil).must(t, 409)
	e.do("DELETE", "/client-keys/"+id, tok, nil).must(t, 200)
	e.do("GET", "/client-keys/"+id, tok, nil).must(t, 404)
}

func TestClientKeyRules(t *testing.T) {
	e := newEnv(t, envOpts{})
	alice, _ := e.user("alice@example.com")
	bob, _ := e.user("bob@example.com")
	mk := func(tok string, scopes []string, rate int) resp {
		return e.do("POST", "/client-keys", tok, map[string]any{"name": "k", "scopes": scopes, "rate_limit_per_minute": rate})
	}
	aliceKey := mk(alice, []string{"read:clientkeys", "write:clientkeys", "read:webhooks"}, 1000).must(t, 201)
	aliceKeyID := aliceKey.body["client_key"].(map[string]any)["id"].(string)

	cases := []struct {
		name   string
		r      resp
		status int
		field  string
	}{
		{"bad scope", mk(alice, []string{"users"}, 10), 422, "scopes"},
		{"no scopes", mk(alice, []string{}, 10), 422, "scopes"},
		{"rate too high", mk(alice, []string{"read:users"}, 100001), 422, "rate_limit_per_minute"},
		{"rate zero", mk(alice, []string{"read:users"}, 0), 422, "rate_limit_per_minute"},
		{"no rate", e.do("POST", "/client-keys", alice, map[string]any{"name": "k", "scopes": []string{"read:users"}}), 422, "rate_limit_per_minute"},
		{"no name", e.do("POST", "/client-keys", alice, map[string]any{"scopes": []string{"read:users"}, "rate_limit_per_minute": 5}), 422, "name"},
		{"app user grants invitations", mk(alice, []string{"write:invitations"}, 10), 403, "scopes"},
		{"app user grants *", mk(alice, []string{"*"}, 10), 403, "scopes"},
		{"key grants beyond itself", mk(aliceKey.str("key"), []string{"write:clientkeys", "write:webhooks"}, 10), 403, "scopes"},
		{"key grants a higher rate than its own", mk(aliceKey.str("key"), []string{"read:webhooks"}, 1001), 403, "rate_limit_per_minute"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.r.must(t, c.status)
			if d, _ := c.r.body["details"].(map[string]any); d[c.field] == nil {
				t.Fatalf("no details.%s: %s", c.field, c.r.raw)
			}
		})
	}
	// The seeds' error handling looks for "rate_limit" in the message.
	if r := mk(alice, []string{"read:users"}, 0); !strings.Contains(r.str("error"), "rate_limit") {
		t.Fatalf("message %q does not name rate_limit", r.str("error"))
	}
	mk(aliceKey.str("key"), []string{"read:webhooks"}, 10).must(t, 201)

	// Another user's key does not exist for Bob.
	e.do("GET", "/client-keys/"+aliceKeyID, bob, nil).must(t, 404)
	e.do("PATCH", "/client-keys/"+aliceKeyID, bob, map[string]any{"name": "x"}).must(t, 404)
	e.do("POST", "/client-keys/"+aliceKeyID+"/revoke", bob, nil).must(t, 404)
	e.do("DELETE", "/client-keys/"+aliceKeyID, bob, nil).must(t, 404)
	if r := e.do("GET", "/client-keys", bob, nil).must(t, 200); r.body["total"] != float64(0) {
		t.Fatalf("Bob sees Alice's keys: %s", r.raw)
	}
	// An admin sees everyone's.
	if r := e.do("GET", "/client-keys", e.admin(), nil).must(t, 200); r.body["total"] != float64(2) {
		t.Fatalf("admin list: %s", r.raw)
	}

	// A key without write:webhooks is refused with the scope named.
	r := e.do("POST", "/webhooks", aliceKey.str("key"), map[string]any{"url": "https://example.com/hook", "events": []string{"*"}}).must(t, 403)
	if r.str("code") != "INSUFFICIENT_SCOPE" || r.str("required_scope") != "write:webhooks" || r.str("error") != "Insufficient permissions" {
		t.Fatalf("403: %s", r.raw)
	}
	// Garbage that looks like a key is 401, and no credential at all says "unauthorized".
	e.doH("GET", "/client-keys", nil, http.Header{"X-Client-Key": {"fbk_short"}}).must(t, 401)
	if r := e.do("GET", "/client-keys", "", nil).must(t, 401); !strings.Contains(r.str("error"), "unauthorized") {
		t.Fatalf("401 message %q", r.str("error"))
	}
}

func TestClientKeyRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("rl@example.com")
	key := e.do("POST", "/client-keys", tok, map[string]any{"name": "k", "scopes": []string{"read:users"}, "rate_limit_per_minute": 5}).must(t, 201).str("key")
	for i := range 5 {
		r := e.doH("GET", "/auth/user", nil, http.Header{"X-Client-Key": {key}}).must(t, 200)
		if r.header.Get("X-RateLimit-Remaining") != string(rune('0'+4-i)) || r.header.Get("RateLimit-Policy") == "" {
			t.Fatalf("request %d headers: %v", i+1, r.header)
		}
	}
	r := e.doH("GET", "/auth/user", nil, http.Header{"X-Client-Key": {key}}).must(t, 429)
	if r.str("code") != "RATE_LIMIT_EXCEEDED" || r.str("error") != "Rate limit exceeded" || r.body["retry_after"] == nil || r.header.Get("Retry-After") == "" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429: %v %s", r.header, r.raw)
	}
}

// TestWebhooksAsTheSeedsShow walks the seeds' webhook calls.
func TestWebhooksAsTheSeedsShow(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, uid := e.user("hooks@example.com")
	created := e.do("POST", "/webhooks", tok, map[string]any{
		"url":         "https://myapp.com/webhook",
		"events":      []string{"user.created", "user.updated", "user.deleted", "auth.login", "auth.logout"},
		"description": "User and auth events webhook",
		"secret":      "my-webhook-secret-key",
	}).must(t, 201)
	id := created.str("id")
	if created.str("url") != "https://myapp.com/webhook" || created.str("secret") != "my-webhook-secret-key" || created.body["is_active"] != true ||
		created.body["has_secret"] != true || created.str("user_id") != uid || len(created.body["events"].([]any)) != 5 {
		t.Fatalf("create: %s", created.raw)
	}
	generated := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://myapp.com/webhook2", "events": []string{"user.*"}}).must(t, 201)
	if !strings.HasPrefix(generated.str("secret"), "whsec_") {
		t.Fatalf("no generated secret: %s", generated.raw)
	}
	got := e.do("GET", "/webhooks/"+id, tok, nil).must(t, 200)
	if got.str("secret") != "" || got.body["has_secret"] != true || got.str("description") != "User and auth events webhook" {
		t.Fatalf("get shows the secret or lost fields: %s", got.raw)
	}
	if l := e.do("GET", "/webhooks", tok, nil).must(t, 200); l.body["total"] != float64(2) || strings.Contains(l.raw, "my-webhook-secret-key") {
		t.Fatalf("list: %s", l.raw)
	}
	upd := e.do("PATCH", "/webhooks/"+id, tok, map[string]any{
		"url": "https://myapp.com/new-webhook-endpoint", "events": []string{"user.created", "user.deleted"}, "is_active": false,
	}).must(t, 200)
	if upd.str("url") != "https://myapp.com/new-webhook-endpoint" || upd.body["is_active"] != false || len(upd.body["events"].([]any)) != 2 || upd.str("description") == "" {
		t.Fatalf("update: %s", upd.raw)
	}
	rot := e.do("POST", "/webhooks/"+id+"/rotate-secret", tok, nil).must(t, 200)
	if !strings.HasPrefix(rot.str("secret"), "whsec_") {
		t.Fatalf("rotate: %s", rot.raw)
	}

	other, _ := e.user("other@example.com")
	e.do("GET", "/webhooks/"+id, other, nil).must(t, 404)
	e.do("DELETE", "/webhooks/"+id, other, nil).must(t, 404)
	e.do("DELETE", "/webhooks/"+id, tok, nil).must(t, 200)
	e.do("GET", "/webhooks/"+id, tok, nil).must(t, 404)
}

func TestWebhookValidation(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("v@example.com")
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"http URL", map[string]any{"url": "http://myapp.com/webhook", "events": []string{"*"}}, "url"},
		{"private host", map[string]any{"url": "https://private.example.com/hook", "events": []string{"*"}}, "url"},
		{"loopback literal", map[string]any{"url": "https://127.0.0.1/hook", "events": []string{"*"}}, "url"},
		{"metadata", map[string]any{"url": "https://169.254.169.254/latest/meta-data", "events": []string{"*"}}, "url"},
		{"credentials in URL", map[string]any{"url": "https://u:p@myapp.com/hook", "events": []string{"*"}}, "url"},
		{"no URL", map[string]any{"events": []string{"*"}}, "url"},
		{"no events", map[string]any{"url": "https://myapp.com/hook", "events": []string{}}, "events"},
		{"bad event", map[string]any{"url": "https://myapp.com/hook", "events": []string{"User Created"}}, "events"},
		{"subject injection", map[string]any{"url": "https://myapp.com/hook", "events": []string{"user.>"}}, "events"},
		{"short secret", map[string]any{"url": "https://myapp.com/hook", "events": []string{"*"}, "secret": "short"}, "secret"},
		{"reserved header", map[string]any{"url": "https://myapp.com/hook", "events": []string{"*"}, "headers": map[string]string{"X-Fluxbase-Signature": "x"}}, "headers"},
		{"header injection", map[string]any{"url": "https://myapp.com/hook", "events": []string{"*"}, "headers": map[string]string{"X-Team": "a\r\nHost: evil"}}, "headers"},
		{"rate limit", map[string]any{"url": "https://myapp.com/hook", "events": []string{"*"}, "rate_limit_per_second": 0}, "rate_limit_per_second"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do("POST", "/webhooks", tok, c.body).must(t, 422)
			if d, _ := r.body["details"].(map[string]any); d[c.field] == nil {
				t.Fatalf("no details.%s: %s", c.field, r.raw)
			}
		})
	}
	ok := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://myapp.com/hook", "events": []string{"order.paid", "user.*", "*"},
		"headers": map[string]string{"x-team": "billing"}, "rate_limit_per_second": 50}).must(t, 201)
	if ok.body["headers"].(map[string]any)["X-Team"] != "billing" || ok.body["rate_limit_per_second"] != float64(50) {
		t.Fatalf("create with headers: %s", ok.raw)
	}
}

// TestInvitationsAsTheSeedsShow walks the seeds' invitation calls.
func TestInvitationsAsTheSeedsShow(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.admin()
	appUser, _ := e.user("plain@example.com")

	r := e.do("POST", "/admin/invitations", appUser, map[string]any{"email": "newuser@example.com", "role": "dashboard_user"}).must(t, 403)
	if !strings.Contains(r.str("error"), "Admin role required") {
		t.Fatalf("non-admin: %s", r.raw)
	}
	inv := e.do("POST", "/admin/invitations", admin, map[string]any{"email": "newuser@example.com", "role": "dashboard_user", "expiry_duration": 604800}).must(t, 201)
	link := inv.str("invite_link")
	token := inv.str("invitation.token")
	if link != "http://fluxhook.test/invite/"+token || len(token) != 43 || inv.body["email_sent"] != false || inv.str("email_status") != "smtp not configured" {
		t.Fatalf("create: %s", inv.raw)
	}
	// Bulk invites, as the seeds' example does.
	for _, u := range []struct{ email, role string }{{"user1@example.com", "dashboard_user"}, {"user2@example.com", "dashboard_user"}, {"admin2@example.com", "dashboard_admin"}} {
		e.do("POST", "/admin/invitations", admin, map[string]any{"email": u.email, "role": u.role, "expiry_duration": 604800}).must(t, 201)
	}
	e.do("POST", "/admin/invitations", admin, map[string]any{"email": "x@example.com", "role": "user"}).must(t, 422)
	e.do("POST", "/admin/invitations", admin, map[string]any{"email": "x@example.com", "role": "dashboard_user", "expiry_duration": 10}).must(t, 422)
	e.do("POST", "/admin/invitations", admin, map[string]any{"email": "admin@example.com", "role": "dashboard_user"}).must(t, 409)

	pending := e.do("GET", "/admin/invitations?include_accepted=false&include_expired=false", admin, nil).must(t, 200)
	invs := pending.body["invitations"].([]any)
	if len(invs) != 4 || invs[3].(map[string]any)["token"] != token || invs[3].(map[string]any)["expires_at"] == nil {
		t.Fatalf("pending list: %s", pending.raw)
	}

	v := e.do("GET", "/invitations/"+token+"/validate", "", nil).must(t, 200)
	if v.body["valid"] != true || v.str("invitation.email") != "newuser@example.com" || v.str("invitation.role") != "dashboard_user" {
		t.Fatalf("validate: %s", v.raw)
	}
	acc := e.do("POST", "/invitations/"+token+"/accept", "", map[string]any{"password": "SecurePassword123!", "name": "John Doe"}).must(t, 201)
	if acc.str("user.email") != "newuser@example.com" || acc.str("user.name") != "John Doe" || acc.str("user.role") != "dashboard_user" ||
		acc.str("access_token") == "" || acc.str("refresh_token") == "" || acc.body["expires_in"] == nil {
		t.Fatalf("accept: %s", acc.raw)
	}
	e.do("GET", "/admin/me", acc.str("access_token"), nil).must(t, 200)
	if v := e.do("GET", "/invitations/"+token+"/validate", "", nil).must(t, 200); v.body["valid"] != false || v.str("error") != "Invitation has already been accepted" {
		t.Fatalf("validate accepted: %s", v.raw)
	}
	e.do("POST", "/invitations/"+token+"/accept", "", map[string]any{"password": "SecurePassword123!", "name": "John Doe"}).must(t, 409)
	if v := e.do("GET", "/invitations/"+strings.Repeat("A", 43)+"/validate", "", nil).must(t, 200); v.body["valid"] != false || v.str("error") != "Invitation not found" {
		t.Fatalf("validate unknown: %s", v.raw)
	}
	e.do("POST", "/invitations/nope/accept", "", map[string]any{"password": "SecurePassword123!", "name": "John Doe"}).must(t, 404)

	// Revoke by token, as the seeds do.
	all := e.do("GET", "/admin/invitations?include_accepted=true&include_expired=true", admin, nil).must(t, 200)
	if n := len(all.body["invitations"].([]any)); n != 4 {
		t.Fatalf("all invitations: %d, want 4", n)
	}
	second := all.body["invitations"].([]any)[0].(map[string]any)["token"].(string)
	e.do("DELETE", "/admin/invitations/"+second, admin, nil).must(t, 200)
	if v := e.do("GET", "/invitations/"+second+"/validate", "", nil).must(t, 200); v.str("error") != "Invitation not found" {
		t.Fatalf("validate revoked: %s", v.raw)
	}

	// Expiry.
	short := e.do("POST", "/admin/invitations", admin, map[string]any{"email": "late@example.com", "role": "dashboard_user", "expiry_duration": 300}).must(t, 201).str("invitation.token")
	e.clock.Advance(10 * time.Minute)
	if v := e.do("GET", "/invitations/"+short+"/validate", "", nil).must(t, 200); v.str("error") != "Invitation has expired" {
		t.Fatalf("validate expired: %s", v.raw)
	}
	e.do("POST", "/invitations/"+short+"/accept", "", map[string]any{"password": "SecurePassword123!", "name": "Late"}).must(t, 410)
	e.do("POST", "/invitations/"+short+"/accept", "", map[string]any{"password": "short", "name": "L"}).must(t, 410)
}
