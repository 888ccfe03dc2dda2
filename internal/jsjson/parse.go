package jsjson

import (
	"fmt"
	"slices"
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
