package jsjson_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/jsjson"
)

func FuzzCanonical(f *testing.F) {
	for _, doc := range handCorpus {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := jsjson.Canonical(in)
		// encoding/json and JSON.parse share one grammar (and the depth
		// limit is encoding/json's), so the two must agree on what parses.
		if valid := json.Valid(in); (err == nil) != valid {
			t.Fatalf("Canonical(%q) error = %v, but json.Valid = %v", in, err, valid)
		}
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("Canonical(%q) = %q, not valid JSON", in, out)
		}
		if !utf8.Valid(out) {
			t.Fatalf("Canonical(%q) = %q, not valid UTF-8", in, out)
		}
		again, err := jsjson.Canonical(out)
		if err != nil {
			t.Fatalf("Canonical(%q) of its own output: %v", out, err)
		}
		if string(again) != string(out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, out, again)
		}

		// Where encoding/json decodes the input the same way (valid UTF-8,
		// numbers in range), the values must be equal: Canonical reorders
		// and reformats but never changes meaning.
		if !utf8.Valid(in) {
			return
		}
		var before, after any
		if json.Unmarshal(in, &before) != nil {
			return
		}
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("decode Canonical output %q: %v", out, err)
		}
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("meaning changed: %q -> %q\nbefore %#v\nafter  %#v", in, out, before, after)
		}
	})
}
