package store_test

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

func intp(n int) *int { return &n }

func newWebhook(userID, url string) *fluxhook.Webhook {
	return &fluxhook.Webhook{UserID: userID, URL: url, Events: []string{"user.created", "user.*"}, IsActive: true, SecretEnc: []byte("sealed:" + url)}
}

func checkWebhook(t *testing.T, got, want *fluxhook.Webhook) {
	t.Helper()
	sameInt := (got.RateLimitPerSecond == nil) == (want.RateLimitPerSecond == nil) &&
		(got.RateLimitPerSecond == nil || *got.RateLimitPerSecond == *want.RateLimitPerSecond)
	if got.ID != want.ID || got.UserID != want.UserID || got.URL != want.URL || !slices.Equal(got.Events, want.Events) ||
		!sameStr(got.Description, want.Description) || got.IsActive != want.IsActive || !sameInt ||
		!maps.Equal(got.Headers, want.Headers) || (got.Headers == nil) != (want.Headers == nil) ||
		!sameStr(got.DisabledReason, want.DisabledReason) || !sameStr(got.Filter, want.Filter) || got.Ordering != want.Ordering || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
		!bytes.Equal(got.SecretEnc, want.SecretEnc) || !bytes.Equal(got.PrevSecretEnc, want.PrevSecretEnc) ||
		(got.PrevSecretEnc == nil) != (want.PrevSecretEnc == nil) ||
		!sameTime(got.PrevSecretExpires, want.PrevSecretExpires) || !sameTime(got.FailingSince, want.FailingSince) {
		t.Fatalf("webhook\n got %+v\nwant %+v", got, want)
	}
}

