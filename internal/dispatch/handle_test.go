package dispatch

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// eventMsg is a message of the EVENTS stream as the consumer hands it
// over: its body, how many times it was delivered, and what it was
// settled with.
type eventMsg struct {
	jetstream.Msg
	data      []byte
	delivered uint64
	acked     bool
}

func (m *eventMsg) Data() []byte    { return m.data }
func (m *eventMsg) Subject() string { return "fluxhook.events.packs" }
func (m *eventMsg) Ack() error      { m.acked = true; return nil }
func (m *eventMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivered}, nil
}

type jobLog struct{ jobs []wire.Job }

func (l *jobLog) PublishJobs(_ context.Context, jobs []wire.Job) error {
	l.jobs = append(l.jobs, jobs...)
	return nil
}

// TestRedispatchedJobsAreFlagged: the jobs of an event message delivered
// for the first time are fresh; those of one delivered again carry
// Again, so the worker looks them up before sending them twice.
func TestRedispatchedJobsAreFlagged(t *testing.T) {
	subs := NewSubscriptions(fakeSource{hook("w1", "admin", fluxhook.RoleDashboardAdmin, "*"), hook("w2", "admin", fluxhook.RoleDashboardAdmin, "*")})
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	var encoded [][]byte
	for _, id := range []string{"evt_1", "evt_2"} {
		e, err := wire.EncodeEvent(fluxhook.Event{ID: id, Event: "order.paid", Timestamp: time.Now(), Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, e)
	}
	body := wire.AppendPack(nil, encoded...)
	for _, delivered := range []uint64{1, 2} {
		pub := &jobLog{}
		d := New(subs, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry(), subs))
		msg := &eventMsg{data: body, delivered: delivered}
		d.Handle(context.Background(), msg)
		if !msg.acked || len(pub.jobs) != 4 {
			t.Fatalf("delivered %d times: acked %v, %d jobs; want acked, 4 jobs", delivered, msg.acked, len(pub.jobs))
		}
		for _, j := range pub.jobs {
			if want := delivered > 1; j.Again != want {
				t.Errorf("delivered %d times: job %s has Again %v, want %v", delivered, j.DeliveryID, j.Again, want)
			}
		}
	}
}
