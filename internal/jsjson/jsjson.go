// Package jsjson writes JSON exactly as JavaScript would write it back.
//
// Receivers that follow the Fluxbase examples verify a delivery by computing
// HMAC(secret, JSON.stringify(req.body)) after express.json() has parsed the
// body, so they sign their re-serialisation, not the bytes we sent. The two
// only agree if what we send is already a fixed point of
// JSON.stringify(JSON.parse(body)). Go's encoding/json is not: it sorts map
// keys, escapes U+2028, U+2029 and (by default) <, > and &, and keeps number
// literals as written. Canonical produces that fixed point.
//
// The package models a receiver that decodes the body as UTF-8 the way Node
// does (Buffer.toString, StringDecoder, and so express.json()): each maximal
// ill-formed subsequence becomes one U+FFFD, per the WHATWG Encoding
// Standard. So Canonical accepts invalid UTF-8 inside strings and writes
// U+FFFD in its place, rather than refusing an event the receiver would have
// parsed. Everything else JSON.parse rejects, Canonical rejects too,
// including a leading byte order mark, which express would strip but a
// receiver calling JSON.parse on the raw body would not; our output never
// starts with one.
package jsjson

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Canonical returns the bytes JavaScript's JSON.stringify(JSON.parse(s))
// yields for the document in, where s is in decoded as UTF-8.
//
// The result is compact; objects list array-index keys ("0" to
// "4294967294" in canonical form) first in ascending numeric order and then
// the other keys in order of first appearance, a repeated key keeping its
// first position and its last value; numbers are IEEE 754 doubles written as
// Number.prototype.toString writes them (a literal too large for a double
// becomes null, as Infinity does in JavaScript); strings escape only '"',
// '\\', control characters and lone surrogates. The output is valid UTF-8
// and Canonical of it returns it unchanged.
//
// A document nested deeper than 10000 arrays or objects is refused, the
// limit encoding/json applies, so that untrusted input cannot exhaust the
// stack.
func Canonical(in []byte) ([]byte, error) {
	p := parser{in: in}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.in) {
		return nil, p.errorf("unexpected %s after top-level value", p.describe())
	}
	return appendValue(make([]byte, 0, len(in)), &v), nil
}

// Marshal encodes v with encoding/json and returns Canonical of the result,
// for payloads we build ourselves. HTML escaping is turned off only so that
// Canonical has less to undo; the result would be the same with it on.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return Canonical(buf.Bytes())
}

func appendValue(dst []byte, v *value) []byte {
	switch v.kind {
	case kindNull:
		return append(dst, "null"...)
	case kindTrue:
		return append(dst, "true"...)
	case kindFalse:
		return append(dst, "false"...)
	case kindNumber:
		return appendNumber(dst, v.num)
	case kindString:
		return appendString(dst, v.str)
	case kindArray:
		dst = append(dst, '[')
		for i := range v.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendValue(dst, &v.items[i].val)
		}
		return append(dst, ']')
	default: // kindObject
		dst = append(dst, '{')
		for i := range v.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, v.items[i].key)
			dst = append(dst, ':')
			dst = appendValue(dst, &v.items[i].val)
		}
		return append(dst, '}')
	}
}

// appendNumber follows ECMAScript's Number::toString, which is what
// encoding/json's float encoder implements for float64 (shortest digits that
// round-trip, plain notation from 1e-6 up to but excluding 1e21); on top of
// it JavaScript writes -0 as "0" and JSON.stringify writes non-finite
// numbers as null.
func appendNumber(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, "null"...)
	}
	if f == 0 {
		return append(dst, '0')
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Go pads the exponent to two digits ("e-07"), JavaScript does not.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString quotes s, which holds WTF-8: UTF-8 in which a lone surrogate
// from a \u escape is kept as its three-byte generalised encoding (0xED
// followed by a byte of 0xA0 or more) so that it can be written back as the
// \udxxx escape JSON.stringify emits for it.
func appendString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0xED {
			i++
			continue
		}
		if c == 0xED {
			if i+2 >= len(s) || s[i+1] < 0xA0 {
				i++ // U+D000 to U+D7FF: ordinary characters
				continue
			}
			dst = append(dst, s[start:i]...)
			u := 0xD000 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
			dst = append(dst, '\\', 'u',
				hexDigits[u>>12], hexDigits[u>>8&0xF], hexDigits[u>>4&0xF], hexDigits[u&0xF])
			i += 3
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
