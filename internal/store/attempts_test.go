package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
)

func newAttempt(webhookID, deliveryID string, n int, at time.Time) *fluxhook.Attempt {
	return &fluxhook.Attempt{DeliveryID: deliveryID, WebhookID: webhookID, EventID: store.NewID(), Event: "user.created",
		Payload: json.RawMessage(`{"id":"e1","data":{"n":` + fmt.Sprint(n) + `}}`), Status: fluxhook.DeliveryRetrying, Attempt: n, CreatedAt: at}
}

func checkAttempt(t *testing.T, got, want *fluxhook.Attempt) {
	t.Helper()
	sameInt := func(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if got.ID != want.ID || got.DeliveryID != want.DeliveryID || got.WebhookID != want.WebhookID || got.EventID != want.EventID ||
		got.Event != want.Event || !bytes.Equal(got.Payload, want.Payload) || got.Status != want.Status || got.Attempt != want.Attempt ||
		!sameInt(got.StatusCode, want.StatusCode) || !sameStr(got.ResponseBody, want.ResponseBody) || !sameStr(got.Error, want.Error) ||
		!sameInt(got.DurationMS, want.DurationMS) || !got.CreatedAt.Equal(want.CreatedAt) ||
		!sameTime(got.DeliveredAt, want.DeliveredAt) || !sameTime(got.NextAttemptAt, want.NextAttemptAt) {
		t.Fatalf("attempt\n got %+v\nwant %+v", got, want)
	}
}

func attemptIDs(as []*fluxhook.Attempt) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func TestAttemptsRoundTrip(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook, delivery := store.NewID(), store.NewID()

		// Every optional field nil, id and time left to the store.
		bare := &fluxhook.Attempt{DeliveryID: delivery, WebhookID: webhook, EventID: store.NewID(), Event: "auth.login",
			Payload: json.RawMessage(`{}`), Status: fluxhook.DeliveryRetrying, Attempt: 1}
		// Every field set; the payload keeps its exact bytes (spacing, key
		// order, escapes, U+2028) because it is what was signed and sent.
		at := c.Now().Add(time.Second)
		delivered, next := at.Add(time.Millisecond), at.Add(5*time.Minute)
		full := &fluxhook.Attempt{ID: store.NewID(), DeliveryID: delivery, WebhookID: webhook, EventID: store.NewID(), Event: "user.created",
			Payload: json.RawMessage("{\"b\": 1,\"a\":\"\\u00e9\u2028<&>\" , \"1\":[1.0,1e21]}"), Status: fluxhook.DeliveryDelivered, Attempt: 2,
			StatusCode: intp(200), ResponseBody: strp("ok ✓"), Error: strp(""), DurationMS: intp(0),
			CreatedAt: at, DeliveredAt: &delivered, NextAttemptAt: &next}
		// An empty payload is stored (the column is NOT NULL) and reads back empty.
		empty := &fluxhook.Attempt{DeliveryID: store.NewID(), WebhookID: webhook, EventID: store.NewID(), Event: "x", Status: fluxhook.DeliveryFailed, Attempt: 1,
			CreatedAt: c.Now().Add(-time.Hour)}
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{bare, full, empty}); err != nil {
			t.Fatal(err)
		}
		if bare.ID == "" || !bare.CreatedAt.Equal(micro(c.Now())) {
			t.Fatalf("InsertAttempts did not fill in id and time: %+v", bare)
		}
		if !full.CreatedAt.Equal(micro(at)) || full.CreatedAt.Location() != time.UTC {
			t.Fatalf("created_at not normalised to what the database keeps: %v", full.CreatedAt)
		}

		got, err := db.Attempts(ctx, webhook, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("Attempts = %d rows, want 3", len(got))
		}
		checkAttempt(t, got[0], full)
		checkAttempt(t, got[1], bare)
		checkAttempt(t, got[2], empty)
		if got[2].Payload != nil {
			t.Fatalf("empty payload reads back as %q, want nil (JSON null)", got[2].Payload)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("attempts do not encode as JSON: %v", err)
		}

		latest, err := db.LatestAttempt(ctx, delivery)
		if err != nil {
			t.Fatal(err)
		}
		checkAttempt(t, latest, full)
	})
}

