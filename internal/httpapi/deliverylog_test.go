package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// dashboardUser invites and signs in a dashboard user.
func (e *env) dashboardUser(admin, email string) string {
	e.t.Helper()
	tok := e.do("POST", "/admin/invitations", admin, map[string]any{"email": email, "role": "dashboard_user"}).must(e.t, 201).str("invitation.token")
	return e.do("POST", "/invitations/"+tok+"/accept", "", map[string]any{"name": "Dash", "password": "dashboard-password-1"}).must(e.t, 201).str("access_token")
}

func rows(r resp, key string) []map[string]any {
	list, _ := r.body[key].([]any)
	out := make([]map[string]any, len(list))
	for i, v := range list {
		out[i], _ = v.(map[string]any)
	}
	return out
}

func TestDeliveryLogAcrossWebhooks(t *testing.T) {
	e := newEnv(t, envOpts{allowPrivate: true})
	admin := e.admin()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("fine")) }))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte("boom"))
	}))
	defer broken.Close()
	mk := func(url string) string {
		return e.do("POST", "/webhooks", admin, map[string]any{"url": url, "events": []string{"*"}, "headers": map[string]string{"X-Team": "core"}}).must(t, 201).str("id")
	}
	good, bad := mk(ok.URL), mk(broken.URL)
	for _, hook := range []string{good, bad, good, bad} {
		e.do("POST", "/webhooks/"+hook+"/test", admin, nil).must(t, 200)
	}

	all := rows(e.do("GET", "/deliveries", admin, nil).must(t, 200), "deliveries")
	if len(all) != 4 || all[0]["webhook_id"] != bad || all[3]["webhook_id"] != good {
		t.Fatalf("all deliveries, newest first: %v", all)
	}
	count := func(query string) int {
		t.Helper()
		return len(rows(e.do("GET", "/deliveries?"+query, admin, nil).must(t, 200), "deliveries"))
	}
	for query, want := range map[string]int{"status=failed": 2, "status=delivered,failed": 4, "status=retrying": 0, "event=webhook.test": 4,
		"event=webhook.*": 4, "event=user.*": 0, "webhook_id=" + bad: 2, "since=2000-01-01T00:00:00Z": 4, "until=2000-01-01T00:00:00Z": 0, "event=*": 4} {
		if got := count(query); got != want {
			t.Errorf("?%s: %d deliveries, want %d", query, got, want)
		}
	}
	// Pages.
	p1 := e.do("GET", "/deliveries?limit=3", admin, nil).must(t, 200)
	if len(rows(p1, "deliveries")) != 3 || p1.str("next_cursor") == "" {
		t.Fatalf("page 1: %s", p1.raw)
	}
	p2 := e.do("GET", "/deliveries?limit=3&cursor="+p1.str("next_cursor"), admin, nil).must(t, 200)
	if r := rows(p2, "deliveries"); len(r) != 1 || r[0]["id"] != all[3]["id"] || p2.body["next_cursor"] != nil {
		t.Fatalf("page 2: %s", p2.raw)
	}
	// Mistakes get a sentence.
	for _, query := range []string{"status=lost", "event=Not%20An%20Event", "since=yesterday", "until=2000-01-01T00:00:00Z&since=2001-01-01T00:00:00Z", "cursor=zzz", "limit=0", "limit=201"} {
		r := e.do("GET", "/deliveries?"+query, admin, nil).must(t, 422)
		if r.str("error") == "" || r.body["details"] == nil {
			t.Errorf("?%s: %s", query, r.raw)
		}
	}

	// One delivery, by its id or an attempt's.
	d := all[0]
	for _, id := range []string{d["delivery_id"].(string), d["id"].(string)} {
		one := e.do("GET", "/deliveries/"+id, admin, nil).must(t, 200)
		if one.str("delivery.id") != d["id"] || len(rows(one, "attempts")) != 1 || one.str("webhook.url") != broken.URL {
			t.Fatalf("GET /deliveries/%s: %s", id, one.raw)
		}
		headers := map[string]string{}
		for _, h := range rows(one, "request_headers") {
			headers[h["name"].(string)] = h["value"].(string)
		}
		if headers["webhook-id"] != d["delivery_id"] || headers["X-Team"] != "core" || headers["Content-Type"] != "application/json" {
			t.Fatalf("headers sent: %v", headers)
		}
		if a := rows(one, "attempts")[0]; a["status_code"] != float64(500) || a["response_body"] != "boom" {
			t.Fatalf("attempt: %v", a)
		}
	}
	e.do("GET", "/deliveries/0198f8a2-7c1e-7a3b-8f00-000000000001", admin, nil).must(t, 404)
	e.do("GET", "/deliveries/nope", admin, nil).must(t, 404)

	// A dashboard user sees only their own webhooks' deliveries; an app
	// user has no dashboard.
	colleague := e.dashboardUser(admin, "colleague@example.com")
	if n := len(rows(e.do("GET", "/deliveries", colleague, nil).must(t, 200), "deliveries")); n != 0 {
		t.Fatalf("a dashboard user sees %d of the admin's deliveries", n)
	}
	e.do("GET", "/deliveries/"+d["delivery_id"].(string), colleague, nil).must(t, 404)
	e.do("GET", "/deliveries?webhook_id="+bad, colleague, nil).must(t, 404)
	e.do("GET", "/stats/deliveries?webhook_id="+bad, colleague, nil).must(t, 404)
	// Their own webhook's deliveries and health they do see.
	mine := e.do("POST", "/webhooks", colleague, map[string]any{"url": ok.URL, "events": []string{"*"}}).must(t, 201).str("id")
	e.do("POST", "/webhooks/"+mine+"/test", colleague, nil).must(t, 200)
	if own := rows(e.do("GET", "/deliveries", colleague, nil).must(t, 200), "deliveries"); len(own) != 1 || own[0]["webhook_id"] != mine {
		t.Fatalf("a dashboard user's own deliveries: %v", own)
	}
	if hs := rows(e.do("GET", "/stats/webhooks", colleague, nil).must(t, 200), "webhooks"); len(hs) != 1 || hs[0]["webhook_id"] != mine || hs[0]["attempts"] != float64(1) {
		t.Fatalf("a dashboard user's health figures: %v", hs)
	}
	if tot := e.do("GET", "/stats/deliveries?hours=1", colleague, nil).must(t, 200).body["totals"].(map[string]any); tot["attempts"] != float64(1) {
		t.Fatalf("a dashboard user's timeline counts others' attempts: %v", tot)
	}
	e.do("GET", "/deliveries/"+d["delivery_id"].(string), admin, nil).must(t, 200) // the admin sees every webhook's

	app, _ := e.user("app@example.com")
	if got := e.do("GET", "/deliveries", app, nil).must(t, 403).str("code"); got != "DASHBOARD_ROLE_REQUIRED" {
		t.Fatalf("app user: %s", got)
	}
	e.do("GET", "/deliveries", "", nil).must(t, 401)
}

