package jsjson_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/jsjson"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"compact", " { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } }\r\n", `{"a":[1,2],"b":{}}`},
		{"insertion order kept", `{"b":1,"a":2,"c":3}`, `{"b":1,"a":2,"c":3}`},
		{"index keys first ascending", `{"b":1,"10":2,"2":3,"a":4,"0":5}`, `{"0":5,"2":3,"10":2,"b":1,"a":4}`},
		{"non-canonical integers stay in place", `{"b":1,"01":2,"-1":3,"1.0":4,"1":5}`, `{"1":5,"b":1,"01":2,"-1":3,"1.0":4}`},
		{"largest array index", `{"a":1,"4294967295":2,"4294967294":3}`, `{"4294967294":3,"a":1,"4294967295":2}`},
		{"duplicate keeps first position, last value", `{"a":1,"b":2,"a":3}`, `{"a":3,"b":2}`},
		{"duplicate via escape", `{"\u00e9":1,"x":2,"é":3}`, `{"é":3,"x":2}`},
		{"duplicate index key", `{"1":1,"0":2,"1":3}`, `{"0":2,"1":3}`},
		{"integer-valued float", `[1.0,-2.50,100e0,1E2]`, `[1,-2.5,100,100]`},
		{"exponent boundaries", `[1e21,1e20,1e-7,1e-6,123e-20]`, `[1e+21,100000000000000000000,1e-7,0.000001,1.23e-18]`},
		{"precision lost above 2^53", `[9007199254740993,123456789012345678901234567890]`, `[9007199254740992,1.2345678901234568e+29]`},
		{"shortest digits", `[0.1,0.30000000000000004,5e-324,1.7976931348623157e308]`, `[0.1,0.30000000000000004,5e-324,1.7976931348623157e+308]`},
		{"negative zero", `[-0,-0.0,-0e5]`, `[0,0,0]`},
		{"overflow is null", `[1E400,-1e400]`, `[null,null]`},
		{"underflow is zero", `[1e-400,-1e-400]`, `[0,0]`},
		{"html and separators raw", `"<>&\u2028\u2029\u003c"`, "\"<>&\u2028\u2029<\""},
		{"control characters", `"\u0000\u0001\b\f\n\r\t\u001f\u007f"`, `"\u0000\u0001\b\f\n\r\t\u001f` + "\x7f\""},
		{"quote backslash slash", `"\"\\\/"`, `"\"\\/"`},
		{"escaped letters decoded", `"\u0041\u00E9\u4e2D"`, `"Aé中"`},
		{"surrogate pair decoded", `"\ud83d\ude00"`, `"😀"`},
		{"raw emoji", `"😀"`, `"😀"`},
		{"lone high surrogate", `"\uD800"`, `"\ud800"`},
		{"lone low surrogate", `"a\udc00b"`, `"a\udc00b"`},
		{"reversed pair", `"\ude00\ud83d"`, `"\ude00\ud83d"`},
		{"high then pair", `"\ud83d\ud83d\ude00"`, `"\ud83d😀"`},
		{"high then escaped non-surrogate", `"\ud83d\u0041"`, `"\ud83dA"`},
		{"invalid utf-8 byte", "\"a\xffb\"", "\"a\uFFFDb\""},
		{"truncated sequence is one replacement", "\"\xe2\x82A\"", "\"\uFFFDA\""},
		{"encoded surrogate is three replacements", "\"\xed\xa0\x80\"", "\"\uFFFD\uFFFD\uFFFD\""},
		{"overlong", "\"\xc0\xaf\"", "\"\uFFFD\uFFFD\""},
		{"top-level scalars", ` "x" `, `"x"`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"nested empties", `[[],{},[{}],{"a":[]}]`, `[[],{},[{}],{"a":[]}]`},
		{"many keys then duplicate", `{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"k3":"x","5":5}`,
			`{"5":5,"k0":0,"k1":1,"k2":2,"k3":"x","k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsjson.Canonical([]byte(tt.in))
			if err != nil {
				t.Fatalf("Canonical(%q): %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Fatalf("Canonical(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
			again, err := jsjson.Canonical(got)
			if err != nil || string(again) != string(got) {
				t.Fatalf("not a fixed point: Canonical(%q) = %q, %v", got, again, err)
			}
		})
	}
}

func TestCanonicalRejects(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ``},
		{"only space", "  \n"},
		{"byte order mark", "\xef\xbb\xbf{}"},
		{"trailing comma array", `[1,]`},
		{"trailing comma object", `{"a":1,}`},
		{"two values", `1 2`},
		{"leading zero", `01`},
		{"plus sign", `+1`},
		{"bare dot", `1.`},
		{"dot first", `.5`},
		{"empty exponent", `1e`},
		{"hex", `0x10`},
		{"NaN", `NaN`},
		{"Infinity", `Infinity`},
		{"single quotes", `'a'`},
		{"unquoted key", `{a:1}`},
		{"raw newline in string", "\"a\nb\""},
		{"raw tab in string", "\"a\tb\""},
		{"bad escape", `"\x41"`},
		{"short unicode escape", `"\u12"`},
		{"unterminated string", `"abc`},
		{"unterminated array", `[1,2`},
		{"unterminated object", `{"a":1`},
		{"missing colon", `{"a" 1}`},
		{"non-string key", `{1:1}`},
		{"comment", `[1 /* x */]`},
		{"vertical tab space", "\v1"},
		{"nbsp space", "\u00a01"},
		{"truncated literal", `tru`},
		{"capitalised literal", `True`},
		{"too deep", strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsjson.Canonical([]byte(tt.in))
			if err == nil {
				t.Fatalf("Canonical(%.40q) = %q, want an error", tt.in, got)
			}
			var se *jsjson.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is %T, want *jsjson.SyntaxError", err, err)
			}
			if json.Valid([]byte(tt.in)) {
				t.Fatalf("encoding/json accepts %.40q; the two disagree", tt.in)
			}
		})
	}
}

