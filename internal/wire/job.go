package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// JobVersion is the "v" every encoded job carries. It changes only when
// a field changes meaning; new optional fields keep it, since decoders
// ignore fields they do not know.
const JobVersion = 1

// Job is one delivery attempt of one event to one webhook, as it travels
// through the DELIVERIES stream.
type Job struct {
	DeliveryID string
	EventID    string
	Event      string
	WebhookID  string
	// Attempt is the engine's own attempt counter, from 1. JetStream's
	// delivery count is no substitute: it also counts crashes and
	// rate-limit deferrals, which use up no attempt.
	Attempt int
	// Parked counts the times the job was put back without an attempt
	// because its endpoint's circuit was open; the n-th parking lasts at
	// least the retry schedule's n-th wait.
	Parked int
	// Again says the job may have been stored before: its event was
	// dispatched a second time (the dispatcher's message was delivered
	// again after a crash or a failed publish), so the worker looks it
	// up among the delivered ones before sending it.
	Again bool
	// FirstAttemptAt is when attempt 1 was made; zero until then. Retries
	// carry it so the worker can tell how long a delivery has failed.
	FirstAttemptAt time.Time
	// Payload is the exact request body to send. It is carried
	// byte for byte: the signature is over these bytes, and re-encoding
	// (Go escapes <, >, & and U+2028 where JavaScript does not) would
	// change them.
	Payload json.RawMessage
	UserID  string
	// EventAt is the event's timestamp, for the event-to-delivery latency.
	EventAt time.Time
	// Order, set by the dispatcher for a webhook with ordering "fifo",
	// sends the job to the ordered lane (package ordered) instead of
	// DELIVERIES. It is not encoded: an ordered job never travels
	// through a stream.
	Order *Order
}

// Order is an ordered job's place: its ordering key, and its event's
// place in the order of acceptance (the EVENTS stream sequence of the
// event's message and the event's index in it).
type Order struct {
	Key   string
	Seq   uint64
	Index int
}

// jobHeader is the encoded job without its payload, which EncodeJob
// appends verbatim.
type jobHeader struct {
	V              int       `json:"v"`
	DeliveryID     string    `json:"delivery_id"`
	EventID        string    `json:"event_id"`
	Event          string    `json:"event"`
	WebhookID      string    `json:"webhook_id"`
	Attempt        int       `json:"attempt"`
	Parked         int       `json:"parked,omitempty"`
	Again          bool      `json:"again,omitempty"`
	FirstAttemptAt time.Time `json:"first_attempt_at,omitzero"`
	UserID         string    `json:"user_id,omitempty"`
	EventAt        time.Time `json:"event_at,omitzero"`
}

type jobWire struct {
	jobHeader
	Payload json.RawMessage `json:"payload"`
}

// EncodeJob returns the message body of j:
// {"v":1,"delivery_id",…,"payload":<payload bytes as given>}. The payload
// is always the last member: DecodeJob reads the header alone.
func EncodeJob(j Job) ([]byte, error) {
	if err := j.validate(); err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	return encodeJob(j)
}

// encodeJob is EncodeJob for a job already validated.
func encodeJob(j Job) ([]byte, error) {
	out, ok := appendJobHeader(make([]byte, 0, 320+len(j.Payload)), j)
	if !ok {
		// A string that needs escaping, or a time out of RFC 3339's
		// range: encoding/json writes it (or says why it cannot).
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		h := jobHeader{
			V:              JobVersion,
			DeliveryID:     j.DeliveryID,
			EventID:        j.EventID,
			Event:          j.Event,
			WebhookID:      j.WebhookID,
			Attempt:        j.Attempt,
			Parked:         j.Parked,
			Again:          j.Again,
			FirstAttemptAt: j.FirstAttemptAt,
			UserID:         j.UserID,
			EventAt:        j.EventAt,
		}
		if err := enc.Encode(h); err != nil {
			return nil, fmt.Errorf("encode job %s: %w", j.DeliveryID, err)
		}
		out = bytes.TrimRight(b.Bytes(), "\n")
		out = out[:len(out)-1] // the closing brace
	}
	// json.Marshal would compact and HTML-escape a RawMessage, so the
	// payload is spliced in after the encoded header instead.
	out = append(out, `,"payload":`...)
	if bytes.IndexByte(j.Payload, '\n') >= 0 {
		// A pack puts each job on a line of its own: a line break in the
		// payload can only be white space between tokens, which goes.
		// Payloads Fluxhook makes (jsjson) never hold one.
		var b bytes.Buffer
		if err := json.Compact(&b, j.Payload); err != nil {
			return nil, fmt.Errorf("encode job %s: payload: %w", j.DeliveryID, err)
		}
		out = append(out, b.Bytes()...)
	} else {
		out = append(out, j.Payload...)
	}
	out = append(out, '}')
	return out, nil
}

