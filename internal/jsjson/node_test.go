package jsjson_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/fluxhook/fluxhook/internal/jsjson/nodetest"
)

// roundTripScript prints, for each base64 line of the input file, "ok " and
// the base64 of JSON.stringify(JSON.parse(text)) or "err " and the error
// name. The bytes are decoded with a StringDecoder, as express.json() does
// through iconv-lite, so invalid UTF-8 is replaced the way a receiver sees it.
const roundTripScript = `
const fs = require("fs");
const { StringDecoder } = require("string_decoder");
const lines = fs.readFileSync(process.argv[2], "latin1").split("\n");
lines.pop(); // after the final newline
const out = [];
for (const line of lines) {
  const dec = new StringDecoder("utf8");
  const text = dec.write(Buffer.from(line, "base64")) + dec.end();
  try {
    out.push("ok " + Buffer.from(JSON.stringify(JSON.parse(text)), "utf8").toString("base64"));
  } catch (e) {
    out.push("err " + e.name);
  }
}
process.stdout.write(out.join("\n") + "\n");
`

// handCorpus holds the cases the package exists for, each chosen because some
// serialiser gets it wrong; invalid documents check that we refuse what
// JSON.parse refuses.
var handCorpus = []string{
	// key order
	`{"b":1,"a":2}`,
	`{"b":1,"2":2,"1":3,"a":4,"0":5}`,
	`{"01":1,"1":2}`,
	`{"-1":1,"0":2}`,
	`{"1.0":1,"1":2}`,
	`{"x":0,"4294967294":1,"4294967295":2,"4294967296":3}`,
	`{"x":0,"9999999999":1,"99999999999":2,"42":3}`,
	`{" 1":1,"1 ":2,"+1":3,"1e0":4,"0x1":5,"1":6}`,
	`{"a":1,"b":2,"a":3}`,
	`{"a":1,"b":2,"a":{"c":1},"b":null,"a":[]}`,
	`{"1":"a","0":"b","1":"c"}`,
	`{"":1,"":2}`,
	`{"\u0061":1,"a":2}`,
	`{"\ud83d\ude00":1,"😀":2}`,
	`{"__proto__":1,"constructor":2,"toString":3}`,
	`{"__proto__":{"polluted":true}}`,
	`{"length":3,"0":"a"}`,
	// strings
	`"plain"`,
	`"héllo wörld"`,
	`"日本語のテキスト"`,
	`"😀🎉👨‍👩‍👧‍👦"`,
	`"\ud83d\ude00"`,
	`"\uD83D\uDE00"`,
	`"\u2028\u2029"`,
	"\"\u2028\u2029\"",
	`"<script>&amp;</script>"`,
	`"\u003c\u003e\u0026"`,
	`"\u0000\u0001\u0002\u001f\u0020\u007f\u0080\u009f\u00a0"`,
	`"\b\f\n\r\t\"\\\/"`,
	`"\ud800"`,
	`"\udfff"`,
	`"\ud800\ud800"`,
	`"\udc00\ud800"`,
	`"a\ud800b\udc00c"`,
	`"\ud83d\ude00\ud83d"`,
	`"\uD800\u0041"`,
	`"\uFFFF\uFFFE\uFEFF"`,
	"\"\uFEFF\"",
	`"\u00e9\u00E9"`,
	"\"\x7f\"",
	// invalid UTF-8 inside strings
	"\"\xff\"",
	"\"\xc3\"",
	"\"\xe2\x82\"",
	"\"\xe2\x82A\"",
	"\"\xf0\x9f\x98\"",
	"\"\xf0\x9f\x98\x22",
	"\"\xed\xa0\x80\"",
	"\"\xed\xbf\xbf\xed\x9f\xbf\"",
	"\"\xc0\xaf\xc1\xbf\"",
	"\"\xe0\x80\x80\xe0\xa0\x80\"",
	"\"\xf4\x90\x80\x80\xf4\x8f\xbf\xbf\"",
	"\"\xf5\xf8\xfc\xfe\"",
	"\"\x80\xbf\"",
	"{\"k\xff\":1,\"k\xfe\":2}",
	// numbers
	`1.0`,
	`[1.0,1.50,0.0,-0.0,100,1e2,1E+2,1e-2,1.5e300]`,
	`[1e21,1e20,999999999999999900000,1e-6,1e-7,0.000001,0.0000001,1.5e-7]`,
	`123456789012345678901234567890`,
	`[9007199254740991,9007199254740992,9007199254740993,-9007199254740993]`,
	`[0.1,0.2,0.30000000000000004,0.1e1,1.1,2.675,1.005]`,
	`[5e-324,4.9e-324,2.4e-324,2.5e-324,2.2250738585072014e-308,1.7976931348623157e308,1.7976931348623158e308,1.7976931348623159e308]`,
	`[-0,0,-0e0,-0.0e-0]`,
	`[1E400,-1E400,1e-400,-1e-400]`,
	`[123e-20,123e20,1.23e21,12300000000000000000000]`,
	`[100000000000000000000000,0.00001,0.0000012345,1234567.891]`,
	`[3.14159265358979323846264338327950288419716939937510582097494459]`,
	`[0.000000000000000000000000000000000000000000001]`,
	`[1.00000000000000011102230246251565404236316680908203125]`,
	`[1.000000000000000111022302462515654042363166809082031250000001]`,
	// structure and whitespace
	`[]`,
	`{}`,
	`[[[[[]]]]]`,
	`[{},{"a":{}},[[]],[{}]]`,
	" \t\n\r[ \t\n\r1 \t\n\r, \t\n\r{ \t\n\r\"a\" \t\n\r: \t\n\r2 \t\n\r} \t\n\r] \t\n\r",
	`{"id":"evt_1","event":"user.created","timestamp":"2024-01-01T00:00:00Z","data":{"user_id":"u_1","email":"a@example.com","meta":{"2":"x","1":"y","plan":"pro"}}}`,
	`true`,
	`false`,
	`null`,
	`"top"`,
	`-12.5e-3`,
	// invalid
	``,
	` `,
	"\xef\xbb\xbf{}",
	`[1,]`,
	`{"a":1,}`,
	`01`,
	`-`,
	`1.`,
	`.1`,
	`1e`,
	`+1`,
	`NaN`,
	`Infinity`,
	`[1 2]`,
	`{"a"}`,
	`{a:1}`,
	`'x'`,
	"\"a\nb\"",
	"\"\t\"",
	`"\x00"`,
	`"\u12G4"`,
	`"abc`,
	`[1] [2]`,
	"\v[]",
	"\u00a0[]",
	"\u3000[]",
	"[]\x00",
	"\xff",
	`tRue`,
	`nul`,
}