func TestDeliveryHealthFigures(t *testing.T) {
	e := newEnv(t, envOpts{allowPrivate: true})
	admin := e.admin()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer broken.Close()
	mk := func(url string) string {
		return e.do("POST", "/webhooks", admin, map[string]any{"url": url, "events": []string{"*"}}).must(t, 201).str("id")
	}
	good, bad, quiet := mk(ok.URL), mk(broken.URL), mk(ok.URL)
	for _, hook := range []string{good, good, bad} {
		e.do("POST", "/webhooks/"+hook+"/test", admin, nil).must(t, 200)
	}

	health := map[string]map[string]any{}
	for _, h := range rows(e.do("GET", "/stats/webhooks", admin, nil).must(t, 200), "webhooks") {
		health[h["webhook_id"].(string)] = h
	}
	if g := health[good]; g["attempts"] != float64(2) || g["delivered"] != float64(2) || g["success_ratio"] != float64(1) {
		t.Errorf("healthy webhook: %v", g)
	}
	b := health[bad]
	last, _ := b["last_attempt"].(map[string]any)
	if b["failed"] != float64(1) || b["success_ratio"] != float64(0) || last["status"] != "failed" || last["status_code"] != float64(503) {
		t.Errorf("failing webhook: %v", b)
	}
	if q := health[quiet]; q["attempts"] != float64(0) || q["success_ratio"] != nil || q["last_attempt"] != nil {
		t.Errorf("quiet webhook: %v", q)
	}

	r := e.do("GET", "/stats/deliveries?hours=1", admin, nil).must(t, 200)
	points := rows(r, "points")
	totals, _ := r.body["totals"].(map[string]any)
	if len(points) != 60 || totals["attempts"] != float64(3) || totals["delivered"] != float64(2) || totals["failed"] != float64(1) || totals["p95_ms"] == nil {
		t.Fatalf("timeline: %d points, totals %v", len(points), totals)
	}
	if now := points[59]; now["attempts"] != float64(3) || points[0]["attempts"] != float64(0) || points[0]["p95_ms"] != nil {
		t.Fatalf("the current minute holds the attempts: %v / first %v", now, points[0])
	}
	one := e.do("GET", "/stats/deliveries?webhook_id="+bad, admin, nil).must(t, 200)
	if tot := one.body["totals"].(map[string]any); tot["attempts"] != float64(1) || tot["failed"] != float64(1) || len(rows(one, "points")) != 360 {
		t.Fatalf("one webhook, default 6 h: %v", tot)
	}
	e.do("GET", "/stats/deliveries?hours=0", admin, nil).must(t, 422)
	e.do("GET", "/stats/deliveries?hours=49", admin, nil).must(t, 422)
}