func TestAttemptsOrderAndLimit(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook, other := store.NewID(), store.NewID()
		base := c.Now()
		var as []*fluxhook.Attempt
		// Inserted out of order; two share a created_at, so the id decides.
		for i, off := range []int{3, 1, 4, 1, 5, 9, 2, 6} {
			as = append(as, newAttempt(webhook, store.NewID(), i+1, base.Add(time.Duration(off)*time.Second)))
		}
		as = append(as, newAttempt(other, store.NewID(), 1, base.Add(time.Hour)))
		if err := db.InsertAttempts(ctx, as); err != nil {
			t.Fatal(err)
		}
		got, err := db.Attempts(ctx, webhook, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 8 {
			t.Fatalf("Attempts = %d rows, want 8 (not the other webhook's)", len(got))
		}
		for i := 1; i < len(got); i++ {
			p, q := got[i-1], got[i]
			if p.CreatedAt.Before(q.CreatedAt) || (p.CreatedAt.Equal(q.CreatedAt) && p.ID < q.ID) {
				t.Fatalf("not newest first at %d: %v %s then %v %s", i, p.CreatedAt, p.ID, q.CreatedAt, q.ID)
			}
		}
		if got[0].Attempt != 6 || got[len(got)-1].CreatedAt.Compare(micro(base.Add(time.Second))) != 0 {
			t.Fatalf("first %d, last at %v", got[0].Attempt, got[len(got)-1].CreatedAt)
		}
		top3, err := db.Attempts(ctx, webhook, 3)
		if err != nil {
			t.Fatal(err)
		}
		if want := attemptIDs(got[:3]); strings.Join(attemptIDs(top3), ",") != strings.Join(want, ",") {
			t.Fatalf("limit 3 = %v, want %v", attemptIDs(top3), want)
		}

		for _, tc := range []struct {
			name, id string
			limit    int
		}{{"malformed id", "nope", 10}, {"unknown webhook", store.NewID(), 10}, {"zero limit", webhook, 0}} {
			got, err := db.Attempts(ctx, tc.id, tc.limit)
			if err != nil || got == nil || len(got) != 0 {
				t.Fatalf("%s: Attempts = %v, %v; want an empty, non-nil list", tc.name, got, err)
			}
		}
	})
}

func TestLatestAttempt(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook, delivery := store.NewID(), store.NewID()
		// The highest attempt number wins even when it is not the newest
		// row (a slow worker recording late), and a redelivered attempt
		// recorded twice picks the later record.
		a1 := newAttempt(webhook, delivery, 1, c.Now().Add(3*time.Second))
		a3 := newAttempt(webhook, delivery, 3, c.Now().Add(time.Second))
		a3dup := newAttempt(webhook, delivery, 3, c.Now().Add(2*time.Second))
		a2 := newAttempt(webhook, delivery, 2, c.Now())
		other := newAttempt(webhook, store.NewID(), 9, c.Now().Add(time.Hour))
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{a1, a3, a3dup, a2, other}); err != nil {
			t.Fatal(err)
		}
		got, err := db.LatestAttempt(ctx, delivery)
		if err != nil {
			t.Fatal(err)
		}
		checkAttempt(t, got, a3dup)
		for _, id := range []string{"nope", store.NewID()} {
			if _, err := db.LatestAttempt(ctx, id); !fluxhook.IsNotFound(err) {
				t.Fatalf("LatestAttempt(%q): err = %v, want not found", id, err)
			}
		}
	})
}

// TestAttemptByItsOwnID: a delivery row is found by its own id too, and
// names its delivery; the delivery id itself is not a row id.
func TestAttemptByItsOwnID(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook, delivery := store.NewID(), store.NewID()
		a1, a2 := newAttempt(webhook, delivery, 1, c.Now()), newAttempt(webhook, delivery, 2, c.Now().Add(time.Second))
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{a1, a2}); err != nil {
			t.Fatal(err)
		}
		got, err := db.Attempt(ctx, a1.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkAttempt(t, got, a1)
		for _, id := range []string{"nope", delivery, store.NewID()} {
			if _, err := db.Attempt(ctx, id); !fluxhook.IsNotFound(err) {
				t.Fatalf("Attempt(%q): err = %v, want not found", id, err)
			}
		}
	})
}