// appendJobHeader appends j's header to b as encoding/json writes
// jobHeader (without HTML escaping), less its closing brace. It reports
// false, having written nothing usable, when a string holds a byte that
// encoding/json would escape or replace, or a time cannot be written.
// Every job the dispatcher makes takes this path (ids, names and times
// are plain ASCII), and encoding/json took 2% of a worker's CPU.
func appendJobHeader(b []byte, j Job) ([]byte, bool) {
	if !plainJSON(j.DeliveryID) || !plainJSON(j.EventID) || !plainJSON(j.Event) || !plainJSON(j.WebhookID) || !plainJSON(j.UserID) {
		return b, false
	}
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, JobVersion, 10)
	b = appendMember(b, `,"delivery_id":"`, j.DeliveryID)
	b = appendMember(b, `,"event_id":"`, j.EventID)
	b = appendMember(b, `,"event":"`, j.Event)
	b = appendMember(b, `,"webhook_id":"`, j.WebhookID)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(j.Attempt), 10)
	if j.Parked > 0 {
		b = append(b, `,"parked":`...)
		b = strconv.AppendInt(b, int64(j.Parked), 10)
	}
	if j.Again {
		b = append(b, `,"again":true`...)
	}
	var err error
	if !j.FirstAttemptAt.IsZero() {
		b = append(b, `,"first_attempt_at":"`...)
		if b, err = j.FirstAttemptAt.AppendText(b); err != nil {
			return b, false
		}
		b = append(b, '"')
	}
	if j.UserID != "" {
		b = appendMember(b, `,"user_id":"`, j.UserID)
	}
	if !j.EventAt.IsZero() {
		b = append(b, `,"event_at":"`...)
		if b, err = j.EventAt.AppendText(b); err != nil {
			return b, false
		}
		b = append(b, '"')
	}
	return b, true
}

func appendMember(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, value...)
	return append(b, '"')
}

