package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestReplayRoutes: a replay is validated field by field, refused for a
// disabled webhook, a second active one and a deployment that keeps no
// events, shown, listed, and cancelled once; another user's webhook is
// not found; a bulk retry of the failed is a replay of its own kind.
func TestReplayRoutes(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok, _ := e.user("replay@example.com")
	other, _ := e.user("other@example.com")
	hook := e.do("POST", "/webhooks", tok, map[string]any{"url": "https://example.com/hook", "events": []string{"order.*"}}).must(t, 201).str("id")
	base := "/webhooks/" + hook
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)

	for _, tt := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "since"},
		{map[string]any{"since": "an hour ago"}, "since"},
		{map[string]any{"since": time.Now().Add(-8 * 24 * time.Hour).Format(time.RFC3339)}, "since"},
		{map[string]any{"since": since, "until": time.Now().Add(-2 * time.Hour).Format(time.RFC3339)}, "until"},
		{map[string]any{"since": since, "status": "lost"}, "status"},
	} {
		r := e.do("POST", base+"/replay", tok, tt.body).must(t, 422)
		if d, _ := r.body["details"].(map[string]any); d[tt.field] == nil {
			t.Errorf("replay %v: %s, want details.%s", tt.body, r.raw, tt.field)
		}
	}
	e.do("POST", base+"/replay", other, map[string]any{"since": since}).must(t, 404)

	r := e.do("POST", base+"/replay", tok, map[string]any{"since": since, "status": "missed"}).must(t, 202)
	if r.body["kind"] != "replay" || r.body["state"] != "pending" || r.body["includes_missed"] != true ||
		!strings.Contains(r.str("note"), "missed while disabled") || r.body["status"] != "missed" || r.body["until"] == nil {
		t.Fatalf("replay answered %s", r.raw)
	}
	id := r.str("id")
	if c := e.do("POST", base+"/retry-failed", tok, nil).must(t, 409); c.str("code") != "REPLAY_IN_PROGRESS" {
		t.Fatalf("second replay: %s", c.raw)
	}
	if g := e.do("GET", base+"/replays/"+id, tok, nil).must(t, 200); g.str("id") != id {
		t.Fatalf("get: %s", g.raw)
	}
	e.do("GET", base+"/replays/"+id, other, nil).must(t, 404)
	if l := e.do("GET", base+"/replays", tok, nil).must(t, 200); len(l.body["replays"].([]any)) != 1 {
		t.Fatalf("list: %s", l.raw)
	}
	if c := e.do("POST", base+"/replays/"+id+"/cancel", tok, nil).must(t, 200); c.str("state") != "cancelled" {
		t.Fatalf("cancel: %s", c.raw)
	}
	if c := e.do("POST", base+"/replays/"+id+"/cancel", tok, nil).must(t, 409); c.str("code") != "REPLAY_FINISHED" {
		t.Fatalf("cancel twice: %s", c.raw)
	}

	rf := e.do("POST", base+"/retry-failed", tok, nil).must(t, 202)
	if rf.body["kind"] != "retry_failed" || rf.body["includes_missed"] != false {
		t.Fatalf("retry-failed: %s", rf.raw)
	}
	e.do("POST", base+"/replays/"+rf.str("id")+"/cancel", tok, nil).must(t, 200)

	e.do("PATCH", base, tok, map[string]any{"is_active": false}).must(t, 200)
	if c := e.do("POST", base+"/replay", tok, map[string]any{"since": since}).must(t, 409); c.str("code") != "WEBHOOK_DISABLED" {
		t.Fatalf("disabled: %s", c.raw)
	}

	// A deployment whose EVENTS is still a work queue.
	legacy := newEnv(t, envOpts{eventsKept: func(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }})
	ltok, _ := legacy.user("legacy@example.com")
	lh := legacy.do("POST", "/webhooks", ltok, map[string]any{"url": "https://example.com/hook", "events": []string{"*"}}).must(t, 201).str("id")
	if c := legacy.do("POST", "/webhooks/"+lh+"/replay", ltok, map[string]any{"since": since}).must(t, 409); c.str("code") != "EVENTS_NOT_KEPT" {
		t.Fatalf("not kept: %s", c.raw)
	}
}
