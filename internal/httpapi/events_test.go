package httpapi_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fluxhook/fluxhook/internal/events"
	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// eventsEnv is an env whose server publishes to an embedded NATS with
// the streams in place.
type eventsEnv struct {
	*env
	nats *server.Server
	js   jetstream.JetStream
}

func newEventsEnv(t *testing.T, o envOpts) *eventsEnv {
	t.Helper()
	srv, err := events.StartEmbedded(events.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	nc, err := events.ConnectEmbedded(srv, "httpapi-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := events.EnsureStreams(testenv.Context(t, 10*time.Second), js, events.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	pub, err := events.NewPublisher(nc, events.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.events = pub
	return &eventsEnv{env: newEnv(t, o), nats: srv, js: js}
}

type storedEvent struct {
	subject, msgID string
	event          fluxhook.Event
}

// stored returns the EVENTS stream's messages (nothing consumes them here).
func (e *eventsEnv) stored() []storedEvent {
	e.t.Helper()
	ctx := testenv.Context(e.t, 10*time.Second)
	s, err := e.js.Stream(ctx, events.StreamEvents)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []storedEvent
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			e.t.Fatal(err)
		}
		evs, err := wire.DecodeEvents(m.Data)
		if err != nil {
			e.t.Fatalf("message %d is not an event envelope or a pack of them: %v", seq, err)
		}
		for _, ev := range evs {
			out = append(out, storedEvent{m.Subject, m.Header.Get(nats.MsgIdHdr), ev})
		}
	}
	return out
}

// key creates a client key with scopes for the user with token tok.
func (e *env) key(tok string, scopes ...string) string {
	e.t.Helper()
	return e.do("POST", "/client-keys", tok, map[string]any{"name": "service", "scopes": scopes, "rate_limit_per_minute": 10000}).must(e.t, 201).str("key")
}

func (e *env) publish(cred string, body any, idemKey string) resp {
	e.t.Helper()
	h := http.Header{"Authorization": bearer(cred)}
	if idemKey != "" {
		h.Set("Idempotency-Key", idemKey)
	}
	return e.doH("POST", "/events", body, h)
}

func TestPublishEventStoresTheEnvelope(t *testing.T) {
	e := newEventsEnv(t, envOpts{})
	tok, uid := e.user("shop@example.com")
	key := e.key(tok, "write:events")

	before := time.Now().UTC()
	data := map[string]any{"order_id": "o-42", "total": 19.5, "items": []any{"a", "b"}, "note": "<b>&</b>"}
	r := e.publish(key, map[string]any{"event": "order.shipped", "data": data}, "").must(t, 202)
	id := r.str("id")
	if _, err := uuid.Parse(id); err != nil || r.body["duplicate"] != false {
		t.Fatalf("202 body %s, want a UUID id and duplicate false", r.raw)
	}

	got := e.stored()
	if len(got) != 1 {
		t.Fatalf("EVENTS holds %d messages, want 1", len(got))
	}
	m := got[0]
	// Without an idempotency key an event cannot be a repeat: it is
	// packed with whatever else arrives meanwhile, on the packs' subject,
	// and not deduplicated.
	if m.subject != events.EventPackSubject || m.msgID != "" {
		t.Errorf("stored on %q with Nats-Msg-Id %q, want %s and none", m.subject, m.msgID, events.EventPackSubject)
	}
	ev := m.event
	var gotData any
	if err := json.Unmarshal(ev.Data, &gotData); err != nil {
		t.Fatal(err)
	}
	if ev.ID != id || ev.Event != "order.shipped" || ev.UserID != uid || !reflect.DeepEqual(gotData, data) {
		t.Errorf("stored envelope %+v (data %s), want id %s, the caller %s as user_id and the data sent", ev, ev.Data, id, uid)
	}
	if ev.Timestamp.Location() != time.UTC || ev.Timestamp.Before(before.Add(-time.Second)) || ev.Timestamp.After(time.Now().Add(time.Second)) {
		t.Errorf("timestamp %v, want now in UTC", ev.Timestamp)
	}

	// The ordering key travels with the event to the dispatcher.
	r = e.publish(key, map[string]any{"event": "order.paid", "data": data, "ordering_key": "cust-42 ü"}, "").must(t, 202)
	if got := e.stored(); len(got) != 2 || got[1].event.ID != r.str("id") || got[1].event.OrderingKey != "cust-42 ü" {
		t.Errorf("keyed event: %+v, want ordering key cust-42 ü", got)
	}

	// Access tokens are not limited by scopes; a scalar is data too.
	r = e.publish(tok, map[string]any{"event": "order.cancelled", "data": 7}, "").must(t, 202)
	if got := e.stored(); len(got) != 3 || got[2].event.ID != r.str("id") || string(got[2].event.Data) != "7" || got[2].event.UserID != uid {
		t.Errorf("second event: %+v", got)
	}
}

