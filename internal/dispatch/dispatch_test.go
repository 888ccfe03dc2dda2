package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
	"github.com/fluxhook/fluxhook/internal/wire"
)

type fakeSource []store.ActiveWebhook

func (f fakeSource) ActiveWebhooks(context.Context) ([]store.ActiveWebhook, error) { return f, nil }

func hook(id, owner string, role fluxhook.Role, events ...string) store.ActiveWebhook {
	return store.ActiveWebhook{Webhook: &fluxhook.Webhook{ID: id, UserID: owner, Events: events, IsActive: true}, OwnerRole: role}
}

func TestMatchAndVisibility(t *testing.T) {
	src := fakeSource{
		hook("admin-all", "admin", fluxhook.RoleDashboardAdmin, "*"),
		hook("admin-users", "admin", fluxhook.RoleDashboardAdmin, "user.*"),
		hook("admin-exact", "admin", fluxhook.RoleDashboardUser, "user.created", "user.created"),
		hook("alice-all", "alice", fluxhook.RoleUser, "*"),
		hook("alice-orders", "alice", fluxhook.RoleUser, "order.*"),
		hook("bob-users", "bob", fluxhook.RoleUser, "user.created", "user.*"),
	}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		event, user string
		want        []string
	}{
		// Dashboard webhooks see everything; a user's webhooks only what concerns them.
		{"user.created", "alice", []string{"admin-all", "admin-exact", "admin-users", "alice-all"}},
		{"user.created", "bob", []string{"admin-all", "admin-exact", "admin-users", "bob-users"}},
		{"user.deleted", "bob", []string{"admin-all", "admin-users", "bob-users"}},
		{"order.paid.v2", "alice", []string{"admin-all", "alice-all", "alice-orders"}},
		// An instance-wide event (no user) reaches dashboard webhooks only.
		{"order.paid", "", []string{"admin-all"}},
		// "user.*" is a prefix of whole words: "users.x" is not under it.
		{"users.created", "bob", []string{"admin-all"}},
		{"auth.login", "carol", []string{"admin-all"}},
	}
	for _, c := range cases {
		t.Run(c.event+"/"+c.user, func(t *testing.T) {
			got, err := subs.Match(context.Background(), &fluxhook.Event{Event: c.event, UserID: c.user})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, s := range got {
				ids = append(ids, s.id)
			}
			sort.Strings(ids)
			if fmt.Sprint(ids) != fmt.Sprint(c.want) {
				t.Fatalf("matched %v, want %v", ids, c.want)
			}
		})
	}
}

func TestJobsAreDeterministicAndCarryTheJSBody(t *testing.T) {
	src := fakeSource{hook("w1", "admin", fluxhook.RoleDashboardAdmin, "*"), hook("w2", "admin", fluxhook.RoleDashboardAdmin, "*")}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := &Dispatcher{subs: subs}
	e := &fluxhook.Event{ID: "01900000-0000-7000-8000-000000000001", Event: "order.paid", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data: json.RawMessage(`{"b":1,"a":"<&>","10":1.0,"2":2}`)}
	jobs, err := d.Jobs(context.Background(), e)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
	again, _ := d.Jobs(context.Background(), e)
	want := `{"id":"01900000-0000-7000-8000-000000000001","event":"order.paid","timestamp":"2026-01-02T03:04:05.000Z","data":{"2":2,"10":1,"b":1,"a":"<&>"}}`
	for i, j := range jobs {
		if string(j.Payload) != want {
			t.Fatalf("payload %s\nwant    %s", j.Payload, want)
		}
		if j.DeliveryID != again[i].DeliveryID || j.Attempt != 1 {
			t.Fatalf("job %d not deterministic: %+v vs %+v", i, j, again[i])
		}
	}
	if jobs[0].DeliveryID == jobs[1].DeliveryID {
		t.Fatal("two webhooks share a delivery id")
	}
}

func TestFanOutToTenThousandWebhooks(t *testing.T) {
	src := make(fakeSource, 10000)
	for i := range src {
		src[i] = hook(fmt.Sprintf("w%05d", i), "admin", fluxhook.RoleDashboardAdmin, "user.*")
	}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := &Dispatcher{subs: subs}
	jobs, err := d.Jobs(context.Background(), &fluxhook.Event{ID: "e1", Event: "user.created", Timestamp: time.Now(), Data: json.RawMessage(`{}`)})
	if err != nil || len(jobs) != 10000 {
		t.Fatalf("%d jobs, %v", len(jobs), err)
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.DeliveryID] {
			t.Fatalf("duplicate delivery id %s", j.DeliveryID)
		}
		seen[j.DeliveryID] = true
	}
}