func TestPruneAttempts(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook := store.NewID()
		cutoff := c.Now()
		var as []*fluxhook.Attempt
		for i := range 7 {
			as = append(as, newAttempt(webhook, store.NewID(), 1, cutoff.Add(-time.Duration(i+1)*time.Minute)))
		}
		keepAtCutoff := newAttempt(webhook, store.NewID(), 1, cutoff)
		keepNewer := newAttempt(webhook, store.NewID(), 1, cutoff.Add(time.Minute))
		if err := db.InsertAttempts(ctx, append(as, keepAtCutoff, keepNewer)); err != nil {
			t.Fatal(err)
		}
		var total int64
		for round := 0; ; round++ {
			n, err := db.PruneAttempts(ctx, cutoff, 3)
			if err != nil {
				t.Fatal(err)
			}
			if n > 3 {
				t.Fatalf("round %d deleted %d rows, limit 3", round, n)
			}
			if round == 0 {
				// The oldest go first.
				left, _ := db.Attempts(ctx, webhook, 100)
				if len(left) != 6 || !left[len(left)-1].CreatedAt.Equal(micro(cutoff.Add(-4*time.Minute))) {
					t.Fatalf("after one round: %d rows, oldest %v", len(left), left[len(left)-1].CreatedAt)
				}
			}
			total += n
			if n < 3 {
				break
			}
		}
		if total != 7 {
			t.Fatalf("pruned %d, want 7", total)
		}
		left, err := db.Attempts(ctx, webhook, 100)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(attemptIDs(left), ",") != keepNewer.ID+","+keepAtCutoff.ID {
			t.Fatalf("left %v, want the two not older than the cutoff", attemptIDs(left))
		}
		if n, err := db.PruneAttempts(ctx, cutoff, 0); err != nil || n != 0 {
			t.Fatalf("limit 0: %d, %v", n, err)
		}
	})
}

func TestInsertAttemptsIdempotent(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook := store.NewID()
		as := make([]*fluxhook.Attempt, 5)
		for i := range as {
			as[i] = newAttempt(webhook, store.NewID(), 1, c.Now().Add(time.Duration(i)*time.Second))
		}
		if err := db.InsertAttempts(ctx, as[:3]); err != nil {
			t.Fatal(err)
		}
		first := attemptIDs(as[:3])
		// A retried flush after an ambiguous commit sends the same structs
		// again, plus rows the first call never wrote, and within one
		// statement the same row twice.
		retry := append(append([]*fluxhook.Attempt{}, as...), as[4])
		if err := db.InsertAttempts(ctx, retry); err != nil {
			t.Fatalf("re-insert: %v", err)
		}
		if strings.Join(attemptIDs(as[:3]), ",") != strings.Join(first, ",") {
			t.Fatal("re-insert changed the ids it had filled in")
		}
		got, err := db.Attempts(ctx, webhook, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 {
			t.Fatalf("%d rows after re-insert, want 5", len(got))
		}
	})
}

func TestInsertAttemptsManyRows(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook := store.NewID()
		const n = 2000
		as := make([]*fluxhook.Attempt, n)
		for i := range as {
			as[i] = newAttempt(webhook, store.NewID(), i+1, c.Now().Add(time.Duration(i)*time.Millisecond))
		}
		if err := db.InsertAttempts(ctx, as); err != nil {
			t.Fatal(err)
		}
		got, err := db.Attempts(ctx, webhook, 3*n)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d rows, want %d", len(got), n)
		}
		for i, a := range got {
			checkAttempt(t, a, as[n-1-i])
		}
	})
}

