package events

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestEventSubject(t *testing.T) {
	tests := []struct {
		name string
		want string // "" for refused
	}{
		{"user.created", "fluxhook.events.user.created"},
		{"order.paid.v2", "fluxhook.events.order.paid.v2"},
		{"webhook.test", "fluxhook.events.webhook.test"},
		{"a_b.c_1", "fluxhook.events.a_b.c_1"},
		{strings.Repeat("a", 62) + "." + strings.Repeat("b", 65), "fluxhook.events." + strings.Repeat("a", 62) + "." + strings.Repeat("b", 65)},
		{strings.Repeat("a", 63) + "." + strings.Repeat("b", 65), ""}, // 129 characters
		{"user", ""},
		{"", ""},
		{"user.*", ""},
		{"user.>", ""},
		{"*", ""},
		{">", ""},
		{"user. created", ""},
		{"user created.x", ""},
		{"User.Created", ""},
		{"user..created", ""},
		{".user.created", ""},
		{"user.created.", ""},
		{"user.created\n", ""},
		{"user.créé", ""},
		{"user-created.x", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			got, err := EventSubject(tt.name)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted, subject %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got != tt.want {
				t.Errorf("subject %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShard(t *testing.T) {
	// Pinned values: every process and every release must map a webhook
	// to the same shard. FNV-1a 32 of "" is 0x811c9dc5.
	pinned := []struct {
		id   string
		n    int
		want int
	}{
		{"", 16, 0x811c9dc5 % 16},
		{"", 1, 0},
		{"anything", 0, 0},
		{"a", 16, 0xe40c292c % 16},
		{"a", 1000, 0xe40c292c % 1000},
	}
	for _, tt := range pinned {
		t.Run(fmt.Sprintf("%q mod %d", tt.id, tt.n), func(t *testing.T) {
			if got := Shard(tt.id, tt.n); got != tt.want {
				t.Errorf("Shard = %d, want %d", got, tt.want)
			}
		})
	}

	t.Run("spread", func(t *testing.T) {
		counts := make([]int, DefaultShards)
		const n = 16000
		// Webhook ids are UUIDv7s (store.NewID).
		for range n {
			counts[Shard(uuid.Must(uuid.NewV7()).String(), DefaultShards)]++
		}
		for s, c := range counts {
			// A fair share is 1000; a shard at half or double that would
			// make per-shard consumers pointless.
			if c < 500 || c > 2000 {
				t.Errorf("shard %d got %d of %d webhooks: %v", s, c, n, counts)
			}
		}
	})
}

func TestDeliveryAndDeadSubjects(t *testing.T) {
	for _, id := range []string{"", "wh_1", "0190b5f2-7c1e-7000-8000-000000000001", "with.dots and spaces*>"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			shard := fmt.Sprint(Shard(id, DefaultShards))
			if got, want := DeliverySubject(id), "fluxhook.deliveries."+shard; got != want {
				t.Errorf("DeliverySubject = %q, want %q", got, want)
			}
			if got, want := DeadSubject(id), "fluxhook.dead."+shard; got != want {
				t.Errorf("DeadSubject = %q, want %q", got, want)
			}
		})
	}
}

func TestScheduleSubject(t *testing.T) {
	tests := []struct {
		id      string
		attempt int
		want    string // "" for refused
	}{
		{"0190b5f2-7c1e-7000-8000-000000000001", 2, "fluxhook.schedules.0190b5f2-7c1e-7000-8000-000000000001.2"},
		{"d_1", 10, "fluxhook.schedules.d_1.10"},
		{"d.1", 2, ""},
		{"d*", 2, ""},
		{"d>", 2, ""},
		{"d 1", 2, ""},
		{"", 2, ""},
		{strings.Repeat("x", 129), 2, ""},
		{"d1", 0, ""},
		{"d1", -1, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q %d", tt.id, tt.attempt), func(t *testing.T) {
			got, err := ScheduleSubject(tt.id, tt.attempt)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted, subject %q", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if got != tt.want {
				t.Errorf("subject %q, want %q", got, tt.want)
			}
		})
	}
}
