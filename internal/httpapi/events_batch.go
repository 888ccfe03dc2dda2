package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// MaxBatchEvents bounds POST /events/batch. The body limit applies too.
const MaxBatchEvents = 500

// keyedConcurrency bounds how many events with an id one batch stores
// at once: each has an idempotency record of its own to read and write.
const keyedConcurrency = 16

type batchRequest struct {
	Events []publishRequest `json:"events"`
}

type batchResponse struct {
	Events []publishResponse `json:"events"`
}

// publishEvents is POST /events/batch: {events: [{event, data, id?}, …]}
// → 202 {events: [{id, duplicate}, …]} in the request's order, once
// every event is stored; 1 to MaxBatchEvents events.
//
// Each event is what POST /events takes, checked the same way; one bad
// event refuses the whole batch (422 naming it, as events[i].field) and
// nothing is stored. Events without an id are packed together and
// stored in the request's order, so a batch costs one stored message
// per 256 events: the way to publish thousands of events a second from
// one client. An event with an id is stored once per id as in POST
// /events (duplicate: true on repeats), each in a message of its own,
// beside the others rather than in their order; a batch can hold both
// kinds. A 503 means some events may
// be stored and others not: send the batch again, and give events ids
// so that the repeat stores none twice. The Idempotency-Key header has
// no meaning for a batch and is refused.
//
// A batch counts as one request against a client key's rate limit.
func (s *Server) publishEvents(w http.ResponseWriter, r *http.Request) error {
	if s.events == nil {
		return &fluxhook.Error{Kind: fluxhook.KindNotImplement, Code: "NOT_IMPLEMENTED", Message: "Event ingestion is not configured on this server."}
	}
	var in batchRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	problems := map[string]string{}
	if len(r.Header.Values("Idempotency-Key")) > 0 {
		problems["idempotency_key"] = "has no meaning for a batch: give each event its own id instead"
	}
	switch {
	case in.Events == nil:
		problems["events"] = fmt.Sprintf("is required: a list of 1 to %d events, each {event, data, id?}", MaxBatchEvents)
	case len(in.Events) == 0 || len(in.Events) > MaxBatchEvents:
		problems["events"] = fmt.Sprintf("must hold 1 to %d events; it holds %d", MaxBatchEvents, len(in.Events))
	}
	if len(problems) > 0 {
		return fluxhook.Invalid(problems)
	}
	p := principalFrom(r.Context())
	events := make([]fluxhook.Event, len(in.Events))
	keyed := map[string]int{} // key → index of the event that holds it
	var packed []fluxhook.Event
	var keyedAt []int
	for i, ev := range in.Events {
		prefix := "events[" + strconv.Itoa(i) + "]."
		key := ""
		if ev.ID != nil {
			key = *ev.ID
			if !idempotencyKeyPattern.MatchString(key) {
				problems[prefix+"id"] = idempotencyKeyRule
			} else if j, seen := keyed[key]; seen {
				problems[prefix+"id"] = fmt.Sprintf("repeats the id of events[%d]; each event of a batch needs its own", j)
			} else {
				keyed[key] = i
			}
		}
		checkEvent(ev, prefix, problems)
		if len(problems) > 0 {
			continue
		}
		events[i] = newEvent(ev, key, p.UserID)
		if key == "" {
			packed = append(packed, events[i])
		} else {
			keyedAt = append(keyedAt, i)
		}
	}
	if len(problems) > 0 {
		return fluxhook.Invalid(problems)
	}

	out := batchResponse{Events: make([]publishResponse, len(events))}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.PublishTimeout)
	defer cancel()
	var (
		wg    sync.WaitGroup
		errs  = make([]error, len(keyedAt)+1)
		slots = make(chan struct{}, keyedConcurrency)
	)
	if len(packed) > 0 {
		wg.Go(func() { _, errs[len(keyedAt)] = s.events.PublishEvents(ctx, packed) })
	}
	for n, i := range keyedAt {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			out.Events[i].Duplicate, errs[n] = s.events.PublishKeyed(ctx, events[i])
		})
	}
	wg.Wait()
	switch err := errors.Join(errs...); {
	case errors.Is(err, nats.ErrMaxPayload):
		return &fluxhook.Error{Kind: fluxhook.KindTooLarge, Code: "PAYLOAD_TOO_LARGE", Message: "An event of the batch is larger than the event stream's message size limit; send less data.", Err: err}
	case err != nil:
		// Some may be stored: the caller sends the batch again (the
		// events with ids are then stored once).
		return fluxhook.Unavailable("event stream", err)
	}
	for i, e := range events {
		out.Events[i].ID = e.ID
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}
