package signing_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/jsjson"
	"github.com/fluxhook/fluxhook/internal/jsjson/nodetest"
	"github.com/fluxhook/fluxhook/internal/signing"
)

// receiverScript is the receiver from the Fluxbase examples: express.json()
// decodes and parses the body, the handler re-serialises it with
// JSON.stringify and checks X-Fluxbase-Signature with verifyWebhookSignature,
// copied unchanged (types removed). It also checks webhook-signature the way
// the Standard Webhooks specification describes, for each entry.
//
// Input lines hold base64 fields: secret, body, X-Fluxbase-Signature,
// webhook-id, webhook-timestamp, webhook-signature. Output is one line per
// input: "fluxbase=ok|fail standard=ok|fail".
const receiverScript = `
const fs = require("fs");
const crypto = require("crypto");
const { StringDecoder } = require("string_decoder");

function verifyWebhookSignature(
payload,
signature,
secret,
) {
const expectedSignature = crypto
.createHmac("sha256", secret)
.update(payload)
.digest("hex");
return crypto.timingSafeEqual(
Buffer.from(signature),
Buffer.from(expectedSignature),
);
}

function standardKey(secret) {
  if (secret.startsWith("whsec_")) {
    const rest = secret.slice(6);
    if (/^[A-Za-z0-9+/]+={0,2}$/.test(rest) && rest.length % 4 === 0) {
      return Buffer.from(rest, "base64");
    }
  }
  return Buffer.from(secret, "utf8");
}

const b = (s) => Buffer.from(s, "base64");
const lines = fs.readFileSync(process.argv[2], "latin1").split("\n");
lines.pop();
const out = [];
for (const line of lines) {
  const [secretB, bodyB, sigB, idB, tsB, stdB] = line.split(" ");
  const secret = b(secretB).toString("utf8");
  const dec = new StringDecoder("utf8");
  const req = { body: JSON.parse(dec.write(b(bodyB)) + dec.end()) }; // express.json()
  const payload = JSON.stringify(req.body);                           // the handler

  let fluxbase;
  try {
    fluxbase = verifyWebhookSignature(payload, b(sigB).toString("utf8"), secret) ? "ok" : "fail";
  } catch (e) {
    fluxbase = "fail"; // timingSafeEqual throws on a length mismatch
  }

  const id = b(idB).toString("utf8"), ts = b(tsB).toString("utf8");
  const expected = crypto.createHmac("sha256", standardKey(secret))
    .update(id + "." + ts + "." + payload).digest("base64");
  const standard = b(stdB).toString("utf8").split(" ")
    .some((e) => e === "v1," + expected) ? "ok" : "fail";

  out.push("fluxbase=" + fluxbase + " standard=" + standard);
}
process.stdout.write(out.join("\n") + "\n");
`

// TestNodeReceiverAccepts proves the claim the whole signing scheme rests
// on: a receiver written as the examples show accepts our signatures. The
// control case, an encoding/json body that was not made canonical, must be
// rejected, or the test could not tell the difference.
func TestNodeReceiverAccepts(t *testing.T) {
	docs := []string{
		`{"id":"evt_1","event":"user.created","timestamp":"2024-05-01T12:00:00Z","data":{"user_id":"u_1","email":"a@example.com"}}`,
		`{"id":"evt_2","event":"custom.thing","data":{"b":1,"a":2,"10":"ten","2":"two","01":"oh-one"}}`,
		`{"data":{"html":"<b>&amp;</b>","sep":"\u2028\u2029","emoji":"😀 \ud83d\ude00","lone":"\ud800","ctl":"\u0001\u007f"}}`,
		`{"data":{"n":[1.0,1e21,1e-7,123456789012345678901234567890,-0,0.1,9007199254740993,1E400]}}`,
		`{"data":{"a":1,"a":2,"nested":{"z":[],"y":{}}}}`,
		"{\"data\":\"invalid \xff utf-8 \xe2\x82\"}",
	}
	secrets := []string{
		signing.NewSecret(),
		"user-chosen secret ✓ 秘密 🔑",
		strings.Repeat("long-secret-", 20), // longer than the SHA-256 block
		"whsec_not-base64!",
	}
	ts := time.Unix(1700000000, 0)

	type sample struct {
		name string
		body []byte
		want string
	}
	var samples []sample
	for i, doc := range docs {
		body, err := jsjson.Canonical([]byte(doc))
		if err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		samples = append(samples, sample{fmt.Sprintf("doc %d", i), body, "fluxbase=ok standard=ok"})
	}
	// Go's default encoding escapes "<" and U+2028 and sorts keys: a receiver
	// re-serialising it gets other bytes, so both checks fail (the script
	// checks webhook-signature over the re-serialised payload as well, which
	// equals the raw body exactly when the body is canonical).
	control, err := json.Marshal(map[string]any{"b": "<\u2028>", "a": 1})
	if err != nil {
		t.Fatal(err)
	}
	samples = append(samples, sample{"control: encoding/json body", control, "fluxbase=fail standard=fail"})

	var input bytes.Buffer
	var wants, names []string
	enc := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, sm := range samples {
		for j, secret := range secrets {
			h := http.Header{}
			// Rotation: the receiver holds only the secret under test, the
			// other one is listed too.
			signing.Sign(h, []string{secret, secrets[(j+1)%len(secrets)]}, "dlv_"+enc(secret)[:6], ts, sm.body)
			fmt.Fprintf(&input, "%s %s %s %s %s %s\n", enc(secret), base64.StdEncoding.EncodeToString(sm.body),
				enc(h.Get(signing.HeaderFluxbase)), enc(h.Get(signing.HeaderID)),
				enc(h.Get(signing.HeaderTimestamp)), enc(h.Get(signing.HeaderSignature)))
			wants = append(wants, sm.want)
			names = append(names, fmt.Sprintf("%s, secret %d", sm.name, j))
		}
	}

	got := nodetest.Lines(nodetest.Run(t, receiverScript, input.Bytes()))
	if len(got) != len(wants) {
		t.Fatalf("node printed %d results for %d deliveries", len(got), len(wants))
	}
	for i := range wants {
		if got[i] != wants[i] {
			t.Errorf("%s: node receiver says %q, want %q", names[i], got[i], wants[i])
		}
	}
}
