package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func validJob() Job {
	return Job{
		DeliveryID:     "0190b5f2-7c1e-7000-8000-000000000001",
		EventID:        "evt_1",
		Event:          "user.created",
		WebhookID:      "wh_1",
		Attempt:        1,
		FirstAttemptAt: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC),
		Payload:        json.RawMessage(`{"id":"evt_1","event":"user.created"}`),
		UserID:         "usr_1",
	}
}

func TestJobRoundTripKeepsPayloadBytes(t *testing.T) {
	// Each payload is something json.Marshal would rewrite: HTML
	// characters, U+2028/2029, insignificant white space, numbers beyond
	// float64, escapes JavaScript would write differently.
	payloads := []string{
		`{"html":"<a href=\"x\">&amp;</a>"}`,
		"{\"ls\":\"\u2028\",\"ps\":\"\u2029\"}",
		`{ "spaced" : [ 1 , 2 ] }`,
		`{"big":12345678901234567890123,"f":1.0,"e":1e21}`,
		`{"esc":"\u00e9\/"}`,
		`"just a string"`,
		`null`,
		`{"payload":{"payload":1},"x":",\"payload\":"}`,
	}
	for _, p := range payloads {
		t.Run(p, func(t *testing.T) {
			j := validJob()
			j.Payload = json.RawMessage(p)
			// The payload key in the header too, where the fast decoder
			// must not take it for the split.
			j.EventID = `evt,"payload":{}`
			data, err := EncodeJob(j)
			if err != nil {
				t.Fatalf("EncodeJob: %v", err)
			}
			got, err := DecodeJob(data)
			if err != nil {
				t.Fatalf("DecodeJob(%s): %v", data, err)
			}
			if !bytes.Equal(got.Payload, []byte(p)) {
				t.Errorf("payload came back as %s, want %s", got.Payload, p)
			}
			want := j
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded %+v, want %+v", got, want)
			}
			// The same as encoding/json makes of the whole message.
			var w jobWire
			if err := json.Unmarshal(data, &w); err != nil || w.EventID != got.EventID || !bytes.Equal(w.Payload, got.Payload) || w.DeliveryID != got.DeliveryID {
				t.Errorf("encoding/json reads %+v (%v), DecodeJob %+v", w, err, got)
			}
		})
	}
}