func TestPublishEventIsIdempotent(t *testing.T) {
	e := newEventsEnv(t, envOpts{})
	tok, _ := e.user("shop@example.com")
	key := e.key(tok, "write:events")
	otherTok, _ := e.user("other@example.com")
	other := e.key(otherTok, "write:events")
	body := func(id string) map[string]any {
		b := map[string]any{"event": "invoice.paid", "data": map[string]any{"n": 1}}
		if id != "" {
			b["id"] = id
		}
		return b
	}

	steps := []struct {
		name      string
		cred      string
		body      map[string]any
		header    string
		duplicate bool
		sameAs    string // the step whose id this one must answer
	}{
		{"first with id", key, body("inv-1"), "", false, ""},
		{"retry with id", key, body("inv-1"), "", true, "first with id"},
		{"header alone", key, body(""), "inv-1", true, "first with id"},
		{"header and the same id", key, body("inv-1"), "inv-1", true, "first with id"},
		{"another key of the same owner", e.key(tok, "write:events"), body("inv-1"), "", true, "first with id"},
		{"new header key", key, body(""), "inv-2:a.b_c-D", false, ""},
		{"its retry", key, body("inv-2:a.b_c-D"), "", true, "new header key"},
		// Another tenant's identical key is a different event: it must
		// neither be dropped nor reveal that the key was used.
		{"another tenant, same key", other, body("inv-1"), "", false, ""},
		{"no key", key, body(""), "", false, ""},
		{"no key again", key, body(""), "", false, ""},
	}
	ids := map[string]string{}
	distinct := map[string]bool{}
	for _, st := range steps {
		r := e.publish(st.cred, st.body, st.header).must(t, 202)
		if r.body["duplicate"] != st.duplicate {
			t.Errorf("%s: duplicate = %v, want %v", st.name, r.body["duplicate"], st.duplicate)
		}
		ids[st.name] = r.str("id")
		if st.sameAs != "" && ids[st.name] != ids[st.sameAs] {
			t.Errorf("%s: id %s, want %s as in %q", st.name, ids[st.name], ids[st.sameAs], st.sameAs)
		}
		if st.sameAs == "" && distinct[ids[st.name]] {
			t.Errorf("%s: id %s was already used", st.name, ids[st.name])
		}
		distinct[ids[st.name]] = true
	}
	got := e.stored()
	if len(got) != len(distinct) {
		t.Fatalf("EVENTS holds %d events, want %d (one per distinct id)", len(got), len(distinct))
	}
	for _, m := range got {
		// A keyed event is stored alone, deduplicated by its id; one
		// without a key is packed, with no id to deduplicate by.
		keyed := m.msgID != ""
		if !distinct[m.event.ID] || (keyed && m.event.ID != m.msgID) || (!keyed && m.subject != events.EventPackSubject) {
			t.Errorf("unexpected message %+v", m)
		}
	}
}