func BenchmarkMatch(b *testing.B) {
	src := make(fakeSource, 10000)
	for i := range src {
		src[i] = hook(fmt.Sprintf("w%05d", i), fmt.Sprintf("u%d", i%500), fluxhook.RoleUser, "user.created", "order.*")
	}
	subs := NewSubscriptions(src)
	_ = subs.Load(context.Background())
	e := &fluxhook.Event{Event: "order.paid", UserID: "u7"}
	b.ResetTimer()
	for range b.N {
		if got, _ := subs.Match(context.Background(), e); len(got) != 20 {
			b.Fatalf("matched %d", len(got))
		}
	}
}

// countingSource answers with whatever webhooks it holds now.
type countingSource struct {
	hooks fakeSource
	loads int
}

func (c *countingSource) ActiveWebhooks(ctx context.Context) ([]store.ActiveWebhook, error) {
	c.loads++
	return c.hooks.ActiveWebhooks(ctx)
}

// TestMatchSeesAnnouncedChanges: a webhook announced (invalidated) before
// an event is matched receives it, without waiting for the background
// reload.
func TestMatchSeesAnnouncedChanges(t *testing.T) {
	src := &countingSource{}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &fluxhook.Event{Event: "user.created", UserID: "u1"}
	if got, _ := subs.Match(context.Background(), e); len(got) != 0 {
		t.Fatalf("matched %d before any webhook", len(got))
	}
	src.hooks = fakeSource{hook("new", "admin", fluxhook.RoleDashboardAdmin, "*")}
	subs.Invalidate("new")
	if got, _ := subs.Match(context.Background(), e); len(got) != 1 {
		t.Fatalf("matched %d right after the change was announced, want 1", len(got))
	}
	loads := src.loads
	subs.Match(context.Background(), e)
	if src.loads != loads {
		t.Fatal("reloaded again without a new announcement")
	}
}

func filtered(h store.ActiveWebhook, f string) store.ActiveWebhook {
	h.Filter = &f
	return h
}

func jobIDs(jobs []wire.Job) []string {
	ids := []string{}
	for _, j := range jobs {
		ids = append(ids, j.WebhookID)
	}
	sort.Strings(ids)
	return ids
}

// TestFiltersChooseWhichSubscribersGetAJob: a webhook with a filter gets
// the events it subscribes to for which the filter is true; a filter
// that fails to evaluate (a missing field, a type mismatch, a stored
// filter that no longer compiles) means no job for that webhook only,
// and is counted.
func TestFiltersChooseWhichSubscribersGetAJob(t *testing.T) {
	src := fakeSource{
		hook("plain", "admin", fluxhook.RoleDashboardAdmin, "order.*"),
		filtered(hook("big-eur", "admin", fluxhook.RoleDashboardAdmin, "order.*"), `data.amount > 100 && data.currency == "EUR"`),
		filtered(hook("vip", "admin", fluxhook.RoleDashboardAdmin, "*"), `has(data.tags) && "vip" in data.tags`),
		filtered(hook("by-name", "admin", fluxhook.RoleDashboardAdmin, "*"), `event == "order.refunded"`),
		filtered(hook("missing-field", "admin", fluxhook.RoleDashboardAdmin, "order.*"), `data.customer.country == "FR"`),
		filtered(hook("type-mismatch", "admin", fluxhook.RoleDashboardAdmin, "order.*"), `data.currency > 1`),
		filtered(hook("broken", "admin", fluxhook.RoleDashboardAdmin, "order.*"), `data.amount >`),
		// Subscribed to other events: its filter would match, but it is never asked.
		filtered(hook("users-only", "admin", fluxhook.RoleDashboardAdmin, "user.*"), `true`),
	}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d := &Dispatcher{subs: subs, metrics: NewMetrics(reg, subs)}
	cases := []struct {
		event, data string
		want        []string
		errors      float64 // filters that failed to evaluate: broken always, the others when a field is missing or of another type
	}{
		{"order.paid", `{"amount":150,"currency":"EUR"}`, []string{"big-eur", "plain"}, 3},
		{"order.paid", `{"amount":150.5,"currency":"USD","tags":["vip"]}`, []string{"plain", "vip"}, 3},
		{"order.paid", `{"amount":99,"currency":"EUR","customer":{"country":"FR"}}`, []string{"missing-field", "plain"}, 2},
		{"order.refunded", `{"amount":1000,"currency":"EUR","tags":[]}`, []string{"big-eur", "by-name", "plain"}, 3},
		// Data that is not an object: every filter on a field fails, plain webhooks still get it.
		{"order.paid", `[1,2]`, []string{"plain"}, 5},
	}
	for _, c := range cases {
		t.Run(c.event+c.data, func(t *testing.T) {
			before := testutil.ToFloat64(d.metrics.filterErrors)
			jobs, err := d.Jobs(context.Background(), &fluxhook.Event{ID: "01900000-0000-7000-8000-000000000001", Event: c.event,
				Timestamp: time.Now(), Data: json.RawMessage(c.data)})
			if err != nil {
				t.Fatal(err)
			}
			if got := jobIDs(jobs); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("jobs for %v, want %v", got, c.want)
			}
			if got := testutil.ToFloat64(d.metrics.filterErrors) - before; got != c.errors {
				t.Fatalf("%v filter errors counted, want %v", got, c.errors)
			}
		})
	}
}

