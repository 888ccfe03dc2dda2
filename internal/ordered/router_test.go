package ordered

import (
	"context"
	"fmt"
	"testing"

	"github.com/fluxhook/fluxhook/internal/wire"
)

type jobSink struct{ ids []string }

func (s *jobSink) PublishJobs(_ context.Context, jobs []wire.Job) error {
	for _, j := range jobs {
		s.ids = append(s.ids, j.DeliveryID)
	}
	return nil
}

func (s *jobSink) EnqueueOrdered(ctx context.Context, jobs []wire.Job) error {
	return s.PublishJobs(ctx, jobs)
}

// TestRouterSplitsOrderedJobs: jobs with an Order go to the queue, the
// others to DELIVERIES, each side in the order given, and a pack without
// ordered jobs costs the queue nothing.
func TestRouterSplitsOrderedJobs(t *testing.T) {
	job := func(id string, ordered bool) wire.Job {
		j := wire.Job{DeliveryID: id}
		if ordered {
			j.Order = &wire.Order{Key: "k"}
		}
		return j
	}
	for _, c := range []struct {
		jobs         []wire.Job
		queue, other string
	}{
		{[]wire.Job{job("a", false), job("b", true), job("c", false), job("d", true)}, "[b d]", "[a c]"},
		{[]wire.Job{job("a", false), job("b", false)}, "[]", "[a b]"},
		{[]wire.Job{job("a", true)}, "[a]", "[]"},
	} {
		queue, other := &jobSink{}, &jobSink{}
		in := append([]wire.Job(nil), c.jobs...)
		if err := NewRouter(queue, other).PublishJobs(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(queue.ids); got != c.queue {
			t.Errorf("queue got %s, want %s", got, c.queue)
		}
		if got := fmt.Sprint(other.ids); got != c.other {
			t.Errorf("DELIVERIES got %s, want %s", got, c.other)
		}
		for i := range in {
			if in[i].DeliveryID != c.jobs[i].DeliveryID {
				t.Errorf("the caller's jobs were reordered: %v", in)
			}
		}
	}
}
