package jsjson

import (
	"strconv"
	"unicode/utf8"
)

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