// TestFiltersAreCompiledOncePerVersion: a reload reuses the compiled
// program of a filter that did not change and compiles a changed one.
func TestFiltersAreCompiledOncePerVersion(t *testing.T) {
	src := &countingSource{hooks: fakeSource{
		filtered(hook("a", "admin", fluxhook.RoleDashboardAdmin, "*"), `data.n > 1`),
		filtered(hook("b", "admin", fluxhook.RoleDashboardAdmin, "*"), `data.n > 2`),
	}}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	programOf := func(id string) any {
		for _, s := range subs.current.Load().wildcard.all {
			if s.id == id {
				return s.filter
			}
		}
		t.Fatalf("webhook %s not indexed", id)
		return nil
	}
	a, b := programOf("a"), programOf("b")
	src.hooks[1] = filtered(hook("b", "admin", fluxhook.RoleDashboardAdmin, "*"), `data.n > 3`)
	subs.Invalidate("b")
	e := &fluxhook.Event{Event: "x.y", Data: json.RawMessage(`{"n":3}`)}
	got, err := subs.Match(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	if programOf("a") != a {
		t.Fatal("an unchanged filter was compiled again on reload")
	}
	if programOf("b") == b {
		t.Fatal("a changed filter kept its old program")
	}
	if ids := jobIDs(jobsFor(keep(got, e, nil))); fmt.Sprint(ids) != "[a]" {
		t.Fatalf("matched %v after b's filter changed to n > 3, want [a]", ids)
	}
}

func jobsFor(subs []*sub) []wire.Job {
	jobs := make([]wire.Job, len(subs))
	for i, s := range subs {
		jobs[i].WebhookID = s.id
	}
	return jobs
}

// BenchmarkFilter: an event matched by 100 webhooks, each with a filter
// of two comparisons (half true). ns/event is matching plus decoding the
// data once plus 100 evaluations; ns/eval is the share of one filter.
func BenchmarkFilter(b *testing.B) {
	src := make(fakeSource, 100)
	for i := range src {
		src[i] = filtered(hook(fmt.Sprintf("w%03d", i), "admin", fluxhook.RoleDashboardAdmin, "order.*"),
			fmt.Sprintf(`data.amount > %d && data.currency == "EUR"`, i*2))
	}
	subs := NewSubscriptions(src)
	if err := subs.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	e := &fluxhook.Event{ID: "e1", Event: "order.paid", UserID: "u7", Timestamp: time.Now(),
		Data: json.RawMessage(`{"amount":100,"currency":"EUR","customer":{"id":"c_123","country":"FR"},"items":[{"sku":"A-1","qty":2}]}`)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		got, _ := subs.Match(context.Background(), e)
		if got = keep(got, e, nil); len(got) != 50 {
			b.Fatalf("kept %d", len(got))
		}
	}
	perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perEvent, "ns/event")
	b.ReportMetric(perEvent/100, "ns/eval")
}
