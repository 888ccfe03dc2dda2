package wire

import (
	"encoding/json"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/google/uuid"
)

// envelope is the body receivers get: the seeds' WebhookPayload, with
// the signature in headers.
type envelope struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// jsTime is how JavaScript's Date.prototype.toISOString writes a time:
// UTC with milliseconds, which is what receivers in JavaScript expect.
const jsTime = "2006-01-02T15:04:05.000Z"

// Payload returns the body sent for an event: exactly what JavaScript's
// JSON.stringify(JSON.parse(body)) gives, so receivers that verify the
// signature over JSON.stringify(req.body), as the seeds do, succeed.
func Payload(e *fluxhook.Event) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	return jsjson.Marshal(envelope{ID: e.ID, Event: e.Event, Timestamp: e.Timestamp.UTC().Format(jsTime), Data: data})
}

// deliveryNamespace makes delivery ids deterministic: the same event and
// webhook always give the same delivery id, so an event dispatched twice
// (after a crash before its ack) carries the same webhook-id header and
// the same JetStream msg id.
var deliveryNamespace = uuid.MustParse("6f1d3a52-93c4-4bb4-a1f5-7a5c0d1e8b27")

// DeliveryID returns the delivery id of an event (accepted at at) for a
// webhook: a UUIDv8 whose first 48 bits are at in Unix milliseconds, as
// in a UUIDv7, and whose other bits come from a SHA-1 of the event and
// webhook ids. Deterministic like a UUIDv5, and time-ordered like the
// other ids, so that the delivery log's index on it grows at its end
// instead of taking a write on a random page for every attempt.
func DeliveryID(eventID string, at time.Time, webhookID string) string {
	id := uuid.NewSHA1(deliveryNamespace, []byte(eventID+"."+webhookID))
	ms := uint64(max(at.UnixMilli(), 0))
	for i := range 6 {
		id[i] = byte(ms >> (8 * (5 - i)))
	}
	id[6] = id[6]&0x0f | 0x80 // version 8
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
	return id.String()
}
