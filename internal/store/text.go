package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fluxhook/fluxhook/internal/fluxhook"
)

// The store's one rule for the text and JSON callers give it, applied by
// checkText before every write of such values: PostgreSQL's text and
// jsonb cannot hold U+0000 (nor invalid UTF-8, nor, in jsonb, an unpaired
// UTF-16 surrogate escape or a number beyond its numeric type), while
// SQLite stores anything. So that both stores behave the same and no
// caller meets a 500, such a value is refused as invalid, naming the
// field (and, inside a JSON value, where in it), whichever database is
// underneath. Nothing is altered silently: a user who sent a NUL learns
// that it was not kept.
//
// Text that arrives from elsewhere than a user (a receiver's response in
// the delivery log) is made storable instead: see pgText.

// noNUL is the detail for a value holding U+0000.
const noNUL = "must not contain the NUL character (\\u0000)"

// storedField is one caller-given value a write stores.
type storedField struct {
	name   string
	text   string
	json   []byte
	isJSON bool
}

// textField is a text column's value.
func textField(name, v string) storedField { return storedField{name: name, text: v} }

// textPtrField is an optional text column's value.
func textPtrField(name string, v *string) storedField {
	if v == nil {
		return storedField{name: name}
	}
	return textField(name, *v)
}

// jsonField is a JSON column's value as it will be written.
func jsonField(name string, raw []byte) storedField {
	return storedField{name: name, json: raw, isJSON: true}
}

// checkText refuses the write when any field breaks the rule above.
func checkText(fields ...storedField) error {
	details := map[string]string{}
	for _, f := range fields {
		var problem string
		if f.isJSON {
			problem = jsonProblem(f.name, f.json)
		} else {
			problem = textProblem(f.text)
		}
		if problem != "" {
			details[f.name] = problem
		}
	}
	if len(details) > 0 {
		return fluxhook.Invalid(details)
	}
	return nil
}

// storableText reports whether s could be stored at all: a lookup by a
// value that could not be stored finds nothing, without asking the
// database (PostgreSQL would refuse the parameter).
func storableText(s string) bool { return textProblem(s) == "" }

func textProblem(s string) string {
	switch {
	case strings.IndexByte(s, 0) >= 0:
		return noNUL
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	return ""
}

// jsonProblem checks a JSON value; name is the field's name, for the path
// of a problem inside it ("metadata.tags[2]").
func jsonProblem(name string, raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	if !utf8.Valid(raw) {
		return "must be valid UTF-8"
	}
	if !json.Valid(raw) {
		return "must be valid JSON"
	}
	if at := unpairedSurrogate(raw); at >= 0 {
		return "must not contain an unpaired UTF-16 surrogate escape (\\ud800 to \\udfff)"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil && !errors.Is(err, io.EOF) {
		return "must be valid JSON"
	}
	return walkJSON(name, v)
}

// walkJSON finds the first NUL (in a key or a string) or out-of-range
// number in v, in a stable order.
func walkJSON(path string, v any) string {
	switch v := v.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return noNUL + " (at " + path + ")"
		}
	case json.Number:
		// Numbers are held to what a JSON number means to nearly every
		// reader (an IEEE double); PostgreSQL's numeric holds all of
		// those, not every literal (1e-20000 overflows it).
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || (f == 0 && strings.ContainsAny(strings.SplitN(strings.ToLower(string(v)), "e", 2)[0], "123456789")) {
			return "must not hold a number beyond the range of a 64-bit float (at " + path + ")"
		}
	case []any:
		for i, e := range v {
			if p := walkJSON(path+"["+strconv.Itoa(i)+"]", e); p != "" {
				return p
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if strings.IndexByte(k, 0) >= 0 {
				return noNUL + " (in a key of " + path + ")"
			}
			if p := walkJSON(path+"."+k, v[k]); p != "" {
				return p
			}
		}
	}
	return ""
}

// unpairedSurrogate returns the offset of the first \u escape in raw (valid
// JSON) that is half of a UTF-16 surrogate pair without the other half, or
// -1. encoding/json reads such an escape as U+FFFD; PostgreSQL's jsonb
// refuses it.
func unpairedSurrogate(raw []byte) int {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // raw is valid JSON, so an escape is complete
		if raw[i] != 'u' {
			continue
		}
		r := hex4(raw[i+1 : i+5])
		start := i - 1
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return start
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if lo := hex4(raw[i+3 : i+7]); lo >= 0xDC00 && lo <= 0xDFFF {
					i += 6
					continue
				}
			}
			return start
		}
	}
	return -1
}

func hex4(b []byte) rune {
	n, err := strconv.ParseUint(string(b), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}