func TestInsertAttemptsUnsafeText(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook := store.NewID()
		// What a broken endpoint may answer: NUL bytes and invalid UTF-8,
		// both of which PostgreSQL TEXT rejects outright.
		body := "ok\x00tail \xff\xfe end \xe2\x82"
		errText := "read: \x00\xc3"
		a := newAttempt(webhook, store.NewID(), 1, c.Now())
		a.ResponseBody, a.Error, a.StatusCode = &body, &errText, intp(502)
		good := newAttempt(webhook, store.NewID(), 1, c.Now().Add(time.Second))
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{a, good}); err != nil {
			t.Fatalf("a bad response body broke the batch: %v", err)
		}
		if body != "ok\x00tail \xff\xfe end \xe2\x82" {
			t.Fatal("InsertAttempts wrote through the caller's response body pointer")
		}
		got, err := db.LatestAttempt(ctx, a.DeliveryID)
		if err != nil {
			t.Fatal(err)
		}
		if want := "oktail \uFFFD end \uFFFD"; got.ResponseBody == nil || *got.ResponseBody != want {
			t.Fatalf("response body = %q, want %q", deref(got.ResponseBody), want)
		}
		if want := "read: \uFFFD"; got.Error == nil || *got.Error != want {
			t.Fatalf("error = %q, want %q", deref(got.Error), want)
		}
		checkAttempt(t, got, a) // the caller's struct now holds what was stored
	})
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestInsertAttemptsRejectsUnstorable(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		webhook := store.NewID()
		for _, tc := range []struct {
			name  string
			spoil func(a *fluxhook.Attempt)
		}{
			{"malformed webhook id", func(a *fluxhook.Attempt) { a.WebhookID = "wh_1" }},
			{"malformed id", func(a *fluxhook.Attempt) { a.ID = "1" }},
			{"empty delivery id", func(a *fluxhook.Attempt) { a.DeliveryID = "" }},
			{"status code beyond 32 bits", func(a *fluxhook.Attempt) { a.StatusCode = intp(1 << 40) }},
		} {
			good := newAttempt(webhook, store.NewID(), 1, c.Now())
			bad := newAttempt(webhook, store.NewID(), 1, c.Now())
			tc.spoil(bad)
			err := db.InsertAttempts(ctx, []*fluxhook.Attempt{good, bad})
			if fluxhook.ErrorKind(err) != fluxhook.KindInvalid {
				t.Fatalf("%s: err = %v, want invalid", tc.name, err)
			}
		}
		if err := db.InsertAttempts(ctx, []*fluxhook.Attempt{nil}); fluxhook.ErrorKind(err) != fluxhook.KindInvalid {
			t.Fatalf("nil attempt: err = %v, want invalid", err)
		}
		// Nothing of a rejected call is written.
		if got, err := db.Attempts(ctx, webhook, 100); err != nil || len(got) != 0 {
			t.Fatalf("after rejected calls: %d rows (%v), want 0", len(got), err)
		}
		if err := db.InsertAttempts(ctx, nil); err != nil {
			t.Fatalf("no attempts: %v", err)
		}
	})
}

func BenchmarkInsertAttempts(b *testing.B) {
	for _, driver := range []string{"sqlite", "postgres"} {
		// rows-45 is the recorder's batch at load, one of 1,000 webhooks
		// a row, into a table that grows as the benchmark runs.
		b.Run(driver+"/rows-45", func(b *testing.B) {
			c := newClock()
			db := MustOpen(b, driver, c)
			webhooks := make([]string, 1000)
			for i := range webhooks {
				webhooks[i] = store.NewID()
			}
			payload := json.RawMessage(`{"id":"0190a6b2-7c1e-7d3a-9f00-4b1c2d3e4f50","event":"user.created","timestamp":"2026-03-01T12:00:00Z","data":{"user_id":"0190a6b2-7c1e-7d3a-9f00-4b1c2d3e4f51","email":"ada@example.com"}}`)
			body, code, ms := "ok", 200, 42
			rows := 0
			for b.Loop() {
				as := make([]*fluxhook.Attempt, 45)
				for i := range as {
					as[i] = &fluxhook.Attempt{DeliveryID: store.NewID(), WebhookID: webhooks[(rows+i)%len(webhooks)], EventID: store.NewID(), Event: "user.created",
						Payload: payload, Status: fluxhook.DeliveryDelivered, Attempt: 1, StatusCode: &code, ResponseBody: &body, DurationMS: &ms}
				}
				if err := db.InsertAttempts(context.Background(), as); err != nil {
					b.Fatal(err)
				}
				rows += len(as)
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(driver+"/rows-500", func(b *testing.B) {
			c := newClock()
			db := MustOpen(b, driver, c)
			webhook := store.NewID()
			payload := json.RawMessage(`{"id":"0190a6b2-7c1e-7d3a-9f00-4b1c2d3e4f50","event":"user.created","timestamp":"2026-03-01T12:00:00Z","data":{"user_id":"0190a6b2-7c1e-7d3a-9f00-4b1c2d3e4f51","email":"ada@example.com"}}`)
			body, code, ms := "ok", 200, 42
			rows := 0
			for b.Loop() {
				as := make([]*fluxhook.Attempt, 500)
				for i := range as {
					as[i] = &fluxhook.Attempt{DeliveryID: store.NewID(), WebhookID: webhook, EventID: store.NewID(), Event: "user.created",
						Payload: payload, Status: fluxhook.DeliveryDelivered, Attempt: 1, StatusCode: &code, ResponseBody: &body, DurationMS: &ms}
				}
				if err := db.InsertAttempts(context.Background(), as); err != nil {
					b.Fatal(err)
				}
				rows += len(as)
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
