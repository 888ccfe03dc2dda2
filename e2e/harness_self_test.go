package e2e

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/fluxhook/fluxhook/internal/signing"
	"github.com/fluxhook/fluxhook/internal/testenv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// TestHarness checks the pieces of the harness that work without the
// delivery pipeline: the nats-server binary and its restart, an api
// process against it (ready, signs users up, survives a NATS restart, a
// SIGKILL and a restart, stops with status 0 on SIGTERM), the management
// helpers, the receiver's verification, and the private PostgreSQL.
func TestHarness(t *testing.T) {
	skipShort(t)
	dbURL := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	start := time.Now()
	binaries(t)
	t.Logf("binaries ready in %v", time.Since(start).Round(time.Millisecond))

	nats := StartNATS(t)
	out := nats.Restart(500 * time.Millisecond)
	t.Logf("nats-server restarted (down %v)", out.Up.Sub(out.Down).Round(time.Millisecond))

	env := commonEnv("")
	env["FLUXHOOK_DATABASE_URL"] = dbURL
	env["FLUXHOOK_NATS_URL"] = nats.URL
	env["FLUXHOOK_REDIS_URL"] = redisURL
	api := StartProc(t, "api", env)

	email := testenv.Unique("harness") + "@example.com"
	if id, access := SignUp(t, api.API, email); id == "" || access == "" {
		t.Fatalf("sign-up returned no user id or token")
	}
	SignIn(t, api.API, email)
	admin := AdminLogin(t, api.API)
	rcv := NewReceiver(t, webhookSecret)
	if id := CreateWebhook(t, api.API, admin, WebhookSpec{URL: rcv.URL, Secret: rcv.Secret}); id == "" {
		t.Fatal("create webhook: no id")
	}
	key := CreateClientKey(t, api.API, admin, "write:events")
	id := newIDs(1)[0]
	st, body := Publish(t, api.API, key, "e2e.harness", id, map[string]any{"e2e": id})
	t.Logf("POST /api/v1/events answers %d %v (the scenarios need 202)", st, body)

	selfCheckReceiver(t, rcv)

	// The api against a restarted NATS: unready while it is down, ready
	// again by itself.
	nats.Restart(time.Second)
	waitFor(t, 30*time.Second, api.Ready, "the api is ready again after a NATS restart")

	// SIGKILL, restart on the same addresses, SIGTERM with status 0.
	api.Kill()
	if api.Alive() {
		t.Fatal("the api survived SIGKILL")
	}
	api.Restart()
	SignIn(t, api.API, email)
	api.Stop()

	// The private PostgreSQL: up, restarted, up again.
	pg := StartPostgres(t)
	pgPing(t, pg.URL)
	o := pg.Restart(time.Second)
	pgPing(t, pg.URL)
	t.Logf("private PostgreSQL restarted (down %v)", o.Up.Sub(o.Down).Round(time.Millisecond))
}

func pgPing(t *testing.T, url string) {
	t.Helper()
	ctx := testenv.Context(t, 30*time.Second)
	var err error
	for ctx.Err() == nil {
		var conn *pgx.Conn
		if conn, err = pgx.Connect(ctx, url); err == nil {
			var one int
			err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
			conn.Close(ctx)
			if err == nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("PostgreSQL at %s: %v", url, err)
}

// selfCheckReceiver posts signed requests to the receiver: what the
// engine must send is accepted, and each way of getting it wrong is
// refused and counted.
func selfCheckReceiver(t *testing.T, rcv *Receiver) {
	t.Helper()
	var tamper func(http.Header)
	post := func(body []byte, secret, msgID, contentType string) int {
		t.Helper()
		h := http.Header{}
		signing.Sign(h, []string{secret}, msgID, time.Now(), body)
		if tamper != nil {
			tamper(h)
		}
		req, _ := http.NewRequestWithContext(context.Background(), "POST", rcv.URL, bytes.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", contentType)
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	tag := uuid.NewString()
	good, err := jsjson.Marshal(map[string]any{"id": tag, "event": "e2e.selfcheck", "timestamp": time.Now().UTC(),
		"data": map[string]any{"e2e": tag, "html": "<b>&</b>", "sep": "\u2028", "10": 1, "n": 1.5}})
	if err != nil {
		t.Fatal(err)
	}
	rcv.Reset()
	if st := post(good, rcv.Secret, "msg_1", "application/json"); st != 200 {
		t.Fatalf("a correctly signed canonical body was answered %d", st)
	}
	if n, problems := rcv.SigFailures(); n != 0 || rcv.Distinct("e2e.selfcheck") != 1 {
		t.Fatalf("the receiver rejected a correct request: %v", problems)
	}

	// Refused: another secret; a body that is not what JSON.stringify
	// yields (the X-Fluxbase-Signature of the raw bytes then differs from
	// the Express handler's); a Content-Type express.json() ignores.
	nonCanonical := []byte(`{"event": "e2e.selfcheck", "data": {"b": "<\u2028>", "a": 1.0}}`)
	for _, c := range []struct {
		name, secret, ct string
		body             []byte
	}{
		{"other secret", signing.NewSecret(), "application/json", good},
		{"non-canonical body", rcv.Secret, "application/json", nonCanonical},
		{"text/plain", rcv.Secret, "text/plain", good},
	} {
		if st := post(c.body, c.secret, "msg_2", c.ct); st != http.StatusUnauthorized {
			t.Errorf("%s: answered %d, want 401", c.name, st)
		}
	}
	// Standard Webhooks is checked as well: a stale timestamp, another id.
	for name, f := range map[string]func(http.Header){
		"stale timestamp": func(h http.Header) { h.Set(signing.HeaderTimestamp, "1600000000") },
		"other id":        func(h http.Header) { h.Set(signing.HeaderID, "msg_other") },
	} {
		tamper = f
		if st := post(good, rcv.Secret, "msg_3", "application/json"); st != http.StatusUnauthorized {
			t.Errorf("%s: answered %d, want 401", name, st)
		}
	}
	tamper = nil
	if n, problems := rcv.SigFailures(); n != 5 {
		t.Errorf("%d signature failures counted, want 5: %v", n, problems)
	} else {
		t.Logf("the receiver refuses: %q", problems)
	}

	// FailFirst counts per webhook-id.
	rcv.Reset()
	rcv.FailFirst(2)
	var got []int
	for range 3 {
		got = append(got, post(good, rcv.Secret, "msg_retry", "application/json"))
	}
	if st := post(good, rcv.Secret, "msg_other", "application/json"); st != 500 {
		t.Errorf("another delivery's first request answered %d, want 500", st)
	}
	rcv.FailFirst(0)
	reqs := rcv.Find(func(q Request) bool { return q.WebhookID == "msg_retry" })
	if len(got) != 3 || got[0] != 500 || got[1] != 500 || got[2] != 200 || len(reqs) != 3 || reqs[2].Attempt != 3 {
		t.Errorf("fail-first-2: answers %v, %d requests recorded", got, len(reqs))
	}
	if rcv.Duplicates() != 0 || rcv.DeliveredCount() != 1 {
		t.Errorf("duplicates %d, delivered %d; want 0 and 1", rcv.Duplicates(), rcv.DeliveredCount())
	}
	if post(good, rcv.Secret, "msg_again", "application/json") != 200 || rcv.Duplicates() != 1 {
		t.Errorf("a repeated event is not counted as a duplicate (%d)", rcv.Duplicates())
	}
	rcv.Reset()
}
