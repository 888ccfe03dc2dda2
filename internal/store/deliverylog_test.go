package store_test

import (
	"context"
	"encoding/base64"
	"slices"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/store/storetest"
)

// deliveryLog is a small delivery log: two owners, three webhooks, and
// deliveries whose latest attempts differ in status, event and time.
type deliveryLog struct {
	alice, bob    string // user ids
	a1, a2, b1    string // webhooks: alice's two, bob's one
	retried       string // a1: failed twice, then delivered
	failing       string // a1: failed for good (3 attempts)
	other         string // a2: delivered at once, event auth.login
	bobs          string // b1: retrying
	base          time.Time
	inserted      []*fluxhook.Attempt
	attemptsOfOne []string // the ids of retried's attempts, first to last
}

func newDeliveryLog(t *testing.T, db *store.DB, c *clock) *deliveryLog {
	t.Helper()
	ctx := context.Background()
	l := &deliveryLog{base: c.Now().Add(-2 * time.Hour).Truncate(time.Minute)}
	alice := storetest.Actor(t, db, "alice@example.com", fluxhook.RoleDashboardUser)
	bob := storetest.Actor(t, db, "bob@example.com", fluxhook.RoleDashboardUser)
	l.alice, l.bob = alice.UserID, bob.UserID
	hook := func(owner string) string {
		w := &fluxhook.Webhook{UserID: owner, URL: "https://example.com/h", Events: []string{"*"}, IsActive: true, SecretEnc: []byte{1}}
		if err := db.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		return w.ID
	}
	l.a1, l.a2, l.b1 = hook(l.alice), hook(l.alice), hook(l.bob)
	l.retried, l.failing, l.other, l.bobs = store.NewID(), store.NewID(), store.NewID(), store.NewID()
	add := func(hook, delivery, event, status string, n int, minute, ms int) {
		a := newAttempt(hook, delivery, n, l.base.Add(time.Duration(minute)*time.Minute+time.Duration(n)*time.Second))
		a.Event, a.Status, a.DurationMS = event, status, intp(ms)
		l.inserted = append(l.inserted, a)
	}
	add(l.a1, l.retried, "user.created", fluxhook.DeliveryRetrying, 1, 0, 100)
	add(l.a1, l.retried, "user.created", fluxhook.DeliveryRetrying, 2, 1, 200)
	add(l.a1, l.retried, "user.created", fluxhook.DeliveryDelivered, 3, 2, 30)
	add(l.a1, l.failing, "user.deleted", fluxhook.DeliveryRetrying, 1, 10, 5000)
	add(l.a1, l.failing, "user.deleted", fluxhook.DeliveryRetrying, 2, 11, 5000)
	add(l.a1, l.failing, "user.deleted", fluxhook.DeliveryFailed, 3, 12, 5000)
	add(l.a2, l.other, "auth.login", fluxhook.DeliveryDelivered, 1, 20, 10)
	add(l.b1, l.bobs, "user.created", fluxhook.DeliveryRetrying, 1, 30, 0)
	// Stored out of order: the list's order is the store's doing.
	shuffled := slices.Clone(l.inserted)
	slices.Reverse(shuffled)
	if err := db.InsertAttempts(ctx, shuffled); err != nil {
		t.Fatal(err)
	}
	for _, a := range l.inserted[:3] {
		l.attemptsOfOne = append(l.attemptsOfOne, a.ID)
	}
	return l
}

func deliveryIDs(as []*fluxhook.Attempt) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.DeliveryID
	}
	return ids
}