func TestPublishEventRefusesBadRequests(t *testing.T) {
	e := newEventsEnv(t, envOpts{maxBody: 4096})
	tok, _ := e.user("shop@example.com")
	key := e.key(tok, "write:events")
	readOnly := e.key(tok, "read:webhooks")
	ok := func(mod func(map[string]any)) map[string]any {
		b := map[string]any{"event": "order.shipped", "data": map[string]any{"n": 1}}
		mod(b)
		return b
	}
	set := func(k string, v any) func(map[string]any) { return func(b map[string]any) { b[k] = v } }
	del := func(k string) func(map[string]any) { return func(b map[string]any) { delete(b, k) } }

	tests := []struct {
		name   string
		cred   string
		body   any
		header string
		status int
		code   string
		field  string // the details entry expected, if any
		says   string // in the details entry or the error
	}{
		{"user.created is reserved", key, ok(set("event", "user.created")), "", 422, "VALIDATION_FAILED", "event", "is reserved for events Fluxhook emits"},
		{"auth.login is reserved", key, ok(set("event", "auth.login")), "", 422, "VALIDATION_FAILED", "event", "is reserved for events Fluxhook emits"},
		{"email.verified is reserved", key, ok(set("event", "email.verified")), "", 422, "VALIDATION_FAILED", "event", "is reserved for events Fluxhook emits"},
		{"webhook.test is reserved", key, ok(set("event", "webhook.test")), "", 422, "VALIDATION_FAILED", "event", "is reserved for events Fluxhook emits"},
		{"webhook.disabled is reserved", key, ok(set("event", "webhook.disabled")), "", 422, "VALIDATION_FAILED", "event", "is reserved for events Fluxhook emits"},
		{"delivery.exhausted is reserved", key, ok(set("event", "delivery.exhausted")), "", 422, "VALIDATION_FAILED", "event", "is reserved for events Fluxhook emits"},
		{"one word", key, ok(set("event", "shipped")), "", 422, "VALIDATION_FAILED", "event", "lowercase words separated by dots"},
		{"capitals", key, ok(set("event", "Order.Shipped")), "", 422, "VALIDATION_FAILED", "event", "lowercase words separated by dots"},
		{"wildcard", key, ok(set("event", "order.*")), "", 422, "VALIDATION_FAILED", "event", "lowercase words separated by dots"},
		{"subject wildcard", key, ok(set("event", "order.>")), "", 422, "VALIDATION_FAILED", "event", "lowercase words separated by dots"},
		{"empty word", key, ok(set("event", "order..shipped")), "", 422, "VALIDATION_FAILED", "event", "lowercase words separated by dots"},
		{"too long", key, ok(set("event", "a."+strings.Repeat("b", 127))), "", 422, "VALIDATION_FAILED", "event", "at most 128"},
		{"no event", key, ok(del("event")), "", 422, "VALIDATION_FAILED", "event", "is required"},
		{"event not a string", key, ok(set("event", 5)), "", 422, "VALIDATION_FAILED", "event", "a string"},
		{"no data", key, ok(del("data")), "", 422, "VALIDATION_FAILED", "data", "is required"},
		{"null data", key, ok(set("data", nil)), "", 422, "VALIDATION_FAILED", "data", "must not be null"},
		{"empty id", key, ok(set("id", "")), "", 422, "VALIDATION_FAILED", "id", "1 to 128 characters"},
		{"id with a space", key, ok(set("id", "inv 1")), "", 422, "VALIDATION_FAILED", "id", "1 to 128 characters"},
		{"id with a slash", key, ok(set("id", "inv/1")), "", 422, "VALIDATION_FAILED", "id", "1 to 128 characters"},
		{"id not ASCII", key, ok(set("id", "rechnung-ü")), "", 422, "VALIDATION_FAILED", "id", "1 to 128 characters"},
		{"id too long", key, ok(set("id", strings.Repeat("x", 129))), "", 422, "VALIDATION_FAILED", "id", "1 to 128 characters"},
		{"id not a string", key, ok(set("id", 12)), "", 422, "VALIDATION_FAILED", "id", "a string"},
		{"ordering key not a string", key, ok(set("ordering_key", 42)), "", 422, "VALIDATION_FAILED", "ordering_key", "a string"},
		{"empty ordering key", key, ok(set("ordering_key", "")), "", 422, "VALIDATION_FAILED", "ordering_key", "1 to 256 bytes"},
		{"ordering key too long", key, ok(set("ordering_key", strings.Repeat("k", 257))), "", 422, "VALIDATION_FAILED", "ordering_key", "1 to 256 bytes"},
		{"ordering key with a line break", key, ok(set("ordering_key", "cust\n1")), "", 422, "VALIDATION_FAILED", "ordering_key", "control characters"},
		{"bad header", key, ok(func(map[string]any) {}), "a b", 422, "VALIDATION_FAILED", "idempotency_key", "1 to 128 characters"},
		{"header and id differ", key, ok(set("id", "inv-1")), "inv-2", 422, "VALIDATION_FAILED", "id", "differs from the Idempotency-Key header"},
		{"malformed JSON", key, `{"event": "order.shipped", "data": `, "", 400, "INVALID_JSON", "", ""},
		{"body too large", key, ok(set("data", strings.Repeat("x", 5000))), "", 413, "PAYLOAD_TOO_LARGE", "", ""},
		{"key without write:events", readOnly, ok(func(map[string]any) {}), "", 403, "INSUFFICIENT_SCOPE", "", ""},
		{"no credential", "", ok(func(map[string]any) {}), "", 401, "UNAUTHORIZED", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.publish(tt.cred, tt.body, tt.header).must(t, tt.status)
			if r.str("code") != tt.code || r.str("error") == "" {
				t.Fatalf("body %s, want code %s and an error sentence", r.raw, tt.code)
			}
			if tt.field != "" {
				detail := r.str("details." + tt.field)
				if !strings.Contains(detail, tt.says) || !strings.Contains(r.str("error"), tt.says) {
					t.Fatalf("details.%s = %q, want it (and the error) to say %q; body %s", tt.field, detail, tt.says, r.raw)
				}
			}
			if tt.status == 403 && r.body["required_scope"] != "write:events" {
				t.Fatalf("403 body %s, want required_scope write:events", r.raw)
			}
		})
	}
	if got := e.stored(); len(got) != 0 {
		t.Fatalf("refused requests stored %d events", len(got))
	}
}