// generatedCorpus adds pseudo-random documents, reproducible from the seed,
// for the conversions where hand-picked cases cannot be exhaustive: number
// formatting and string escaping.
func generatedCorpus(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]string, 0, n)
	for range n / 4 {
		// Any finite double, written the way Go round-trips it.
		f := math.Float64frombits(r.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = r.NormFloat64()
		}
		docs = append(docs, strconv.FormatFloat(f, 'g', -1, 64))
	}
	for range n / 4 {
		// Decimal literals with more digits than a double holds, to exercise
		// rounding of the conversion itself.
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(byte('1' + r.IntN(9)))
		for range r.IntN(30) {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		if r.IntN(2) == 0 {
			b.WriteByte('.')
			for range 1 + r.IntN(30) {
				b.WriteByte(byte('0' + r.IntN(10)))
			}
		}
		if r.IntN(2) == 0 {
			fmt.Fprintf(&b, "e%d", r.IntN(700)-350)
		}
		docs = append(docs, b.String())
	}
	for range n / 4 {
		docs = append(docs, randomString(r))
	}
	for range n / 4 {
		docs = append(docs, randomObject(r, 0))
	}
	return docs
}

func randomString(r *rand.Rand) string {
	pieces := []string{
		"a", " ", "<", "&", "/", "é", "中", "😀", "\u2028", "\x7f", "\x01",
		"\xff", "\xe2\x82", "\xed\xa0\x80", "\xf0\x9f",
		`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`,
	}
	var b strings.Builder
	b.WriteByte('"')
	for range r.IntN(12) {
		switch r.IntN(3) {
		case 0:
			// Any UTF-16 code unit, surrogates included, so pairs form
			// by chance as well as deliberately.
			fmt.Fprintf(&b, `\u%04x`, r.IntN(0x10000))
		case 1:
			fmt.Fprintf(&b, `\u%04X`, 0xD800+r.IntN(0x800))
		default:
			p := pieces[r.IntN(len(pieces))]
			if p == "\x01" {
				p = `\u0001` // a raw control character would be invalid
			}
			b.WriteString(p)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func randomObject(r *rand.Rand, depth int) string {
	keys := []string{
		`"a"`, `"b"`, `"0"`, `"1"`, `"2"`, `"10"`, `"01"`, `"-1"`, `"1.5"`,
		`"4294967294"`, `"4294967295"`, `"\u0031"`, `"z"`, `""`,
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := range r.IntN(8) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(keys[r.IntN(len(keys))])
		b.WriteByte(':')
		switch v := r.IntN(5); {
		case v == 0 && depth < 3:
			b.WriteString(randomObject(r, depth+1))
		case v == 1:
			b.WriteString(randomString(r))
		default:
			b.WriteString(strconv.Itoa(r.IntN(1000)))
		}
	}
	b.WriteByte('}')
	return b.String()
}

func TestCanonicalMatchesNode(t *testing.T) {
	if len(handCorpus) < 60 {
		t.Fatalf("hand corpus has %d documents, want at least 60", len(handCorpus))
	}
	corpus := append(append([]string(nil), handCorpus...), generatedCorpus(4000)...)
	items := make([][]byte, len(corpus))
	for i, doc := range corpus {
		items[i] = []byte(doc)
	}
	lines := nodetest.Lines(nodetest.Run(t, roundTripScript, nodetest.EncodeLines(items)))
	if len(lines) != len(corpus) {
		t.Fatalf("node printed %d results for %d documents", len(lines), len(corpus))
	}

	var accepted, rejected int
	for i, doc := range corpus {
		name := fmt.Sprintf("%d:%.40q", i, doc)
		node, rest, _ := strings.Cut(lines[i], " ")
		got, err := jsjson.Canonical([]byte(doc))
		switch node {
		case "ok":
			want, decErr := base64.StdEncoding.DecodeString(rest)
			if decErr != nil {
				t.Fatalf("%s: node output %q: %v", name, rest, decErr)
			}
			if err != nil {
				t.Errorf("%s: JSON.parse accepts it, Canonical: %v", name, err)
				continue
			}
			if string(got) != string(want) {
				t.Errorf("%s:\n got %q\nnode %q", name, got, want)
			}
			accepted++
		case "err":
			if err == nil {
				t.Errorf("%s: JSON.parse throws %s, Canonical returned %q", name, rest, got)
			}
			rejected++
		default:
			t.Fatalf("%s: unexpected node output %q", name, lines[i])
		}
	}
	if !t.Failed() {
		t.Logf("%d documents (%d hand-picked): %d accepted, %d rejected, all agree with node",
			len(corpus), len(handCorpus), accepted, rejected)
	}
}