func TestListDeliveriesFilters(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		l := newDeliveryLog(t, db, c)
		list := func(f store.DeliveryFilter) []string {
			t.Helper()
			if f.Limit == 0 {
				f.Limit = 50
			}
			got, next, err := db.ListDeliveries(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if next != nil {
				t.Fatalf("a cursor after the last page: %+v", next)
			}
			return deliveryIDs(got)
		}
		cases := []struct {
			name string
			f    store.DeliveryFilter
			want []string
		}{
			{"everything, newest first", store.DeliveryFilter{}, []string{l.bobs, l.other, l.failing, l.retried}},
			{"one owner", store.DeliveryFilter{OwnerID: l.alice}, []string{l.other, l.failing, l.retried}},
			{"one webhook", store.DeliveryFilter{WebhookID: l.a1}, []string{l.failing, l.retried}},
			{"another owner's webhook", store.DeliveryFilter{OwnerID: l.bob, WebhookID: l.a1}, []string{}},
			{"current status, not a past one", store.DeliveryFilter{Statuses: []string{fluxhook.DeliveryRetrying}}, []string{l.bobs}},
			{"several statuses", store.DeliveryFilter{Statuses: []string{fluxhook.DeliveryFailed, fluxhook.DeliveryRetrying}}, []string{l.bobs, l.failing}},
			{"exact event", store.DeliveryFilter{Event: "user.created"}, []string{l.bobs, l.retried}},
			{"event prefix", store.DeliveryFilter{Event: "user.*"}, []string{l.bobs, l.failing, l.retried}},
			{"a prefix's dot is no wildcard", store.DeliveryFilter{Event: "user_*"}, []string{}},
			{"since", store.DeliveryFilter{Since: l.base.Add(12 * time.Minute)}, []string{l.bobs, l.other, l.failing}},
			{"until", store.DeliveryFilter{Until: l.base.Add(20 * time.Minute)}, []string{l.failing, l.retried}},
			{"malformed ids find nothing", store.DeliveryFilter{WebhookID: "nope"}, []string{}},
		}
		for _, tc := range cases {
			if got := list(tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}

		// Each delivery is shown as its latest attempt.
		got, _, err := db.ListDeliveries(ctx, store.DeliveryFilter{WebhookID: l.a1, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got[0].Status != fluxhook.DeliveryFailed || got[0].Attempt != 3 || got[1].Status != fluxhook.DeliveryDelivered || got[1].Attempt != 3 {
			t.Fatalf("not the latest attempts: %+v %+v", got[0], got[1])
		}
		checkAttempt(t, got[1], l.inserted[2])
	})
}

func TestListDeliveriesPages(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		l := newDeliveryLog(t, db, c)
		pages := func(f store.DeliveryFilter) []string {
			t.Helper()
			var seen []string
			for page := 0; ; page++ {
				got, next, err := db.ListDeliveries(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, deliveryIDs(got)...)
				if next == nil {
					return seen
				}
				if page > 5 {
					t.Fatal("the pages do not end")
				}
				// The cursor survives its trip through a URL.
				if f.After, err = store.ParseDeliveryCursor(next.String()); err != nil || *f.After != *next {
					t.Fatalf("cursor round trip: %+v %v, want %+v", f.After, err, next)
				}
			}
		}
		for _, limit := range []int{1, 2, 3, 4} {
			if got, want := pages(store.DeliveryFilter{Limit: limit}), []string{l.bobs, l.other, l.failing, l.retried}; !slices.Equal(got, want) {
				t.Errorf("pages of %d: %v, want %v", limit, got, want)
			}
			// One owner's webhooks are read one by one and merged.
			if got, want := pages(store.DeliveryFilter{Limit: limit, OwnerID: l.alice}), []string{l.other, l.failing, l.retried}; !slices.Equal(got, want) {
				t.Errorf("one owner, pages of %d: %v, want %v", limit, got, want)
			}
		}
		outOfRange := base64.RawURLEncoding.EncodeToString([]byte("-300000000000000000." + l.a1))
		for _, bad := range []string{"", "!!", "MTIz", "eC55", outOfRange} {
			if _, err := store.ParseDeliveryCursor(bad); err == nil {
				t.Errorf("cursor %q accepted", bad)
			}
		}
	})
}

func TestDeliveryAttempts(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		l := newDeliveryLog(t, db, c)
		got, err := db.DeliveryAttempts(ctx, l.retried)
		if err != nil {
			t.Fatal(err)
		}
		if ids := attemptIDs(got); !slices.Equal(ids, l.attemptsOfOne) {
			t.Fatalf("attempts %v, want first to last %v", ids, l.attemptsOfOne)
		}
		for _, id := range []string{store.NewID(), "not-an-id"} {
			if got, err := db.DeliveryAttempts(ctx, id); err != nil || len(got) != 0 {
				t.Fatalf("unknown delivery %q: %v %v", id, got, err)
			}
		}
	})
}

