package wire

import (
	"encoding/json"
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