func TestWebhooks(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		ada := mustUser(t, db, "ada@example.com")
		bob := mustUser(t, db, "bob@example.com")

		// Every optional field nil (and an empty header map, stored as NULL).
		bare := newWebhook(ada.ID, "https://a.example/bare")
		bare.Headers = map[string]string{}
		if err := db.CreateWebhook(ctx, bare); err != nil {
			t.Fatal(err)
		}
		if bare.ID == "" || !bare.CreatedAt.Equal(micro(c.Now())) || !bare.UpdatedAt.Equal(bare.CreatedAt) {
			t.Fatalf("CreateWebhook did not fill in id and times: %+v", bare)
		}
		got, err := db.Webhook(ctx, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		bare.Headers = nil
		checkWebhook(t, got, bare)

		// Every optional field set, with an id chosen by the caller.
		c.Advance(time.Second)
		full := newWebhook(ada.ID, "https://a.example/full")
		full.ID = store.NewID()
		presetID := full.ID
		full.Description = strp("orders to the ERP")
		full.IsActive = false
		full.RateLimitPerSecond = intp(25)
		full.Headers = map[string]string{"X-Tenant": "acme", "Authorization": "Bearer t"}
		full.DisabledReason = strp("too many failures")
		full.Filter = strp(`data.amount > 100 && data.currency == "EUR"`)
		full.Ordering = fluxhook.OrderingFIFO
		full.PrevSecretEnc = []byte("sealed-old")
		full.PrevSecretExpires = timep(c.Now().Add(24 * time.Hour))
		full.FailingSince = timep(c.Now().Add(-time.Hour))
		if err := db.CreateWebhook(ctx, full); err != nil {
			t.Fatal(err)
		}
		if full.ID != presetID {
			t.Fatalf("CreateWebhook replaced the caller's id %s with %s", presetID, full.ID)
		}
		got, err = db.Webhook(ctx, full.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkWebhook(t, got, full)
		if err := db.CreateWebhook(ctx, newWebhookWithID(full.ID, bob.ID)); fluxhook.ErrorKind(err) != fluxhook.KindConflict {
			t.Fatalf("duplicate id: err = %v, want conflict", err)
		}

		c.Advance(time.Second)
		bobs := newWebhook(bob.ID, "https://b.example/hook")
		bobs.Filter = strp(`event == "user.created"`) // the dispatcher reads filters from ActiveWebhooks
		if err := db.CreateWebhook(ctx, bobs); err != nil {
			t.Fatal(err)
		}

		ids := func(hooks []*fluxhook.Webhook) []string {
			var out []string
			for _, w := range hooks {
				out = append(out, w.ID)
			}
			return out
		}
		all, err := db.ListWebhooks(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{bobs.ID, full.ID, bare.ID}; !slices.Equal(ids(all), want) {
			t.Fatalf("ListWebhooks(all) = %v, want %v", ids(all), want)
		}
		checkWebhook(t, all[1], full)
		mine, err := db.ListWebhooks(ctx, ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{full.ID, bare.ID}; !slices.Equal(ids(mine), want) {
			t.Fatalf("ListWebhooks(ada) = %v, want %v", ids(mine), want)
		}
		for _, uid := range []string{store.NewID(), "not-a-uuid"} {
			none, err := db.ListWebhooks(ctx, uid)
			if err != nil || none == nil || len(none) != 0 {
				t.Fatalf("ListWebhooks(%q) = %v, %v; want an empty, non-nil slice", uid, none, err)
			}
		}

		// Only active webhooks are dispatched to, each with its owner's role.
		active, err := db.ActiveWebhooks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(active) != 2 || active[0].ID != bare.ID || active[1].ID != bobs.ID {
			t.Fatalf("ActiveWebhooks = %+v, want bare then bobs", active)
		}
		checkWebhook(t, active[1].Webhook, bobs)
		if active[0].OwnerRole != fluxhook.RoleUser {
			t.Fatalf("owner role = %q", active[0].OwnerRole)
		}
		bob.Role = fluxhook.RoleDashboardAdmin
		if err := db.UpdateUser(ctx, bob); err != nil {
			t.Fatal(err)
		}
		if active, err = db.ActiveWebhooks(ctx); err != nil || active[1].OwnerRole != fluxhook.RoleDashboardAdmin {
			t.Fatalf("ActiveWebhooks after promoting bob: %+v (%v)", active, err)
		}

		// Update: clear every optional field of one, set them on the other.
		c.Advance(time.Minute)
		full.URL = "https://a.example/full2"
		full.Events = []string{"*"}
		full.Description, full.RateLimitPerSecond, full.Headers, full.DisabledReason, full.Filter = nil, nil, nil, nil, nil
		full.Ordering = ""
		full.PrevSecretEnc, full.PrevSecretExpires, full.FailingSince = nil, nil, nil
		full.SecretEnc = []byte("sealed-new")
		full.IsActive = true
		if err := db.UpdateWebhook(ctx, full); err != nil {
			t.Fatal(err)
		}
		if !full.UpdatedAt.Equal(micro(c.Now())) {
			t.Fatalf("UpdatedAt = %v, want %v", full.UpdatedAt, c.Now())
		}
		got, err = db.Webhook(ctx, full.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkWebhook(t, got, full)

		bare.Description = strp("described")
		bare.RateLimitPerSecond = intp(1)
		bare.Headers = map[string]string{"X-A": "1"}
		bare.DisabledReason = strp("endpoint gone")
		bare.Filter = strp("has(data.plan) &&\n  data.plan in ['pro', 'team']")
		bare.Ordering = fluxhook.OrderingFIFO
		bare.IsActive = false
		bare.PrevSecretEnc = []byte{0, 1, 2}
		bare.PrevSecretExpires = timep(c.Now().Add(time.Hour))
		bare.FailingSince = timep(c.Now())
		if err := db.UpdateWebhook(ctx, bare); err != nil {
			t.Fatal(err)
		}
		got, err = db.Webhook(ctx, bare.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkWebhook(t, got, bare)
		active, err = db.ActiveWebhooks(ctx)
		if err != nil || len(active) != 2 || active[0].ID != full.ID || active[1].ID != bobs.ID {
			t.Fatalf("ActiveWebhooks after toggling = %+v (%v)", active, err)
		}

		// Unknown and malformed ids.
		for _, id := range []string{store.NewID(), "not-a-uuid", ""} {
			if _, err := db.Webhook(ctx, id); !fluxhook.IsNotFound(err) {
				t.Errorf("Webhook(%q): err = %v, want not found", id, err)
			}
			if err := db.UpdateWebhook(ctx, newWebhookWithID(id, ada.ID)); !fluxhook.IsNotFound(err) {
				t.Errorf("UpdateWebhook(%q): err = %v, want not found", id, err)
			}
			if err := db.DeleteWebhook(ctx, id); !fluxhook.IsNotFound(err) {
				t.Errorf("DeleteWebhook(%q): err = %v, want not found", id, err)
			}
		}

		if err := db.DeleteWebhook(ctx, bare.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteWebhook(ctx, bare.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("second delete: err = %v, want not found", err)
		}
		if err := db.UpdateWebhook(ctx, bare); !fluxhook.IsNotFound(err) {
			t.Fatalf("update of a deleted webhook: err = %v, want not found", err)
		}

		// Deleting a user deletes their webhooks.
		if err := db.DeleteUser(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Webhook(ctx, bobs.ID); !fluxhook.IsNotFound(err) {
			t.Fatalf("webhook survived its user: %v", err)
		}
		active, err = db.ActiveWebhooks(ctx)
		if err != nil || len(active) != 1 || active[0].ID != full.ID {
			t.Fatalf("ActiveWebhooks after deleting bob = %+v (%v)", active, err)
		}
	})
}

func TestActiveWebhooksEmpty(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		active, err := db.ActiveWebhooks(context.Background())
		if err != nil || active == nil || len(active) != 0 {
			t.Fatalf("ActiveWebhooks = %v, %v; want an empty, non-nil slice", active, err)
		}
	})
}

func newWebhookWithID(id, userID string) *fluxhook.Webhook {
	w := newWebhook(userID, "https://x.example/")
	w.ID = id
	return w
}

// TestWebhookFailing: the start of a run of failures is kept when a later
// start is noted (workers race to note the same run); nil ends the run.
func TestWebhookFailing(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		ada := mustUser(t, db, "ada@example.com")
		w := newWebhook(ada.ID, "https://a.example/failing")
		if err := db.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		first := micro(c.Now().Add(-time.Minute))
		failingSince := func() *time.Time {
			t.Helper()
			got, err := db.Webhook(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.FailingSince
		}
		for i, at := range []time.Time{first, first.Add(30 * time.Second)} {
			started, err := db.SetWebhookFailing(ctx, w.ID, &at)
			if err != nil {
				t.Fatal(err)
			}
			if started != (i == 0) {
				t.Errorf("noting %v: started %v, want %v (only the first note starts the run)", at, started, i == 0)
			}
			if got := failingSince(); got == nil || !got.Equal(first) {
				t.Fatalf("after noting %v: failing since %v, want %v", at, got, first)
			}
		}
		if _, err := db.SetWebhookFailing(ctx, w.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got := failingSince(); got != nil {
			t.Fatalf("after a success: failing since %v, want nil", got)
		}
		if _, err := db.SetWebhookFailing(ctx, store.NewID(), nil); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown webhook: %v, want not found", err)
		}
		if _, err := db.SetWebhookFailing(ctx, store.NewID(), &first); !fluxhook.IsNotFound(err) {
			t.Fatalf("unknown webhook, noting a failure: %v, want not found", err)
		}
		for i, reason := range []string{"410 Gone", "failing for 5 days"} {
			disabled, err := db.DisableWebhook(ctx, w.ID, reason)
			if err != nil || disabled != (i == 0) {
				t.Fatalf("disable #%d: %v, %v; want %v, nil (only the first turns it off)", i+1, disabled, err, i == 0)
			}
		}
		if got, _ := db.Webhook(ctx, w.ID); got.IsActive || got.DisabledReason == nil || *got.DisabledReason != "410 Gone" {
			t.Fatalf("after two disables: %+v, want off with the first reason", got)
		}
		if _, err := db.DisableWebhook(ctx, store.NewID(), "x"); !fluxhook.IsNotFound(err) {
			t.Fatalf("disabling an unknown webhook: %v, want not found", err)
		}
	})
}
