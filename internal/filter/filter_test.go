package filter

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

func TestCompileRefusesWithAReasonAndAPlace(t *testing.T) {
	cases := []struct {
		name, src, want string
	}{
		{"syntax", `data.amount > `, "1:15: Syntax error"},
		{"second line", "event == \"a\" &&\n  data.x ==", "2:12: Syntax error"},
		{"unknown variable", `amount > 100`, "undeclared reference to 'amount'"},
		{"not a bool", `data.amount + 1`, "must be true or false"},
		{"string result", `event`, "must be true or false, but this expression is a string"},
		{"too long", `event == "` + strings.Repeat("a", MaxLength) + `"`, "at most 1000 characters long"},
		{"nested loops", `data.a.all(x, data.b.all(y, data.c.all(z, x == y && y == z)))`, "too costly"},
		{"type mismatch", `event > 1`, "no matching overload"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Compile(c.src)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Compile(%q) = %v, want a filter error", c.src, err)
			}
			if !strings.Contains(fe.Message, c.want) {
				t.Fatalf("message %q does not say %q", fe.Message, c.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	e := &fluxhook.Event{ID: "e1", Event: "order.paid", UserID: "u1", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data: json.RawMessage(`{"amount":150,"price":9.5,"currency":"EUR","tags":["vip","new"],"customer":{"country":"FR"},"big":12345678901234567890}`)}
	in := NewInput(e)
	cases := []struct {
		src     string
		want    bool
		wantErr bool
	}{
		{`data.amount > 100 && data.currency == "EUR"`, true, false},
		{`data.amount > 200 || data.currency != "EUR"`, false, false},
		{`data.amount == 150 && data.price < 10`, true, false},
		{`data.price > 9`, true, false},
		{`"vip" in data.tags && data.customer.country == "FR"`, true, false},
		{`event.startsWith("order.") && user_id == "u1" && id == "e1"`, true, false},
		{`timestamp > timestamp("2026-01-01T00:00:00Z")`, true, false},
		{`data.big > 1`, true, false},
		{`has(data.missing) && data.missing > 1`, false, false},
		// A missing field is an error, which the dispatcher counts as no match.
		{`data.missing > 1`, false, true},
		// A dyn expression that is not a bool at run time.
		{`data.currency`, false, true},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			p, err := Compile(c.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Match(in)
			if got != c.want || (err != nil) != c.wantErr {
				t.Fatalf("Match = %v, %v; want %v, error %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestCostLimitStopsAnExpensiveEvaluation(t *testing.T) {
	items := make([]int, 5000)
	b, _ := json.Marshal(map[string]any{"items": items})
	in := NewInput(&fluxhook.Event{Event: "x.y", Data: b})
	p, err := Compile(`data.items.all(x, x == 0)`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Match(in); ok || err == nil || !strings.Contains(err.Error(), "cost limit") {
		t.Fatalf("Match = %v, %v; want the cost limit", ok, err)
	}
}

func TestDataThatIsNotJSONNeverMatches(t *testing.T) {
	p, err := Compile(`true`)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.Match(NewInput(&fluxhook.Event{Event: "x.y", Data: json.RawMessage(`{`)})); ok || err == nil {
		t.Fatalf("Match = %v, %v", ok, err)
	}
}

// FuzzCompile: a filter is untrusted input. Whatever it is, Compile
// answers (a program or an *Error, never a panic), and a program answers
// on any data within its cost limit.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{`data.amount > 100 && data.currency == "EUR"`, `has(data.a) && data.a.exists(x, x > 1)`,
		`event.matches("^order\\.")`, `timestamp > timestamp("2026-01-01T00:00:00Z")`, `size(data) > 0`} {
		f.Add(s, `{"amount":150,"currency":"EUR","a":[1,2,3]}`)
	}
	f.Fuzz(func(t *testing.T, src, data string) {
		p, err := Compile(src)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || fe.Message == "" {
				t.Fatalf("Compile(%q) = %v, want a filter error with a message", src, err)
			}
			return
		}
		_, _ = p.Match(NewInput(&fluxhook.Event{Event: "x.y", Data: json.RawMessage(data)}))
	})
}