// plainJSON reports whether s is printable ASCII without a quote or a
// backslash: bytes a JSON string holds as they are, which encoding/json
// writes unchanged and reads back unchanged.
func plainJSON[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// DecodeJob parses a message body made by EncodeJob. An error means the
// message can never be processed (a bug or a newer, incompatible
// encoder), not that trying again could help.
func DecodeJob(data []byte) (Job, error) {
	j, ok := decodeJobFast(data)
	if !ok {
		var w jobWire
		if err := json.Unmarshal(data, &w); err != nil {
			return Job{}, fmt.Errorf("decode job: %w", err)
		}
		if w.V != JobVersion {
			return Job{}, fmt.Errorf("decode job: version %d, this build reads version %d", w.V, JobVersion)
		}
		j = Job{DeliveryID: w.DeliveryID, EventID: w.EventID, Event: w.Event, WebhookID: w.WebhookID, Attempt: w.Attempt, Parked: w.Parked, Again: w.Again,
			FirstAttemptAt: w.FirstAttemptAt, Payload: w.Payload, UserID: w.UserID, EventAt: w.EventAt}
	}
	if err := j.validate(); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	return j, nil
}

// decodeJobFast reads a job laid out exactly as appendJobHeader and
// encodeJob write it: the members in their order, strings of plain
// ASCII, the payload last. It reports false for anything else (escapes,
// another order, unknown members, another version), which DecodeJob
// then reads with encoding/json; when it reports true, the job is what
// encoding/json would have read. encoding/json took 3% of a worker's
// CPU here.
func decodeJobFast(data []byte) (Job, bool) {
	var j Job
	r := jobReader{b: data}
	ok := r.lit(fastJobStart) && r.str(&j.DeliveryID) &&
		r.lit(`,"event_id":`) && r.str(&j.EventID) &&
		r.lit(`,"event":`) && r.str(&j.Event) &&
		r.lit(`,"webhook_id":`) && r.str(&j.WebhookID) &&
		r.lit(`,"attempt":`) && r.int(&j.Attempt)
	if ok && r.lit(`,"parked":`) {
		ok = r.int(&j.Parked) && j.Parked > 0
	}
	if ok && r.lit(`,"again":true`) {
		j.Again = true
	}
	if ok && r.lit(`,"first_attempt_at":`) {
		ok = r.time(&j.FirstAttemptAt)
	}
	if ok && r.lit(`,"user_id":`) {
		ok = r.str(&j.UserID) && j.UserID != ""
	}
	if ok && r.lit(`,"event_at":`) {
		ok = r.time(&j.EventAt)
	}
	if !ok || !r.lit(`,"payload":`) || len(data)-r.i < 2 || data[len(data)-1] != '}' {
		return Job{}, false
	}
	j.Payload = data[r.i : len(data)-1]
	return j, true
}

// fastJobStart is how every job appendJobHeader writes begins.
var fastJobStart = `{"v":` + strconv.Itoa(JobVersion) + `,"delivery_id":`

// jobReader is decodeJobFast's cursor.
type jobReader struct {
	b []byte
	i int
}

// lit consumes s if the input continues with it.
func (r *jobReader) lit(s string) bool {
	if len(r.b)-r.i < len(s) || string(r.b[r.i:r.i+len(s)]) != s {
		return false
	}
	r.i += len(s)
	return true
}

// quoted consumes a string of plain ASCII and returns what is between
// its quotes.
func (r *jobReader) quoted() ([]byte, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	end := bytes.IndexByte(r.b[r.i+1:], '"')
	if end < 0 {
		return nil, false
	}
	s := r.b[r.i+1 : r.i+1+end]
	if !plainJSON(s) {
		return nil, false
	}
	r.i += end + 2
	return s, true
}

func (r *jobReader) str(dst *string) bool {
	s, ok := r.quoted()
	if ok {
		*dst = string(s)
	}
	return ok
}

// int consumes a JSON integer without sign, leading zeros, fraction or
// exponent, as strconv.AppendInt writes a positive int.
func (r *jobReader) int(dst *int) bool {
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	digits := r.b[start:r.i]
	if len(digits) == 0 || len(digits) > 1 && digits[0] == '0' {
		return false
	}
	n, err := strconv.Atoi(string(digits))
	*dst = n
	return err == nil
}

// time consumes a quoted time the way encoding/json does for a
// time.Time: with its UnmarshalJSON.
func (r *jobReader) time(dst *time.Time) bool {
	start := r.i
	if _, ok := r.quoted(); !ok {
		return false
	}
	return dst.UnmarshalJSON(r.b[start:r.i]) == nil && !dst.IsZero()
}

func (j Job) validate() error {
	if err := j.validateHeader(); err != nil {
		return err
	}
	return validatePayload(j.Payload)
}

func validatePayload(p json.RawMessage) error {
	if len(p) == 0 || !json.Valid(p) {
		return errors.New("payload is not a JSON document")
	}
	return nil
}

// validateHeader is validate without the payload.
func (j Job) validateHeader() error {
	if !ValidDeliveryID(j.DeliveryID) {
		return fmt.Errorf("delivery id %q: use 1 to 128 of A-Z, a-z, 0-9, _ and -", j.DeliveryID)
	}
	if j.EventID == "" {
		return errors.New("no event id")
	}
	if err := fluxhook.ValidateEventName(j.Event); err != nil {
		return err
	}
	if j.WebhookID == "" {
		return errors.New("no webhook id")
	}
	if j.Attempt < 1 {
		return fmt.Errorf("attempt %d: attempts count from 1", j.Attempt)
	}
	if j.Parked < 0 {
		return fmt.Errorf("parked %d times: cannot be negative", j.Parked)
	}
	return nil
}

// EncodeJobs encodes jobs, each as EncodeJob does. The jobs of one event
// share their payload, which is checked once.
func EncodeJobs(jobs []Job) ([][]byte, error) {
	out := make([][]byte, len(jobs))
	var checked json.RawMessage
	for i, j := range jobs {
		if err := j.validateHeader(); err != nil {
			return nil, fmt.Errorf("encode job: %w", err)
		}
		if !sameBytes(j.Payload, checked) {
			if err := validatePayload(j.Payload); err != nil {
				return nil, fmt.Errorf("encode job: %w", err)
			}
			checked = j.Payload
		}
		data, err := encodeJob(j)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// sameBytes reports whether a and b are the same bytes in memory (not
// merely equal ones).
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0]
}
