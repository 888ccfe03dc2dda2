// Package wire holds every format that leaves a process: the event and
// the delivery job as they travel through JetStream, the body a
// receiver gets, and the ids that tie them together (event, delivery,
// deduplication). They are contracts with other processes, other
// releases and receivers, so their encoders, decoders and ids live here
// and nowhere else.
package wire

import "github.com/google/uuid"

// NewID returns a new id: a UUIDv7, time-ordered, as API.md asks of every id.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ValidDeliveryID reports whether a delivery id is 1 to 128 of A-Z, a-z,
// 0-9, _ and -: a delivery id becomes a NATS subject token (the subject
// of its pending retry), so it must have no dots, wildcards or spaces.
// A loop, not a regexp: it runs for every job.
func ValidDeliveryID(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