func TestEncodeJobFormat(t *testing.T) {
	j := validJob()
	j.FirstAttemptAt = time.Time{}
	j.UserID = ""
	data, err := EncodeJob(j)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"delivery_id":"0190b5f2-7c1e-7000-8000-000000000001","event_id":"evt_1","event":"user.created","webhook_id":"wh_1","attempt":1,"payload":{"id":"evt_1","event":"user.created"}}`
	if string(data) != want {
		t.Errorf("encoded\n%s\nwant\n%s", data, want)
	}
	if strings.Contains(string(data), "msg_id") || strings.Contains(string(data), "MsgID") {
		t.Errorf("the msg id leaked into the body: %s", data)
	}
}

func TestJobRefused(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Job)
	}{
		{"delivery id with a dot", func(j *Job) { j.DeliveryID = "a.b" }},
		{"no delivery id", func(j *Job) { j.DeliveryID = "" }},
		{"no event id", func(j *Job) { j.EventID = "" }},
		{"bad event name", func(j *Job) { j.Event = "user.*" }},
		{"no webhook id", func(j *Job) { j.WebhookID = "" }},
		{"attempt 0", func(j *Job) { j.Attempt = 0 }},
		{"no payload", func(j *Job) { j.Payload = nil }},
		{"payload not JSON", func(j *Job) { j.Payload = json.RawMessage(`{"a":`) }},
		{"payload two documents", func(j *Job) { j.Payload = json.RawMessage(`{} {}`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.change(&j)
			if data, err := EncodeJob(j); err == nil {
				t.Errorf("EncodeJob accepted it: %s", data)
			}
		})
	}
}

func TestDecodeJobRefused(t *testing.T) {
	good, err := EncodeJob(validJob())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		data   string
		wantIn string
	}{
		{"not JSON", `nope`, "decode job"},
		{"newer version", strings.Replace(string(good), `"v":1`, `"v":2`, 1), "version 2"},
		{"no version", strings.Replace(string(good), `"v":1,`, ``, 1), "version 0"},
		{"attempt 0", strings.Replace(string(good), `"attempt":1`, `"attempt":0`, 1), "attempt 0"},
		{"no payload", `{"v":1,"delivery_id":"d1","event_id":"e","event":"a.b","webhook_id":"w","attempt":1}`, "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeJob([]byte(tt.data))
			if err == nil {
				t.Fatalf("DecodeJob accepted %s", tt.data)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not mention %q", err, tt.wantIn)
			}
		})
	}

	t.Run("unknown fields are ignored", func(t *testing.T) {
		data := strings.Replace(string(good), `"v":1,`, `"v":1,"added_later":true,`, 1)
		if _, err := DecodeJob([]byte(data)); err != nil {
			t.Errorf("a field added within version 1 broke decoding: %v", err)
		}
	})
}

// BenchmarkDecodeJob: the worker decodes every job it takes.
func BenchmarkDecodeJob(b *testing.B) {
	j := validJob()
	j.Payload = json.RawMessage(`{"id":"0190b5f2-7c1e-7000-8000-000000000001","event":"order.paid","timestamp":"2026-01-02T03:04:05.000Z","data":{"order_id":"ord_7Hq2LxP4","customer":{"id":"cus_9Fk3Zr1W","email":"ada@example.com","name":"Ada Lovelace"},"items":[{"sku":"SKU-1234","qty":2,"price":1999},{"sku":"SKU-5678","qty":1,"price":4999}],"total":8997,"currency":"EUR"}}`)
	data, err := EncodeJob(j)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeJob(data); err != nil {
			b.Fatal(err)
		}
	}
}

// jobsToEncode are jobs whose headers take appendJobHeader's path and
// jobs whose headers need encoding/json's (escapes, non-ASCII, times
// out of RFC 3339's range are refused by both).
func jobsToEncode() []Job {
	plain := validJob()
	noOptional := plain
	noOptional.FirstAttemptAt, noOptional.UserID, noOptional.EventAt = time.Time{}, "", time.Time{}
	withEventAt := plain
	withEventAt.EventAt = time.Date(2026, 11, 24, 7, 0, 0, 0, time.FixedZone("x", 3600))
	quoted := plain
	quoted.EventID = `evt "1" \ <b>&`
	unicode := plain
	unicode.UserID = "usr_é\u2028"
	control := plain
	control.WebhookID = "wh\t1"
	big := plain
	big.Attempt = 1 << 40
	parked := withEventAt
	parked.Parked = 3
	parkedQuoted := quoted
	parkedQuoted.Parked = 12
	again := plain
	again.Again = true
	againParked := parked
	againParked.Again = true
	return []Job{plain, noOptional, withEventAt, quoted, unicode, control, big, parked, parkedQuoted, again, againParked}
}

// TestEncodeJobMatchesEncodingJSON: appendJobHeader writes byte for byte
// what encoding/json writes for the header, and DecodeJob's fast path
// reads back what encoding/json reads.
func TestEncodeJobMatchesEncodingJSON(t *testing.T) {
	for i, j := range jobsToEncode() {
		got, err := EncodeJob(j)
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(jobWire{jobHeader{V: JobVersion, DeliveryID: j.DeliveryID, EventID: j.EventID, Event: j.Event, WebhookID: j.WebhookID,
			Attempt: j.Attempt, Parked: j.Parked, Again: j.Again, FirstAttemptAt: j.FirstAttemptAt, UserID: j.UserID, EventAt: j.EventAt}, j.Payload}); err != nil {
			t.Fatal(err)
		}
		if want := bytes.TrimRight(b.Bytes(), "\n"); !bytes.Equal(got, want) {
			t.Errorf("job %d:\n got %s\nwant %s", i, got, want)
		}
		_, fast := decodeJobFast(got)
		_, plain := appendJobHeader(nil, j)
		if fast != plain {
			t.Errorf("job %d: the fast decoder took it: %v, the fast encoder wrote it: %v", i, fast, plain)
		}
		back, err := DecodeJob(got)
		if err != nil || !reflect.DeepEqual(normalTimes(back), normalTimes(j)) {
			t.Errorf("job %d: read back %+v, %v; want %+v", i, back, err, j)
		}
	}
	if _, ok := appendJobHeader(nil, jobsToEncode()[0]); !ok {
		t.Fatal("a plain job did not take the fast path")
	}
}

// normalTimes makes times comparable with reflect.DeepEqual after a trip
// through RFC 3339 (which keeps the instant and offset, not the zone).
func normalTimes(j Job) Job {
	if !j.FirstAttemptAt.IsZero() {
		j.FirstAttemptAt = j.FirstAttemptAt.UTC()
	}
	if !j.EventAt.IsZero() {
		j.EventAt = j.EventAt.UTC()
	}
	return j
}

// FuzzDecodeJobFast: whatever the fast decoder accepts, encoding/json
// reads as the same job.
func FuzzDecodeJobFast(f *testing.F) {
	for _, j := range jobsToEncode() {
		if data, err := EncodeJob(j); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"v":1,"delivery_id":"a","event_id":"b","event":"c.d","webhook_id":"w","attempt":01,"payload":{}}`))
	f.Add([]byte(`{"v":1,"delivery_id":"a","event_id":"b","event":"c.d","webhook_id":"w","attempt":1,"user_id":"","payload":{}}`))
	f.Add([]byte(`{"v":1,"delivery_id":"a","event_id":"b","event":"c.d","webhook_id":"w","attempt":1,"parked":0,"payload":{}}`))
	f.Add([]byte(`{"v":1,"delivery_id":"a","event_id":"b","event":"c.d","webhook_id":"w","attempt":1,"again":false,"payload":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeJobFast(data)
		if !ok || validatePayload(fast.Payload) != nil {
			// DecodeJob refuses a job whose payload is not JSON after
			// either path.
			return
		}
		var w jobWire
		if err := json.Unmarshal(data, &w); err != nil {
			t.Fatalf("fast path took %q, encoding/json refuses it: %v", data, err)
		}
		slow := Job{DeliveryID: w.DeliveryID, EventID: w.EventID, Event: w.Event, WebhookID: w.WebhookID, Attempt: w.Attempt, Parked: w.Parked, Again: w.Again,
			FirstAttemptAt: w.FirstAttemptAt, Payload: w.Payload, UserID: w.UserID, EventAt: w.EventAt}
		if w.V != JobVersion || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\njson %+v (v %d)", data, fast, slow, w.V)
		}
	})
}

// FuzzEncodeJobMatchesEncodingJSON: for any job, EncodeJob writes what
// encoding/json writes for the header (or refuses what it refuses), and
// DecodeJob reads back the same job, whichever path each took.
func FuzzEncodeJobMatchesEncodingJSON(f *testing.F) {
	for _, j := range jobsToEncode() {
		f.Add(j.DeliveryID, j.EventID, j.Event, j.WebhookID, j.UserID, j.Attempt, j.FirstAttemptAt.Unix(), int64(j.FirstAttemptAt.Nanosecond()), j.EventAt.Unix(), 0)
	}
	f.Add("d", "e\u2028", "a.b", "w<>&", "u\xff", 1, int64(-62135596800), int64(0), int64(253402300800), 3600)
	f.Fuzz(func(t *testing.T, deliveryID, eventID, event, webhookID, userID string, attempt int, firstSec, firstNsec, eventSec int64, offset int) {
		zone := time.FixedZone("", offset%(26*3600))
		j := Job{DeliveryID: deliveryID, EventID: eventID, Event: event, WebhookID: webhookID, UserID: userID, Attempt: attempt,
			Payload: json.RawMessage(`{"a":1}`)}
		if firstSec != 0 {
			j.FirstAttemptAt = time.Unix(firstSec, firstNsec%1e9).In(zone)
		}
		if eventSec != 0 {
			j.EventAt = time.Unix(eventSec, 0).UTC()
		}
		got, err := EncodeJob(j)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		jsonErr := enc.Encode(jobWire{jobHeader{V: JobVersion, DeliveryID: j.DeliveryID, EventID: j.EventID, Event: j.Event, WebhookID: j.WebhookID,
			Attempt: j.Attempt, FirstAttemptAt: j.FirstAttemptAt, UserID: j.UserID, EventAt: j.EventAt}, j.Payload})
		if err != nil {
			if j.validate() == nil && jsonErr == nil {
				t.Fatalf("EncodeJob refused a valid job encoding/json writes: %v", err)
			}
			return
		}
		if jsonErr != nil {
			t.Fatalf("EncodeJob wrote %s where encoding/json refuses: %v", got, jsonErr)
		}
		if want := bytes.TrimRight(b.Bytes(), "\n"); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
		back, err := DecodeJob(got)
		if err != nil {
			t.Fatalf("DecodeJob(%s): %v", got, err)
		}
		if fast, ok := decodeJobFast(got); ok && !reflect.DeepEqual(fast, back) {
			t.Fatalf("fast path read %+v, DecodeJob %+v", fast, back)
		}
		// encoding/json reads invalid UTF-8 back as U+FFFD: compare with
		// what it reads, not with the input.
		var w jobWire
		if err := json.Unmarshal(got, &w); err != nil {
			t.Fatal(err)
		}
		if back.EventID != w.EventID || back.UserID != w.UserID || back.WebhookID != w.WebhookID || back.Attempt != w.Attempt ||
			!back.FirstAttemptAt.Equal(w.FirstAttemptAt) || !back.EventAt.Equal(w.EventAt) || !bytes.Equal(back.Payload, w.Payload) {
			t.Fatalf("read back %+v, encoding/json reads %+v", back, w)
		}
	})
}
