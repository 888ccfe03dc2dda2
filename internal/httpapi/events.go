package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/wire"
)

// EventPublisher stores an event in the EVENTS stream and returns once
// JetStream has acknowledged it; duplicate reports that an event with
// the same id was already stored within the duplicate window.
type EventPublisher interface {
	// PublishKeyed stores an event accepted with an idempotency key once
	// for the idempotency window, across restarts and replicas.
	PublishKeyed(ctx context.Context, e fluxhook.Event) (duplicate bool, err error)
	// PackEvent stores an event that cannot be a repeat (no idempotency
	// key), packed with others: one stored message for many events.
	PackEvent(ctx context.Context, e fluxhook.Event) error
	// PublishEvents stores events in their order, packed into as few
	// messages as it can, one after another, and returns how many of
	// them, from the first, are stored.
	PublishEvents(ctx context.Context, es []fluxhook.Event) (stored int, err error)
}

// DefaultPublishTimeout bounds the wait for JetStream's PubAck in
// POST /events.
const DefaultPublishTimeout = 10 * time.Second

// reservedEvents are the names Fluxhook emits itself. A client that
// could publish them could forge, say, a user.created that receivers
// trust as coming from Fluxhook.
var reservedEvents = append(slices.Concat(fluxhook.Catalogue, fluxhook.Operational), fluxhook.EventWebhookTest)

// idempotencyKeyPattern keeps keys printable and header-safe.
var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

const idempotencyKeyRule = "must be 1 to 128 characters of A-Z, a-z, 0-9, _, ., : and -"

// eventKeyNamespace scopes event ids derived from idempotency keys.
var eventKeyNamespace = uuid.MustParse("6f1c2b8e-4f1d-4c55-9a59-3f0c8e7d2a41")

type publishRequest struct {
	Event       string          `json:"event"`
	Data        json.RawMessage `json:"data"`
	ID          *string         `json:"id"`
	OrderingKey *string         `json:"ordering_key"`
}

type publishResponse struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// publishEvent is POST /events: {event, data, id?, ordering_key?} → 202
// {id, duplicate} once JetStream has stored the event, never before.
//
//   - event: a custom name (fluxhook.ValidateEventName); the names
//     Fluxhook emits itself are refused.
//   - data: any JSON value but null (an object, as receivers of the
//     Fluxbase examples expect, unless they know better); required.
//   - ordering_key: webhooks with ordering "fifo" get the events of one
//     key in the order they were accepted, and unrelated keys in
//     parallel; without one, the event is in the webhook's one sequence.
//   - id, or the Idempotency-Key header (both must agree when both are
//     sent): makes retries safe. The event id is derived from it and
//     the caller's user id, so the same key from the same user within
//     24 h is stored once (duplicate: true on the repeats, which are not
//     compared with the original), while another tenant's use of the
//     same key can neither suppress nor detect this one. Without a key
//     the event gets a fresh id, and a retry after a 503 may store it
//     twice.
//
// The event concerns the caller (user_id is the caller's user id, the
// owner of the client key if one is used): webhooks owned by app users
// receive only the custom events their owner published; dashboard
// users' webhooks receive all of them.
func (s *Server) publishEvent(w http.ResponseWriter, r *http.Request) error {
	if s.events == nil {
		return &fluxhook.Error{Kind: fluxhook.KindNotImplement, Code: "NOT_IMPLEMENTED", Message: "Event ingestion is not configured on this server."}
	}
	var in publishRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	key, problems := idempotencyKey(r, in.ID)
	checkEvent(in, "", problems)
	if len(problems) > 0 {
		return fluxhook.Invalid(problems)
	}
	e := newEvent(in, key, p.UserID)
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.PublishTimeout)
	defer cancel()
	var duplicate bool
	var err error
	if key == "" {
		err = s.events.PackEvent(ctx, e)
	} else {
		duplicate, err = s.events.PublishKeyed(ctx, e)
	}
	switch {
	case errors.Is(err, nats.ErrMaxPayload):
		return &fluxhook.Error{Kind: fluxhook.KindTooLarge, Code: "PAYLOAD_TOO_LARGE", Message: "The event is larger than the event stream's message size limit; send less data.", Err: err}
	case err != nil:
		// Not known to be stored: the caller must retry (with the same
		// id, so that an event stored after all is not stored twice).
		return fluxhook.Unavailable("event stream", err)
	}
	writeJSON(w, http.StatusAccepted, publishResponse{ID: e.ID, Duplicate: duplicate})
	return nil
}

// checkEvent adds what is wrong with one event of a request to
// problems, each under prefix+field ("events[3].data").
func checkEvent(in publishRequest, prefix string, problems map[string]string) {
	switch {
	case in.Event == "":
		problems[prefix+"event"] = "is required"
	case len(in.Event) > fluxhook.MaxEventNameLen:
		problems[prefix+"event"] = "must be at most 128 characters long"
	case fluxhook.ValidateEventName(in.Event) != nil:
		problems[prefix+"event"] = "must be lowercase words separated by dots, like order.shipped (a-z, 0-9 and _ only)"
	case slices.Contains(reservedEvents, in.Event):
		problems[prefix+"event"] = "is reserved for events Fluxhook emits; publish a name of your own, like order.shipped"
	}
	switch {
	case in.Data == nil:
		problems[prefix+"data"] = "is required: the event's payload, any JSON value (usually an object)"
	case string(in.Data) == "null":
		problems[prefix+"data"] = "must not be null"
	}
	if in.OrderingKey != nil {
		if problem := orderingKeyProblem(*in.OrderingKey); problem != "" {
			problems[prefix+"ordering_key"] = problem
		}
	}
}

// newEvent is the event in describes, published by userID: a fresh id,
// or one derived from its idempotency key (see publishEvent).
func newEvent(in publishRequest, key, userID string) fluxhook.Event {
	e := fluxhook.Event{
		ID:        wire.NewID(),
		Event:     in.Event,
		Timestamp: time.Now().UTC(),
		Data:      in.Data,
		UserID:    userID,
	}
	if in.OrderingKey != nil {
		e.OrderingKey = *in.OrderingKey
	}
	if key != "" {
		e.ID = uuid.NewSHA1(eventKeyNamespace, []byte(userID+"\x00"+key)).String()
	}
	return e
}

// orderingKeyProblem says what is wrong with an ordering key, or "".
func orderingKeyProblem(k string) string {
	if k == "" || len(k) > fluxhook.MaxOrderingKeyLen || !utf8.ValidString(k) {
		return fmt.Sprintf("must be 1 to %d bytes of text, such as a customer id", fluxhook.MaxOrderingKeyLen)
	}
	for _, r := range k {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

// idempotencyKey returns the request's key from the body's id or the
// Idempotency-Key header, and the problems with them.
func idempotencyKey(r *http.Request, bodyID *string) (string, map[string]string) {
	problems := map[string]string{}
	var key string
	if bodyID != nil {
		key = *bodyID
		if !idempotencyKeyPattern.MatchString(key) {
			problems["id"] = idempotencyKeyRule
		}
	}
	if hs := r.Header.Values("Idempotency-Key"); len(hs) > 0 {
		h := hs[0]
		switch {
		case len(hs) > 1:
			problems["idempotency_key"] = "must be sent once"
		case !idempotencyKeyPattern.MatchString(h):
			problems["idempotency_key"] = idempotencyKeyRule
		case bodyID != nil && h != key:
			problems["id"] = "differs from the Idempotency-Key header; send the same key in both, or only one"
		}
		key = h
	}
	return key, problems
}
