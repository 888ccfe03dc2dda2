package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
	"github.com/fluxhook/fluxhook/internal/outbound"
	"github.com/fluxhook/fluxhook/internal/webhooks"
)

// filterp is a filter given in a body.
func filterp(s string) webhooks.Optional[string] {
	return webhooks.Optional[string]{Set: true, Value: &s}
}

// TestFilterValidation: API.md "Filters": a filter that does not compile,
// is not a bool, is too long or too costly is refused with 422 on the
// field filter, and the message says where.
func TestFilterValidation(t *testing.T) {
	f := newFixture(t, "sqlite", outbound.Policy{})
	url := "https://hooks.example.com/in"
	cases := []struct {
		name, filter string
		want         string // a part of the message; "" when accepted
	}{
		{"comparison of fields", `data.amount > 100 && data.currency == "EUR"`, ""},
		{"event name and owner", `event.startsWith("order.") && user_id != ""`, ""},
		{"list membership", `has(data.tags) && "vip" in data.tags`, ""},
		{"one loop over the data", `data.items.exists(i, i.sku == "A-1")`, ""},
		{"syntax error", `data.amount > `, "1:15: Syntax error"},
		{"error on the second line", "data.amount > 100 &&\n  data.currency = \"EUR\"", "2:17"},
		{"unknown variable", `amount > 100`, "1:1: undeclared reference to 'amount'"},
		{"not a bool", `data.amount * 2`, "must be true or false"},
		{"a string", `"yes"`, "must be true or false, but this expression is a string"},
		{"too long", `data.note == "` + strings.Repeat("x", 1000) + `"`, "at most 1000 characters"},
		{"nested loops", `data.a.all(x, data.b.all(y, data.c.exists(z, x + y == z)))`, "too costly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _, err := f.hooks.Create(context.Background(), f.ada, webhooks.Input{URL: &url, Events: []string{"*"}, Filter: filterp(tc.filter)})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				stored, err := f.db.Webhook(context.Background(), w.ID)
				if err != nil || stored.Filter == nil || *stored.Filter != tc.filter {
					t.Fatalf("stored filter %v (%v), want %q", stored.Filter, err, tc.filter)
				}
				return
			}
			var fe *fluxhook.Error
			if !errors.As(err, &fe) || fe.Kind != fluxhook.KindInvalid || !strings.Contains(fe.Details["filter"], tc.want) {
				t.Fatalf("err = %v (details %v), want a validation error on filter saying %q", err, fe, tc.want)
			}
		})
	}
}

// TestFilterIsSetChangedAndRemoved: an update without filter keeps it,
// a new one replaces it, a bad one leaves the stored one alone, and null
// or "" removes it.
func TestFilterIsSetChangedAndRemoved(t *testing.T) {
	conformance(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		url := "https://hooks.example.com/in"
		w, _, err := f.hooks.Create(ctx, f.ada, webhooks.Input{URL: &url, Events: []string{"order.*"}, Filter: filterp(`data.amount > 100`)})
		if err != nil {
			t.Fatal(err)
		}
		stored := func() *string {
			t.Helper()
			got, err := f.db.Webhook(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Filter
		}
		if got := stored(); got == nil || *got != `data.amount > 100` {
			t.Fatalf("after create: %v", got)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Description: strp("erp")}); err != nil {
			t.Fatal(err)
		}
		if got := stored(); got == nil || *got != `data.amount > 100` {
			t.Fatalf("an update without filter changed it to %v", got)
		}
		f.announced.take()
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Filter: filterp(`data.currency == "EUR"`)}); err != nil {
			t.Fatal(err)
		}
		if got := stored(); got == nil || *got != `data.currency == "EUR"` {
			t.Fatalf("after changing it: %v", got)
		}
		if got := f.announced.take(); len(got) != 1 || got[0] != w.ID {
			t.Fatalf("a filter change announced %v; the dispatcher needs %s", got, w.ID)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Filter: filterp(`data.currency ==`)}); err == nil {
			t.Fatal("a bad filter was accepted on update")
		}
		if got := stored(); got == nil || *got != `data.currency == "EUR"` {
			t.Fatalf("a refused update changed the filter to %v", got)
		}
		// null in the body removes it, as "" does.
		var in webhooks.Input
		if err := json.Unmarshal([]byte(`{"filter": null}`), &in); err != nil {
			t.Fatal(err)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, in); err != nil {
			t.Fatal(err)
		}
		if got := stored(); got != nil {
			t.Fatalf("null left the filter %q", *got)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Filter: filterp(`true`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.hooks.Update(ctx, f.ada, w.ID, webhooks.Input{Filter: filterp("  ")}); err != nil {
			t.Fatal(err)
		}
		if got := stored(); got != nil {
			t.Fatalf("a blank filter left %q", *got)
		}
	})
}
