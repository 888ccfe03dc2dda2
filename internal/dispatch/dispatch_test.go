package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/store"
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