func TestCanonicalDepthLimit(t *testing.T) {
	for _, depth := range []int{1, 100, 10000} {
		in := strings.Repeat(`{"a":[`, depth/2) + strings.Repeat("[", depth%2) + "1" +
			strings.Repeat("]", depth%2) + strings.Repeat("]}", depth/2)
		got, err := jsjson.Canonical([]byte(in))
		if err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
		if string(got) != in {
			t.Fatalf("depth %d: output differs from the already canonical input", depth)
		}
	}
}

func TestMarshal(t *testing.T) {
	type data struct {
		Email string         `json:"email"`
		Extra map[string]any `json:"extra"`
	}
	tests := []struct {
		name string
		in   any
		want string
	}{
		{
			name: "struct fields keep declaration order, maps come back canonical",
			in: struct {
				ID    string `json:"id"`
				Event string `json:"event"`
				Data  data   `json:"data"`
			}{"evt_1", "user.created", data{"a<b>&c@example.com", map[string]any{"z": 1.0, "10": 2, "2": "\u2028"}}},
			want: `{"id":"evt_1","event":"user.created","data":{"email":"a<b>&c@example.com","extra":{"2":"` + "\u2028" + `","10":2,"z":1}}}`,
		},
		{
			name: "raw message passes through canonicalised",
			in:   map[string]json.RawMessage{"d": json.RawMessage(`{"b":1.50,"a":"\u003c"}`)},
			want: `{"d":{"b":1.5,"a":"<"}}`,
		},
		{
			name: "invalid utf-8 in a Go string",
			in:   "a\xffb",
			want: "\"a\uFFFDb\"",
		},
		{
			name: "large float",
			in:   []float64{1e21, 1e-7, 0.5},
			want: `[1e+21,1e-7,0.5]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsjson.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("Marshal\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestMarshalError(t *testing.T) {
	if _, err := jsjson.Marshal(map[string]any{"c": make(chan int)}); err == nil {
		t.Fatal("Marshal of a channel succeeded, want an error")
	}
}
