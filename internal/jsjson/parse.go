package jsjson

import (
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// maxDepth matches encoding/json, so a document Canonical refuses for depth
// is one encoding/json refuses as well.
const maxDepth = 10000

type kind uint8

const (
	kindNull kind = iota
	kindTrue
	kindFalse
	kindNumber
	kindString
	kindArray
	kindObject
)

// value is a parsed JSON value. A tree is built, rather than output written
// while parsing, because an object's members can only be ordered once all of
// them are known, and moving already written bytes at every level would be
// quadratic in the nesting depth.
type value struct {
	kind  kind
	num   float64
	str   []byte   // WTF-8, see appendString
	items []member // array elements (key nil) or object members in output order
}

type member struct {
	key []byte
	val value
}

type parser struct {
	in    []byte
	pos   int
	depth int
}

// SyntaxError reports input JSON.parse would reject.
type SyntaxError struct {
	Offset int // byte offset in the input where the problem was found
	msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsjson: %s at offset %d", e.msg, e.Offset)
}

func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, msg: fmt.Sprintf(format, args...)}
}

func (p *parser) describe() string {
	if p.pos >= len(p.in) {
		return "end of input"
	}
	return describeByte(p.in[p.pos])
}

func describeByte(c byte) string {
	if c < utf8.RuneSelf {
		return fmt.Sprintf("character %q", c)
	}
	return fmt.Sprintf("byte %#02x", c)
}

// skipSpace skips the four characters JSON.parse treats as whitespace; any
// other Unicode space (a byte order mark included) is an error there too.
func (p *parser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (value, error) {
	if p.pos >= len(p.in) {
		return value{}, p.errorf("unexpected end of input")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.string()
		return value{kind: kindString, str: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		f, err := p.number()
		return value{kind: kindNumber, num: f}, err
	case c == 't':
		return value{kind: kindTrue}, p.literal("true")
	case c == 'f':
		return value{kind: kindFalse}, p.literal("false")
	case c == 'n':
		return value{kind: kindNull}, p.literal("null")
	default:
		return value{}, p.errorf("unexpected %s", p.describe())
	}
}

func (p *parser) literal(word string) error {
	if len(p.in)-p.pos < len(word) || string(p.in[p.pos:p.pos+len(word)]) != word {
		return p.errorf("invalid literal, want %q", word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d", maxDepth)
	}
	p.pos++ // the opening bracket
	p.skipSpace()
	return nil
}

func (p *parser) array() (value, error) {
	if err := p.enter(); err != nil {
		return value{}, err
	}
	v := value{kind: kindArray}
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.depth--
		return v, nil
	}
	for {
		elem, err := p.value()
		if err != nil {
			return value{}, err
		}
		v.items = append(v.items, member{val: elem})
		p.skipSpace()
		if p.pos >= len(p.in) {
			return value{}, p.errorf("unexpected end of input in array")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case ']':
			p.pos++
			p.depth--
			return v, nil
		default:
			return value{}, p.errorf("unexpected %s in array, want ',' or ']'", p.describe())
		}
	}
}

// linearLookup is the member count up to which a repeated key is looked for
// by scanning, which beats hashing for the small objects webhooks carry.
const linearLookup = 16

func (p *parser) object() (value, error) {
	if err := p.enter(); err != nil {
		return value{}, err
	}
	v := value{kind: kindObject}
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.depth--
		return v, nil
	}
	var seen map[string]int // key to index in v.items, once past linearLookup
	for {
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return value{}, p.errorf("unexpected %s in object, want a string key", p.describe())
		}
		key, err := p.string()
		if err != nil {
			return value{}, err
		}
		p.skipSpace()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return value{}, p.errorf("unexpected %s after object key, want ':'", p.describe())
		}
		p.pos++
		p.skipSpace()
		val, err := p.value()
		if err != nil {
			return value{}, err
		}

		// A repeated key overwrites the value but, as a JavaScript property
		// assignment does, keeps the position of the first occurrence.
		at := -1
		if seen != nil {
			if i, ok := seen[string(key)]; ok {
				at = i
			}
		} else {
			for i := range v.items {
				if string(v.items[i].key) == string(key) {
					at = i
					break
				}
			}
		}
		if at >= 0 {
			v.items[at].val = val
		} else {
			v.items = append(v.items, member{key: key, val: val})
			if seen != nil {
				seen[string(key)] = len(v.items) - 1
			} else if len(v.items) > linearLookup {
				seen = make(map[string]int, 2*len(v.items))
				for i := range v.items {
					seen[string(v.items[i].key)] = i
				}
			}
		}

		p.skipSpace()
		if p.pos >= len(p.in) {
			return value{}, p.errorf("unexpected end of input in object")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case '}':
			p.pos++
			p.depth--
			orderKeys(v.items)
			return v, nil
		default:
			return value{}, p.errorf("unexpected %s in object, want ',' or '}'", p.describe())
		}
	}
}

