package events

import (
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// Stream and consumer names. Other processes (the nats CLI, KEDA's
// lag scaler, dashboards) refer to them, so they are part of the wire
// format and do not change lightly.
const (
	StreamEvents      = "EVENTS"
	StreamDeliveries  = "DELIVERIES"
	StreamDeadLetters = "DEAD_LETTERS"

	ConsumerDispatcher = "dispatcher"
	ConsumerWorker     = "worker"
)

// Subject filters of the streams and consumers.
const (
	EventsSubjects     = "fluxhook.events.>"
	DeliveriesSubjects = "fluxhook.deliveries.>"
	SchedulesSubjects  = "fluxhook.schedules.>"
	DeadSubjects       = "fluxhook.dead.>"
)

const (
	eventsPrefix     = "fluxhook.events."
	deliveriesPrefix = "fluxhook.deliveries."
	schedulesPrefix  = "fluxhook.schedules."
	deadPrefix       = "fluxhook.dead."
)

// DefaultShards is how many delivery subjects jobs are spread over.
// A webhook's jobs always land on the same shard, so per-shard
// consumers can later give one webhook ordered, bounded parallelism
// without a consumer per webhook. Every process must agree on it: it is
// a property of the wire format, not of one process, which is why it is
// a constant rather than configuration. Changing it re-maps webhooks to
// shards, which only matters once per-shard consumers exist.
const DefaultShards = 16

// EventSubject returns the subject events named name are published on.
func EventSubject(name string) (string, error) {
	if err := fluxhook.ValidateEventName(name); err != nil {
		return "", err
	}
	return eventsPrefix + name, nil
}

// Shard maps a webhook to one of n shards with FNV-1a, which is stable
// across processes, releases and architectures.
func Shard(webhookID string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(webhookID))
	return int(h.Sum32() % uint32(n))
}

// EventPackSubject is where packs of events are published (PackEvent);
// an event name has at least two words, so none is published here.
const EventPackSubject = eventsPrefix + "packs"

// PackSubject is where packs of delivery jobs are published (see
// wire.DecodePack), whichever webhooks they are for: packing jobs of many
// webhooks in one message is what makes one fsync cover many deliveries.
const PackSubject = deliveriesPrefix + "packs"

// DeliverySubject returns the subject of delivery jobs for a webhook.
func DeliverySubject(webhookID string) string {
	return deliveriesPrefix + strconv.Itoa(Shard(webhookID, DefaultShards))
}

// DeadSubject returns the dead-letter subject of a webhook's jobs,
// sharded like DeliverySubject so a hand retry can be done per shard.
func DeadSubject(webhookID string) string {
	return deadPrefix + strconv.Itoa(Shard(webhookID, DefaultShards))
}

// ScheduleSubject returns the subject that holds the pending retry of a
// delivery's attempt. It must be unique per pending schedule: a second
// schedule on the same subject replaces the first (the server rolls the
// subject up), and attempts of one delivery must not replace each other.
func ScheduleSubject(deliveryID string, attempt int) (string, error) {
	if !wire.ValidDeliveryID(deliveryID) {
		return "", fmt.Errorf("delivery id %q cannot be a subject token: use 1 to 128 of A-Z, a-z, 0-9, _ and -", deliveryID)
	}
	if attempt < 1 {
		return "", fmt.Errorf("attempt %d: attempts count from 1", attempt)
	}
	return schedulesPrefix + deliveryID + "." + strconv.Itoa(attempt), nil
}