func TestPublishEventTooLargeForTheStream(t *testing.T) {
	// The body limit lets it in; NATS's 1 MiB message limit does not.
	e := newEventsEnv(t, envOpts{maxBody: 4 << 20})
	tok, _ := e.user("shop@example.com")
	r := e.publish(tok, map[string]any{"event": "report.ready", "data": strings.Repeat("x", 2<<20)}, "").must(t, 413)
	if r.str("code") != "PAYLOAD_TOO_LARGE" || r.header.Get("Retry-After") != "" {
		t.Fatalf("413 %v %s: retrying cannot help, so no Retry-After", r.header, r.raw)
	}
	if got := e.stored(); len(got) != 0 {
		t.Fatalf("EVENTS holds %d messages", len(got))
	}
}

func TestPublishEventWithoutJetStreamIs503(t *testing.T) {
	e := newEventsEnv(t, envOpts{publishTimeout: 300 * time.Millisecond})
	tok, _ := e.user("shop@example.com")
	key := e.key(tok, "write:events")
	e.publish(key, map[string]any{"event": "order.shipped", "data": 1}, "").must(t, 202)

	e.nats.Shutdown()
	e.nats.WaitForShutdown()
	start := time.Now()
	r := e.publish(key, map[string]any{"event": "order.shipped", "data": 2, "id": "o-2"}, "").must(t, 503)
	if r.str("code") != "SERVICE_UNAVAILABLE" || r.header.Get("Retry-After") == "" || !strings.Contains(r.str("error"), "retry") {
		t.Fatalf("503 headers %v body %s, want SERVICE_UNAVAILABLE with Retry-After", r.header, r.raw)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the 503 took %v; the publish timeout is 300ms", d)
	}
}
