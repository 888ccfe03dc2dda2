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

// streamMsg is an eventMsg at a place in the EVENTS stream.
type streamMsg struct {
	*eventMsg
	seq uint64
}

func (m *streamMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.delivered, Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}

// TestOrderedWebhooksJobsCarryTheirPlace: a fifo webhook's jobs carry
// their event's ordering key and place in the order of acceptance (the
// message's stream sequence, the event's index in it), which the
// ordered lane sorts by; other webhooks' jobs carry none.
func TestOrderedWebhooksJobsCarryTheirPlace(t *testing.T) {
	fifo := hook("w-fifo", "admin", fluxhook.RoleDashboardAdmin, "*")
	fifo.Ordering = fluxhook.OrderingFIFO
	subs := NewSubscriptions(fakeSource{fifo, hook("w-plain", "admin", fluxhook.RoleDashboardAdmin, "*")})
	if err := subs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	var encoded [][]byte
	for _, e := range []fluxhook.Event{
		{ID: "evt_1", Event: "order.paid", Timestamp: time.Now(), Data: json.RawMessage(`{}`), OrderingKey: "cust-1"},
		{ID: "evt_2", Event: "order.paid", Timestamp: time.Now(), Data: json.RawMessage(`{}`)},
	} {
		b, err := wire.EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, b)
	}
	pub := &jobLog{}
	d := New(subs, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(prometheus.NewRegistry(), subs))
	msg := &streamMsg{eventMsg: &eventMsg{data: wire.AppendPack(nil, encoded...), delivered: 1}, seq: 42}
	d.Handle(context.Background(), msg)
	if !msg.acked || len(pub.jobs) != 4 {
		t.Fatalf("acked %v, %d jobs; want acked, 4 jobs", msg.acked, len(pub.jobs))
	}
	want := map[string]wire.Order{"evt_1": {Key: "cust-1", Seq: 42, Index: 0}, "evt_2": {Key: "", Seq: 42, Index: 1}}
	for _, j := range pub.jobs {
		switch {
		case j.WebhookID == "w-plain" && j.Order != nil:
			t.Errorf("job %s of the unordered webhook has an order %+v", j.EventID, *j.Order)
		case j.WebhookID == "w-fifo" && (j.Order == nil || *j.Order != want[j.EventID]):
			t.Errorf("job %s of the fifo webhook has order %+v, want %+v", j.EventID, j.Order, want[j.EventID])
		}
	}
}