// orderKeys puts members in the order JavaScript enumerates an ordinary
// object's own properties: array indices ascending, then the other keys in
// creation order.
func orderKeys(items []member) {
	indices := 0
	sorted := true
	prev := int64(-1)
	for i := range items {
		n, ok := arrayIndex(items[i].key)
		if !ok {
			continue
		}
		if i != indices || int64(n) < prev {
			sorted = false
		}
		prev = int64(n)
		indices++
	}
	if indices == 0 || sorted {
		return
	}
	// A stable sort on (is not an index, index value) keeps the other keys in
	// creation order; index values are unique once duplicates are merged.
	slices.SortStableFunc(items, func(a, b member) int {
		na, aok := arrayIndex(a.key)
		nb, bok := arrayIndex(b.key)
		switch {
		case aok && bok:
			return compareUint32(na, nb)
		case aok:
			return -1
		case bok:
			return 1
		default:
			return 0
		}
	})
}

func compareUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	default:
		return 0
	}
}

// arrayIndex reports whether key is an ECMAScript array index: the canonical
// decimal form of an integer from 0 to 2^32-2 ("01" and "4294967295" are
// ordinary keys).
func arrayIndex(key []byte) (uint32, bool) {
	if len(key) == 0 || len(key) > 10 || (key[0] == '0' && len(key) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range key {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n >= 1<<32-1 {
		return 0, false
	}
	return uint32(n), true
}

// number scans a number with JSON's grammar and converts it as JavaScript
// does, to the nearest double: ±Inf when out of range, which is written as
// null.
func (p *parser) number() (float64, error) {
	start := p.pos
	i := p.pos
	if p.in[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(p.in) && p.in[i] == '0':
		i++
	case digits() == 0:
		p.pos = i
		return 0, p.errorf("invalid number, want a digit but got %s", p.describe())
	}
	integer := true
	if i < len(p.in) && p.in[i] == '.' {
		integer = false
		i++
		if digits() == 0 {
			p.pos = i
			return 0, p.errorf("invalid number, want a digit after '.' but got %s", p.describe())
		}
	}
	if i < len(p.in) && (p.in[i] == 'e' || p.in[i] == 'E') {
		integer = false
		i++
		if i < len(p.in) && (p.in[i] == '+' || p.in[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return 0, p.errorf("invalid number, want a digit in the exponent but got %s", p.describe())
		}
	}
	lit := p.in[start:i]
	p.pos = i

	// Integers of up to 15 digits are exact in a double; skip the general
	// conversion, and its allocation, for the ids and counts payloads carry.
	if integer && len(lit) <= 16 {
		neg := lit[0] == '-'
		digitsLit := lit
		if neg {
			digitsLit = lit[1:]
		}
		if len(digitsLit) <= 15 {
			var n int64
			for _, c := range digitsLit {
				n = n*10 + int64(c-'0')
			}
			if neg {
				return -float64(n), nil
			}
			return float64(n), nil
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil && f == 0 {
		// The grammar is checked above, so only a range error with ±Inf
		// (handled by the caller through appendNumber) is expected here.
		return 0, p.errorf("invalid number %q: %v", lit, err)
	}
	return f, nil
}

// string decodes a string literal into WTF-8 (see appendString). It returns
// a slice of the input when there is nothing to decode.
func (p *parser) string() ([]byte, error) {
	start := p.pos + 1
	i := start
	for i < len(p.in) {
		c := p.in[i]
		if c == '"' {
			p.pos = i + 1
			return p.in[start:i], nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		if n, ok := decodeUTF8(p.in[i:]); ok {
			i += n
			continue
		}
		break
	}

	buf := make([]byte, i-start, i-start+16)
	copy(buf, p.in[start:i])
	for {
		if i >= len(p.in) {
			p.pos = i
			return nil, p.errorf("unterminated string")
		}
		c := p.in[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return buf, nil
		case c < 0x20:
			p.pos = i
			return nil, p.errorf("control character %q in string", c)
		case c == '\\':
			var err error
			buf, i, err = p.escape(buf, i)
			if err != nil {
				return nil, err
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			i++
		default:
			n, ok := decodeUTF8(p.in[i:])
			if ok {
				buf = append(buf, p.in[i:i+n]...)
			} else {
				buf = append(buf, "\uFFFD"...)
			}
			i += n
		}
	}
}

// escape decodes the escape sequence at p.in[i], which is a backslash.
func (p *parser) escape(buf []byte, i int) ([]byte, int, error) {
	if i+1 >= len(p.in) {
		p.pos = len(p.in)
		return nil, 0, p.errorf("unterminated string")
	}
	switch c := p.in[i+1]; c {
	case '"', '\\', '/':
		return append(buf, c), i + 2, nil
	case 'b':
		return append(buf, '\b'), i + 2, nil
	case 'f':
		return append(buf, '\f'), i + 2, nil
	case 'n':
		return append(buf, '\n'), i + 2, nil
	case 'r':
		return append(buf, '\r'), i + 2, nil
	case 't':
		return append(buf, '\t'), i + 2, nil
	case 'u':
		u, ok := hex4(p.in, i+2)
		if !ok {
			p.pos = i
			return nil, 0, p.errorf("invalid \\u escape")
		}
		i += 6
		if u >= 0xD800 && u <= 0xDBFF {
			// Only a low surrogate escape immediately after makes a pair;
			// anything else leaves this one lone, as in a JavaScript string.
			if i+1 < len(p.in) && p.in[i] == '\\' && p.in[i+1] == 'u' {
				if lo, ok := hex4(p.in, i+2); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					r := 0x10000 + (u-0xD800)<<10 + (lo - 0xDC00)
					return utf8.AppendRune(buf, r), i + 6, nil
				}
			}
		}
		if u >= 0xD800 && u <= 0xDFFF {
			// utf8.AppendRune would turn a surrogate into U+FFFD; keep it.
			return append(buf, 0xE0|byte(u>>12), 0x80|byte(u>>6)&0x3F, 0x80|byte(u)&0x3F), i, nil
		}
		return utf8.AppendRune(buf, u), i, nil
	default:
		p.pos = i
		return nil, 0, p.errorf("invalid escape: backslash then %s", describeByte(c))
	}
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// decodeUTF8 reports whether b starts with a well-formed UTF-8 sequence and
// how many bytes to consume. For an ill-formed one that is the length of its
// maximal subpart, which the WHATWG decoder (and so Node) replaces with a
// single U+FFFD; Go's utf8.DecodeRune would consume one byte at a time and
// yield more replacement characters than the receiver sees.
func decodeUTF8(b []byte) (n int, ok bool) {
	need := 0
	lo, hi := byte(0x80), byte(0xBF)
	switch c := b[0]; {
	case c < 0x80:
		return 1, true
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1, false
	}
	for n = 1; n <= need; n++ {
		if n >= len(b) || b[n] < lo || b[n] > hi {
			return n, false
		}
		lo, hi = 0x80, 0xBF
	}
	return n, true
}
