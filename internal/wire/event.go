package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// EncodeEvent returns the message body of an event. Data is kept as
// JSON but without Go's HTML escaping, so what the dispatcher reads is
// as close as possible to what the publisher gave.
func EncodeEvent(e fluxhook.Event) ([]byte, error) {
	if err := validateEvent(e); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// DecodeEvent parses a message body made by EncodeEvent. As with
// DecodeJob, an error means the message can never be processed.
func DecodeEvent(data []byte) (fluxhook.Event, error) {
	var e fluxhook.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return fluxhook.Event{}, fmt.Errorf("decode event: %w", err)
	}
	if err := validateEvent(e); err != nil {
		return fluxhook.Event{}, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}

func validateEvent(e fluxhook.Event) error {
	if err := validateMsgID(e.ID); err != nil {
		return fmt.Errorf("event id: %w", err)
	}
	return fluxhook.ValidateEventName(e.Event)
}

// maxMsgIDLen bounds deduplication ids: the server keeps every id of
// the duplicate window in memory.
const maxMsgIDLen = 512

// validateMsgID keeps ids that end up in a Nats-Msg-Id header sane. A
// CR or LF would end the header and let the rest of the id inject
// headers of its own (Nats-Schedule, Nats-Rollup, …), and event ids can
// come from API clients.
func validateMsgID(id string) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > maxMsgIDLen {
		return fmt.Errorf("%d bytes long; at most %d are allowed", len(id), maxMsgIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%q contains a control character", id)
		}
	}
	return nil
}

// DecodeEvents parses an EVENTS message: one event as EncodeEvent writes
// it, or a pack of them, one per line (AppendPack). An encoded event
// never holds a line break: encoding/json escapes them in strings and
// compacts the data.
func DecodeEvents(data []byte) ([]fluxhook.Event, error) {
	n := bytes.Count(data, []byte{'\n'}) + 1
	if n > MaxPackJobs {
		return nil, fmt.Errorf("decode events: %d events, at most %d are allowed", n, MaxPackJobs)
	}
	out := make([]fluxhook.Event, 0, n)
	for rest := data; ; {
		line, tail, more := bytes.Cut(rest, []byte{'\n'})
		e, err := DecodeEvent(line)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", len(out)+1, err)
		}
		out = append(out, e)
		if !more {
			return out, nil
		}
		rest = tail
	}
}