func TestWebhookHealthFigures(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		l := newDeliveryLog(t, db, c)
		counts, err := db.AttemptCountsSince(ctx, "", l.base.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		// a1's first attempt is before the window.
		want := map[string]store.AttemptCounts{l.a1: {Attempts: 5, Delivered: 1}, l.a2: {Attempts: 1, Delivered: 1}, l.b1: {Attempts: 1}}
		if len(counts) != len(want) {
			t.Fatalf("counts %v, want %v", counts, want)
		}
		for id, w := range want {
			if counts[id] != w {
				t.Errorf("webhook %s: %+v, want %+v", id, counts[id], w)
			}
		}
		mine, err := db.AttemptCountsSince(ctx, l.bob, l.base)
		if err != nil || len(mine) != 1 || mine[l.b1].Attempts != 1 {
			t.Fatalf("bob's counts: %v %v", mine, err)
		}
		last, err := db.LastAttempt(ctx, l.a1)
		if err != nil || last == nil || last.DeliveryID != l.failing || last.Status != fluxhook.DeliveryFailed {
			t.Fatalf("last attempt of a1: %+v %v", last, err)
		}
		if last, err := db.LastAttempt(ctx, store.NewID()); last != nil || err != nil {
			t.Fatalf("last attempt of a webhook without any: %+v %v", last, err)
		}
	})
}

func TestAttemptTimeline(t *testing.T) {
	conformance(t, func(t *testing.T, db *store.DB, c *clock) {
		ctx := context.Background()
		l := newDeliveryLog(t, db, c)
		rows, err := db.AttemptTimeline(ctx, "", "", l.base, l.base.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		bucketOf := func(ms int) int {
			i, _ := slices.BinarySearch(store.LatencyBounds, ms)
			return i
		}
		type key struct {
			minute    int
			delivered bool
			bucket    int
		}
		got := map[key]int{}
		for _, r := range rows {
			got[key{int(r.Minute.Sub(l.base) / time.Minute), r.Delivered, r.Bucket}] += r.Count
			if r.Minute.Location() != time.UTC || r.Minute.Second() != 0 {
				t.Errorf("minute %v is not a UTC minute", r.Minute)
			}
		}
		want := map[key]int{
			{0, false, bucketOf(100)}: 1, {1, false, bucketOf(200)}: 1, {2, true, bucketOf(30)}: 1,
			{10, false, bucketOf(5000)}: 1, {11, false, bucketOf(5000)}: 1, {12, false, bucketOf(5000)}: 1,
			{20, true, bucketOf(10)}: 1, {30, false, bucketOf(0)}: 1,
		}
		if len(got) != len(want) {
			t.Fatalf("timeline %v, want %v", got, want)
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%+v: %d, want %d (all: %v)", k, got[k], n, got)
			}
		}
		// One webhook; one owner; a window that ends before the rest.
		for _, tc := range []struct {
			owner, hook string
			to          time.Duration
			want        int
		}{{"", l.a2, time.Hour, 1}, {l.bob, "", time.Hour, 1}, {l.alice, "", 11 * time.Minute, 4}, {l.bob, l.a1, time.Hour, 0}} {
			rows, err := db.AttemptTimeline(ctx, tc.owner, tc.hook, l.base, l.base.Add(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range rows {
				n += r.Count
			}
			if n != tc.want {
				t.Errorf("owner %q hook %q to +%v: %d attempts, want %d", tc.owner, tc.hook, tc.to, n, tc.want)
			}
		}
	})
}

func TestLatencyBoundsGrowByAQuarter(t *testing.T) {
	b := store.LatencyBounds
	if b[0] != 1 || b[len(b)-1] < 60_000 || !slices.IsSorted(b) {
		t.Fatalf("bounds %v", b)
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] || (b[i-1] >= 8 && float64(b[i]) > float64(b[i-1])*1.26) {
			t.Fatalf("bound %d after %d", b[i], b[i-1])
		}
	}
}
