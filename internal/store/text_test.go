package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

// wantRefused fails unless err is a validation error whose details name
// field with a message containing want.
func wantRefused(t *testing.T, err error, field, want string) {
	t.Helper()
	var fe *fluxhook.Error
	if !errors.As(err, &fe) || fe.Kind != fluxhook.KindInvalid || !strings.Contains(fe.Details[field], want) {
		t.Fatalf("err = %v, want a validation error on %s containing %q", err, field, want)
	}
}

// TestTextThePostgreSQLCannotHoldIsRefusedByBothStores: a NUL in any text
// field or JSON value (and, in JSON, an unpaired surrogate escape or a
// number out of range) is refused as invalid, naming the field, by SQLite
// as by PostgreSQL; nothing is written. What PostgreSQL can hold is kept
// as given.
func TestTextThePostgreSQLCannotHoldIsRefusedByBothStores(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()

		// Users: name, email, metadata (at create and update).
		u := newUser("nul@example.com")
		u.Name = "Ada\x00Lovelace"
		wantRefused(t, db.CreateUser(ctx, u), "name", "NUL")
		if _, err := db.UserByEmail(ctx, "nul@example.com"); !fluxhook.IsNotFound(err) {
			t.Fatalf("a refused user was stored: %v", err)
		}
		for _, tc := range []struct{ meta, want string }{
			{`{"note":"a\u0000b"}`, "NUL character (\\u0000) (at metadata.note)"},
			{`{"tags":["ok","\u0000"]}`, "(at metadata.tags[1])"},
			{`{"a\u0000":1}`, "in a key of metadata"},
			{`{"a":"\ud800"}`, "unpaired UTF-16 surrogate"},
			{`{"a":"\udc00\ud83d\ude00"}`, "unpaired UTF-16 surrogate"},
			{`{"a":1e-20000}`, "range of a 64-bit float (at metadata.a)"},
			{`{"a":1e400}`, "range of a 64-bit float"},
			{"{\"a\":\"\xff\"}", "valid UTF-8"},
		} {
			u := newUser("meta@example.com")
			u.Metadata = json.RawMessage(tc.meta)
			wantRefused(t, db.CreateUser(ctx, u), "metadata", tc.want)
		}
		ok := newUser("ok@example.com")
		ok.Metadata = json.RawMessage(`{"smile":"\ud83d\ude00","literal":"\\u0000","zero":0.0e-5,"tiny":5e-324}`)
		if err := db.CreateUser(ctx, ok); err != nil {
			t.Fatalf("storable metadata refused: %v", err)
		}
		got, err := db.UserByEmail(ctx, "ok@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(got.Metadata, &m); err != nil || m["smile"] != "😀" || m["literal"] != `\u0000` {
			t.Fatalf("metadata read back as %s (%v)", got.Metadata, err)
		}
		ok.Email = "ok\x00@example.com"
		wantRefused(t, db.UpdateUser(ctx, ok), "email", "NUL")
		ok.Email, ok.Name = "ok@example.com", "bad\xffbyte"
		wantRefused(t, db.UpdateUser(ctx, ok), "name", "valid UTF-8")
		if _, err := db.UserByEmail(ctx, "ok\x00@example.com"); !fluxhook.IsNotFound(err) {
			t.Fatalf("lookup by an address with a NUL: err = %v, want not found", err)
		}

		// Client keys: name, description (at create and update).
		owner := mustUser(t, db, "keys@example.com")
		k := newKey(owner.ID, "svc")
		k.Description = strp("line\x00two")
		wantRefused(t, db.CreateClientKey(ctx, k), "description", "NUL")
		k = newKey(owner.ID, "sv\x00c")
		wantRefused(t, db.CreateClientKey(ctx, k), "name", "NUL")
		k = newKey(owner.ID, "svc")
		if err := db.CreateClientKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		k.Description = strp("\x00")
		wantRefused(t, db.UpdateClientKey(ctx, k), "description", "NUL")

		// Webhooks: description, headers, events, url.
		w := newWebhook(owner.ID, "https://example.com/hook")
		w.Description = strp("hello\x00")
		wantRefused(t, db.CreateWebhook(ctx, w), "description", "NUL")
		w = newWebhook(owner.ID, "https://example.com/hook")
		w.Headers = map[string]string{"X-Team": "a\x00b"}
		wantRefused(t, db.CreateWebhook(ctx, w), "headers", "(at headers.X-Team)")
		w = newWebhook(owner.ID, "https://example.com/hook")
		w.Events = []string{"user.created", "order\x00.paid"}
		wantRefused(t, db.CreateWebhook(ctx, w), "events", "(at events[1])")
		w = newWebhook(owner.ID, "https://example.com/hook")
		if err := db.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		w.URL = "https://example.com/\x00"
		wantRefused(t, db.UpdateWebhook(ctx, w), "url", "NUL")
		if hooks, err := db.ListWebhooks(ctx, owner.ID); err != nil || len(hooks) != 1 || hooks[0].URL != "https://example.com/hook" {
			t.Fatalf("webhooks after refused writes: %v %v", hooks, err)
		}

		// Invitations: email.
		wantRefused(t, db.CreateInvitation(ctx, newInvitation("in\x00vite@example.com", "t1", c.Now().Add(time.Hour))), "email", "NUL")
		if n, err := db.DeletePendingInvitations(ctx, "in\x00vite@example.com"); err != nil || n != 0 {
			t.Fatalf("DeletePendingInvitations with a NUL: %d, %v", n, err)
		}
	})
}
