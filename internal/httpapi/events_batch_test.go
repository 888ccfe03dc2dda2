package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/events"
)

func (e *env) publishBatch(cred string, body any, h http.Header) resp {
	e.t.Helper()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Authorization", bearer(cred)[0])
	return e.doH("POST", "/events/batch", body, h)
}

func TestPublishBatchStoresEveryEventInOrder(t *testing.T) {
	e := newEventsEnv(t, envOpts{})
	tok, uid := e.user("shop@example.com")
	key := e.key(tok, "write:events")

	// Two keyed events among unkeyed ones, one of them published before.
	e.publish(key, map[string]any{"event": "invoice.paid", "data": 0, "id": "inv-0"}, "").must(t, 202)
	var batch []map[string]any
	for i := range 300 {
		ev := map[string]any{"event": "order.placed", "data": map[string]any{"n": i}}
		switch i {
		case 3:
			ev["ordering_key"] = "cust-3" // it travels with the event
		case 7:
			ev["id"] = "inv-0"
		case 8:
			ev["id"] = "inv-8"
		}
		batch = append(batch, ev)
	}
	r := e.publishBatch(key, map[string]any{"events": batch}, nil).must(t, 202)
	answers, ok := r.body["events"].([]any)
	if !ok || len(answers) != len(batch) {
		t.Fatalf("202 body %s, want %d answers", r.raw, len(batch))
	}
	ids := map[string]int{}
	for i, a := range answers {
		a := a.(map[string]any)
		id, _ := a["id"].(string)
		if id == "" || a["duplicate"] != (i == 7) {
			t.Fatalf("answer %d = %v, want an id and duplicate %v", i, a, i == 7)
		}
		ids[id] = i
	}
	if len(ids) != len(batch) {
		t.Fatalf("%d distinct ids for %d events", len(ids), len(batch))
	}

	got := e.stored()
	// The event published before, and the batch but its repeat.
	if len(got) != 1+len(batch)-1 {
		t.Fatalf("EVENTS holds %d events, want %d", len(got), len(batch))
	}
	packs := map[string]int{}
	next := 0
	for _, m := range got[1:] {
		i, ok := ids[m.event.ID]
		wantKey := ""
		if i == 3 {
			wantKey = "cust-3"
		}
		if !ok || m.event.UserID != uid || string(m.event.Data) != fmt.Sprintf(`{"n":%d}`, i) || m.event.OrderingKey != wantKey {
			t.Fatalf("stored %+v (data %s), not one of the batch's events as sent", m.event, m.event.Data)
		}
		if m.subject == events.EventPackSubject {
			// The packed ones keep the batch's order.
			if i < next {
				t.Errorf("event %d stored after event %d", i, next)
			}
			next = i
			packs[m.subject]++
		}
	}
	// 297 unkeyed events fit in two packed messages (256 per message):
	// the batch is not one message per event.
	msgs := map[uint64]bool{}
	s, err := e.js.Stream(t.Context(), events.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msgs[seq] = true
	}
	// one for inv-0 before, one for inv-8, and the packs.
	if n := len(msgs) - 2; n > 3 || packs[events.EventPackSubject] != 298 {
		t.Errorf("%d messages hold the batch's %d unkeyed events (%v), want at most 3", n, packs[events.EventPackSubject], packs)
	}

	// A repeat of the whole batch stores the keyed events once more only
	// when they were new: both are duplicates now.
	r = e.publishBatch(key, map[string]any{"events": batch[7:9]}, nil).must(t, 202)
	for i, a := range r.body["events"].([]any) {
		if a.(map[string]any)["duplicate"] != true {
			t.Errorf("repeat %d: %v, want duplicate", i, a)
		}
	}
}

func TestPublishBatchRefusesBadBatchesWhole(t *testing.T) {
	e := newEventsEnv(t, envOpts{maxBody: 64 << 10, publishTimeout: time.Second})
	tok, _ := e.user("shop@example.com")
	key := e.key(tok, "write:events")
	readOnly := e.key(tok, "read:webhooks")
	good := map[string]any{"event": "order.placed", "data": 1}
	many := make([]any, 501)
	for i := range many {
		many[i] = good
	}

	tests := []struct {
		name   string
		cred   string
		body   any
		header string
		status int
		field  string
		says   string
	}{
		{"no events", key, map[string]any{}, "", 422, "events", "is required"},
		{"empty", key, map[string]any{"events": []any{}}, "", 422, "events", "1 to 500 events; it holds 0"},
		{"too many", key, map[string]any{"events": many}, "", 422, "events", "1 to 500 events; it holds 501"},
		{"a reserved name", key, map[string]any{"events": []any{good, map[string]any{"event": "user.created", "data": 1}}}, "", 422, "events[1].event", "is reserved"},
		{"null data", key, map[string]any{"events": []any{good, good, map[string]any{"event": "a.b", "data": nil}}}, "", 422, "events[2].data", "must not be null"},
		{"a bad id", key, map[string]any{"events": []any{map[string]any{"event": "a.b", "data": 1, "id": "a b"}}}, "", 422, "events[0].id", "1 to 128 characters"},
		{"a bad ordering key", key, map[string]any{"events": []any{good, map[string]any{"event": "a.b", "data": 1, "ordering_key": ""}}}, "", 422, "events[1].ordering_key", "1 to 256 bytes"},
		{"a repeated id", key, map[string]any{"events": []any{map[string]any{"event": "a.b", "data": 1, "id": "x"}, good, map[string]any{"event": "a.c", "data": 2, "id": "x"}}}, "", 422, "events[2].id", "repeats the id of events[0]"},
		{"an Idempotency-Key", key, map[string]any{"events": []any{good}}, "k-1", 422, "idempotency_key", "give each event its own id"},
		{"not a list", key, map[string]any{"events": good}, "", 422, "events", ""},
		{"too large", key, map[string]any{"events": []any{map[string]any{"event": "a.b", "data": strings.Repeat("x", 70<<10)}}}, "", 413, "", ""},
		{"no write:events", readOnly, map[string]any{"events": []any{good}}, "", 403, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Idempotency-Key", tt.header)
			}
			r := e.publishBatch(tt.cred, tt.body, h).must(t, tt.status)
			if r.str("error") == "" {
				t.Fatalf("body %s, want an error sentence", r.raw)
			}
			if tt.field != "" {
				// Field names hold dots and brackets: read details as a map.
				details, _ := r.body["details"].(map[string]any)
				if d, _ := details[tt.field].(string); d == "" || !strings.Contains(d, tt.says) {
					t.Fatalf("details[%q] = %q, want it to say %q; body %s", tt.field, d, tt.says, r.raw)
				}
			}
		})
	}
	if got := e.stored(); len(got) != 0 {
		t.Fatalf("refused batches stored %d events", len(got))
	}
}

func TestPublishBatchWithoutJetStreamIs503(t *testing.T) {
	e := newEventsEnv(t, envOpts{publishTimeout: 300 * time.Millisecond})
	tok, _ := e.user("shop@example.com")
	e.nats.Shutdown()
	e.nats.WaitForShutdown()
	body := map[string]any{"events": []any{map[string]any{"event": "a.b", "data": 1}, map[string]any{"event": "a.b", "data": 2, "id": "k"}}}
	r := e.publishBatch(tok, body, nil).must(t, 503)
	if r.header.Get("Retry-After") == "" || r.str("code") != "SERVICE_UNAVAILABLE" {
		t.Fatalf("503 %v %s, want SERVICE_UNAVAILABLE with Retry-After", r.header, r.raw)
	}
}
