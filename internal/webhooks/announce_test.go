package webhooks_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// outboxEvents returns the events waiting in the outbox, as the relay
// will publish them, and marks them published so the next call sees
// only new ones.
func (f *fixture) outboxEvents(t *testing.T) []fluxhook.Event {
	t.Helper()
	ctx := context.Background()
	pending, err := f.db.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []fluxhook.Event
	var ids []string
	for _, oe := range pending {
		out = append(out, oe.Event)
		ids = append(ids, oe.Event.ID)
	}
	if err := f.db.MarkOutboxPublished(ctx, ids, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHealthAndRotationAreAnnouncedAsEvents: a run of failures starting,
// the webhook being turned off and its secret rotated each write one
// operational event with the change, for the webhook's owner, without
// any secret in it; a repeat that changes nothing writes none.
func TestHealthAndRotationAreAnnouncedAsEvents(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		w, secret := f.create(t, f.ada, "https://hooks.example.com/in", "user.created")
		f.outboxEvents(t) // whatever creating the users wrote

		check := func(what, event string, want map[string]any) {
			t.Helper()
			got := f.outboxEvents(t)
			if len(got) != 1 || got[0].Event != event {
				t.Fatalf("%s: outbox holds %+v, want one %s", what, got, event)
			}
			e := got[0]
			if e.UserID != f.ada.UserID {
				t.Errorf("%s: event for user %q, want the owner %q", what, e.UserID, f.ada.UserID)
			}
			if strings.Contains(string(e.Data), secret) || strings.Contains(string(e.Data), "whsec_") {
				t.Errorf("%s: the event holds a secret: %s", what, e.Data)
			}
			var data map[string]any
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatal(err)
			}
			want["webhook_id"], want["url"] = w.ID, w.URL
			for k, v := range want {
				if data[k] != v {
					t.Errorf("%s: data[%q] = %v, want %v (data %s)", what, k, data[k], v, e.Data)
				}
			}
		}
		none := func(what string) {
			t.Helper()
			if got := f.outboxEvents(t); len(got) != 0 {
				t.Fatalf("%s: outbox holds %+v, want nothing", what, got)
			}
		}

		since := f.clock.Now().UTC()
		if err := f.hooks.MarkFailing(ctx, w.ID, &since); err != nil {
			t.Fatal(err)
		}
		check("a run of failures starting", fluxhook.EventWebhookFailing, map[string]any{"failing_since": since.Format(time.RFC3339Nano)})
		later := since.Add(time.Minute)
		if err := f.hooks.MarkFailing(ctx, w.ID, &later); err != nil {
			t.Fatal(err)
		}
		none("the same run noted again")
		if err := f.hooks.MarkFailing(ctx, w.ID, nil); err != nil {
			t.Fatal(err)
		}
		none("a success ending the run")

		before := f.clock.Now().UTC()
		if _, err := f.hooks.RotateSecret(ctx, f.ada, w.ID, nil); err != nil {
			t.Fatal(err)
		}
		check("a rotation", fluxhook.EventWebhookSecretRotated, map[string]any{
			"rotated_at": before.Format(time.RFC3339Nano), "previous_secret_expires_at": before.Add(24 * time.Hour).Format(time.RFC3339Nano)})

		if err := f.hooks.Disable(ctx, w.ID, "the endpoint answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
		check("turned off", fluxhook.EventWebhookDisabled, map[string]any{"reason": "the endpoint answered 410 Gone"})
		if err := f.hooks.Disable(ctx, w.ID, "failing for 5 days"); err != nil {
			t.Fatal(err)
		}
		none("turned off again")
	})
}
