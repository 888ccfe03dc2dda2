package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/client"
)

var userSeq atomic.Int64

// signedUp returns a client signed in as a new app user.
func signedUp(t *testing.T, base string) *client.Client {
	t.Helper()
	c, err := client.New(base, "")
	if err != nil {
		t.Fatal(err)
	}
	email := fmt.Sprintf("user%d-%d@example.com", time.Now().UnixNano(), userSeq.Add(1))
	if _, err := c.SignUp(ctx(t), client.SignUpRequest{Email: email, Password: "correct-horse-battery"}); err != nil {
		t.Fatal(err)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func wantError(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *client.Error", err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("error %d %s (%s), want %d %s", e.Status, e.Code, e.Message, status, code)
	}
	if e.RequestID == "" || e.Message == "" {
		t.Errorf("error without request id or message: %+v", e)
	}
	return e
}

func TestAgainstAllInOne(t *testing.T) {
	base := startServer(t)

	t.Run("publishing with a client key reaches a webhook, signed", func(t *testing.T) {
		owner := signedUp(t, base)
		rcv := newReceiver(t)
		hook, err := owner.CreateWebhook(ctx(t), client.WebhookRequest{URL: rcv.URL + "/orders", Events: []string{"order.*"}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hook.Secret, "whsec_") {
			t.Fatalf("generated secret %q", hook.Secret)
		}
		created, err := owner.CreateClientKey(ctx(t), client.CreateClientKeyRequest{Name: "billing", Scopes: []string{"write:events"}, RateLimitPerMinute: 100})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := client.New(base, created.Key)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("order-%d", time.Now().UnixNano())
		first, err := svc.PublishEvent(ctx(t), "order.paid", map[string]any{"order_id": 42}, client.IdempotencyKey(key))
		if err != nil {
			t.Fatal(err)
		}
		again, err := svc.PublishEvent(ctx(t), "order.paid", map[string]any{"order_id": 42}, client.IdempotencyKey(key))
		if err != nil {
			t.Fatal(err)
		}
		if first.Duplicate || !again.Duplicate || again.ID != first.ID {
			t.Fatalf("publish twice with one key: %+v then %+v", first, again)
		}
		d := rcv.next(t, first.ID)
		var p client.Payload
		if err := json.Unmarshal(d.body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Event != "order.paid" || string(p.Data) != `{"order_id":42}` {
			t.Errorf("payload %s", d.body)
		}
		if err := client.VerifyStandard(d.body, d.header, hook.Secret, 0, time.Now()); err != nil {
			t.Errorf("VerifyStandard: %v", err)
		}
		if !client.VerifyFluxbaseSignature(d.body, d.header.Get(client.HeaderFluxbaseSignature), hook.Secret) {
			t.Error("VerifyFluxbaseSignature refused a real delivery")
		}
		if client.VerifyFluxbaseSignature(d.body, d.header.Get(client.HeaderFluxbaseSignature), "whsec_other") {
			t.Error("VerifyFluxbaseSignature accepted another secret")
		}
		_, err = svc.PublishEvent(ctx(t), "user.created", map[string]any{})
		if e := wantError(t, err, http.StatusUnprocessableEntity, "VALIDATION_FAILED"); e.Details["event"] == "" {
			t.Errorf("no details for the reserved event name: %+v", e)
		}

		batch := []client.BatchEvent{{Event: "order.placed", Data: map[string]any{"n": 0}}, {Event: "order.placed", Data: map[string]any{"n": 1}, ID: key + "-b"}}
		results, err := svc.PublishEvents(ctx(t), batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 2 || results[0].ID == "" || results[1].Duplicate {
			t.Fatalf("PublishEvents: %+v", results)
		}
		// The keyed event is stored on its own, not in the batch's order:
		// take the two deliveries as they come.
		seen := map[string]string{}
		for deadline := time.After(15 * time.Second); len(seen) < len(results); {
			select {
			case d := <-rcv.got:
				for _, r := range results {
					if bytes.Contains(d.body, []byte(r.ID)) {
						seen[r.ID] = string(d.body)
					}
				}
			case <-deadline:
				t.Fatalf("batch: delivered %d of %d events within 15 s", len(seen), len(results))
			}
		}
		for i, r := range results {
			if !strings.Contains(seen[r.ID], fmt.Sprintf(`"data":{"n":%d}`, i)) {
				t.Errorf("batch event %d delivered as %s", i, seen[r.ID])
			}
		}
		_, err = svc.PublishEvents(ctx(t), []client.BatchEvent{batch[0], {Event: "user.created", Data: 1}})
		if e := wantError(t, err, http.StatusUnprocessableEntity, "VALIDATION_FAILED"); e.Details["events[1].event"] == "" {
			t.Errorf("no details for the batch's reserved event name: %+v", e)
		}
	})

	t.Run("client keys: create, list, get, update, revoke, delete", func(t *testing.T) {
		c := signedUp(t, base)
		created, err := c.CreateClientKey(ctx(t), client.CreateClientKeyRequest{Name: "svc", Scopes: []string{"read:webhooks"}, RateLimitPerMinute: 60})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(created.Key, created.ClientKey.KeyPrefix) || len(created.Key) != 47 {
			t.Errorf("key %q, prefix %q", created.Key, created.ClientKey.KeyPrefix)
		}
		id := created.ClientKey.ID
		keys, err := c.ListClientKeys(ctx(t))
		if err != nil || len(keys) != 1 || keys[0].ID != id {
			t.Fatalf("ListClientKeys = %+v, %v", keys, err)
		}
		k, err := c.UpdateClientKey(ctx(t), id, client.UpdateClientKeyRequest{RateLimitPerMinute: ptr(120)})
		if err != nil || k.RateLimitPerMinute != 120 || k.Name != "svc" {
			t.Fatalf("UpdateClientKey = %+v, %v", k, err)
		}
		if err := c.RevokeClientKey(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		if k, err := c.GetClientKey(ctx(t), id); err != nil || k.RevokedAt == nil {
			t.Fatalf("after revoke: %+v, %v", k, err)
		}
		wantError(t, c.RevokeClientKey(ctx(t), id), http.StatusConflict, "ALREADY_REVOKED")
		revoked, _ := client.New(base, created.Key)
		_, err = revoked.ListWebhooks(ctx(t))
		wantError(t, err, http.StatusUnauthorized, "INVALID_CLIENT_KEY")
		if err := c.DeleteClientKey(ctx(t), id); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetClientKey(ctx(t), id)
		wantError(t, err, http.StatusNotFound, "NOT_FOUND")
	})

	t.Run("webhooks: test, deliveries, rotation overlap", func(t *testing.T) {
		c, err := client.New(base, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AdminLogin(ctx(t), adminEmail, adminPassword); err != nil {
			t.Fatal(err)
		}
		rcv := newReceiver(t)
		hook, err := c.CreateWebhook(ctx(t), client.WebhookRequest{URL: rcv.URL, Events: []string{"user.updated"}, Secret: ptr("old-secret-123"), Description: ptr("d")})
		if err != nil {
			t.Fatal(err)
		}
		off, err := c.UpdateWebhook(ctx(t), hook.ID, client.WebhookRequest{IsActive: ptr(false)})
		if err != nil || off.IsActive || *off.Description != "d" {
			t.Fatalf("UpdateWebhook = %+v, %v", off, err)
		}
		newSecret, err := c.RotateSecret(ctx(t), hook.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.TestWebhook(ctx(t), hook.ID)
		if err != nil || !res.Success || *res.StatusCode != 200 {
			t.Fatalf("TestWebhook = %+v, %v", res, err)
		}
		d := rcv.next(t, "webhook.test")
		if n := len(strings.Fields(d.header.Get(client.HeaderWebhookSignature))); n != 2 {
			t.Errorf("%d signatures during the rotation overlap, want 2", n)
		}
		for _, secret := range []string{"old-secret-123", newSecret} {
			req, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(string(d.body)))
			req.Header = d.header
			if _, err := client.VerifyRequest(req, secret); err != nil {
				t.Errorf("VerifyRequest with %q: %v", secret, err)
			}
		}
		dels, err := c.ListDeliveries(ctx(t), hook.ID, 10)
		if err != nil || len(dels) != 1 || dels[0].Event != "webhook.test" || dels[0].Status != "delivered" {
			t.Fatalf("ListDeliveries = %+v, %v", dels, err)
		}
		// The webhook is disabled: a replay is refused until it is enabled.
		_, err = c.Replay(ctx(t), hook.ID, client.ReplayRequest{Since: time.Now().Add(-time.Minute)})
		wantError(t, err, http.StatusConflict, "WEBHOOK_DISABLED")
		if _, err := c.UpdateWebhook(ctx(t), hook.ID, client.WebhookRequest{IsActive: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		rp, err := c.Replay(ctx(t), hook.ID, client.ReplayRequest{Since: time.Now().Add(-time.Minute), Status: "missed"})
		if err != nil || rp.Kind != "replay" || !rp.IncludesMissed || rp.Status != "missed" {
			t.Fatalf("Replay = %+v, %v", rp, err)
		}
		if got, err := c.GetReplay(ctx(t), hook.ID, rp.ID); err != nil || got.ID != rp.ID {
			t.Fatalf("GetReplay = %+v, %v", got, err)
		}
		if list, err := c.ListReplays(ctx(t), hook.ID); err != nil || len(list) != 1 {
			t.Fatalf("ListReplays = %+v, %v", list, err)
		}
		// Cancelled, unless it finished first (it has nothing to send).
		if cr, err := c.CancelReplay(ctx(t), hook.ID, rp.ID); err != nil && client.ErrorCode(err) != "REPLAY_FINISHED" || err == nil && cr.State != "cancelled" {
			t.Fatalf("CancelReplay = %+v, %v", cr, err)
		}
		if rf, err := c.RetryFailed(ctx(t), hook.ID); err != nil || rf.Kind != "retry_failed" {
			t.Fatalf("RetryFailed = %+v, %v", rf, err)
		}
		if err := c.DeleteWebhook(ctx(t), hook.ID); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetWebhook(ctx(t), hook.ID)
		wantError(t, err, http.StatusNotFound, "NOT_FOUND")
	})

	// Refresh tokens rotate and a reused one ends the session: concurrent
	// calls must share one refresh (every call refreshes here, see
	// startServer).
	t.Run("concurrent calls share one refresh", func(t *testing.T) {
		c := signedUp(t, base)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.CurrentUser(ctx(t))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.CurrentUser(ctx(t)); err != nil {
			t.Fatalf("the session after concurrent refreshes: %v", err)
		}
	})

	t.Run("a 401 for the access token is refreshed and retried once", func(t *testing.T) {
		c := signedUp(t, base)
		s := c.Session()
		// A token the server refuses while the client believes it fresh,
		// as after an expiry the client did not foresee.
		s.AccessToken = "eyJhbGciOiJIUzI1NiJ9.e30.invalid"
		s.ExpiresAt = time.Now().Add(time.Hour)
		c.SetSession(s)
		if _, err := c.CurrentUser(ctx(t)); err != nil {
			t.Fatal(err)
		}
		if c.Session().AccessToken == s.AccessToken {
			t.Error("the access token was not replaced")
		}
	})

	t.Run("errors", func(t *testing.T) {
		c, _ := client.New(base, "")
		_, err := c.SignIn(ctx(t), "nobody@example.com", "wrong-password-1")
		wantError(t, err, http.StatusUnauthorized, "INVALID_CREDENTIALS")
		_, err = c.ListWebhooks(ctx(t))
		wantError(t, err, http.StatusUnauthorized, "UNAUTHORIZED")
		if client.ErrorStatus(err) != 401 || client.ErrorCode(err) != "UNAUTHORIZED" {
			t.Errorf("ErrorStatus/ErrorCode = %d %q", client.ErrorStatus(err), client.ErrorCode(err))
		}
	})
}

func TestNewRefusesRelativeURL(t *testing.T) {
	for _, u := range []string{"localhost:8080", "/api", "ftp://x"} {
		if _, err := client.New(u, ""); err == nil {
			t.Errorf("New(%q) succeeded", u)
		}
	}
}
