package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func TestEventRoundTrip(t *testing.T) {
	e := fluxhook.Event{
		ID:        "evt_1",
		Event:     "order.paid.v2",
		Timestamp: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Data:      json.RawMessage(`{"note":"<b>&</b>"}`),
		UserID:    "usr_1",
	}
	data, err := EncodeEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"data":{"note":"<b>&</b>"}`) {
		t.Errorf("data was escaped: %s", data)
	}
	got, err := DecodeEvent(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("decoded %+v, want %+v", got, e)
	}
}

func TestEventRefused(t *testing.T) {
	tests := []struct {
		name string
		e    fluxhook.Event
	}{
		{"no id", fluxhook.Event{Event: "user.created", Data: json.RawMessage(`{}`)}},
		{"id with CRLF", fluxhook.Event{ID: "x\r\nNats-Schedule: @every 1s", Event: "user.created", Data: json.RawMessage(`{}`)}},
		{"id too long", fluxhook.Event{ID: strings.Repeat("x", maxMsgIDLen+1), Event: "user.created", Data: json.RawMessage(`{}`)}},
		{"wildcard name", fluxhook.Event{ID: "e1", Event: "user.>", Data: json.RawMessage(`{}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if data, err := EncodeEvent(tt.e); err == nil {
				t.Errorf("EncodeEvent accepted it: %s", data)
			}
			raw, err := json.Marshal(tt.e)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeEvent(raw); err == nil {
				t.Errorf("DecodeEvent accepted %s", raw)
			}
		})
	}
}

// TestDecodeEventsReadsPacksAndSingleEvents: an EVENTS message is one
// event as EncodeEvent writes it, or several, one per line; the data
// may hold line breaks in strings (escaped) and between tokens
// (compacted away), and still each event is one line.
func TestDecodeEventsReadsPacksAndSingleEvents(t *testing.T) {
	var evs []fluxhook.Event
	var encoded [][]byte
	for i, data := range []string{`{"a":"line\nbreak"}`, "{\n  \"b\": [1,\n 2]\n}", `7`} {
		e := fluxhook.Event{ID: fmt.Sprint("e", i), Event: "order.paid", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(data)}
		b, err := EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, '\n') >= 0 {
			t.Fatalf("encoded event %d holds a line break: %q", i, b)
		}
		evs, encoded = append(evs, e), append(encoded, b)
	}
	got, err := DecodeEvents(AppendPack(nil, encoded...))
	if err != nil || len(got) != 3 {
		t.Fatalf("DecodeEvents: %d events, %v", len(got), err)
	}
	for i := range got {
		if got[i].ID != evs[i].ID || !json.Valid(got[i].Data) {
			t.Errorf("event %d: %+v", i, got[i])
		}
	}
	if string(got[1].Data) != `{"b":[1,2]}` {
		t.Errorf("data %s, want it compacted", got[1].Data)
	}
	one, err := DecodeEvents(encoded[0])
	if err != nil || len(one) != 1 || one[0].ID != "e0" {
		t.Fatalf("a single event read as %+v, %v", one, err)
	}
	if _, err := DecodeEvents(AppendPack(nil, encoded[0], []byte("{"))); err == nil {
		t.Fatal("a pack with a broken event was accepted")
	}
}
