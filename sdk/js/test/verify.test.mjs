import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { test } from "node:test";
import {
  standardWebhookKey,
  standardWebhookSignature,
  verifyStandardWebhook,
  verifyWebhookSignature,
  webhookSignature,
} from "@fluxhook/sdk";

// The vector published with the Standard Webhooks specification (also in
// internal/signing's tests).
const V = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  ts: 1614265330,
  body: '{"test": 2432232314}',
  sig: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};
const vectorHeaders = (sig = V.sig, ts = V.ts) => ({ "webhook-id": V.id, "webhook-timestamp": String(ts), "webhook-signature": sig });

test("the hand-written HMAC-SHA256 agrees with node:crypto around every block boundary", () => {
  for (let n = 0; n <= 300; n++) {
    const body = randomBytes(n);
    const key = randomBytes(n % 150).toString("hex"); // keys longer than a block (64 bytes) are hashed first
    assert.equal(webhookSignature(body, key), createHmac("sha256", key).update(body).digest("hex"), `length ${n}`);
  }
  const text = "héllo wörld ✅ " + "x".repeat(1000);
  assert.equal(webhookSignature(text, "sëcret"), createHmac("sha256", "sëcret").update(text).digest("hex"));
});

test("Standard Webhooks: the specification's vector", () => {
  assert.equal(standardWebhookSignature(V.secret, V.id, V.ts, V.body), V.sig);
  assert.equal(verifyStandardWebhook(V.body, vectorHeaders(), V.secret, { now: V.ts * 1000 }), true);
  assert.equal(verifyStandardWebhook(V.body, new Headers(vectorHeaders()), V.secret, { now: new Date(V.ts * 1000) }), true);
});

test("Standard Webhooks: what is refused", () => {
  const now = V.ts * 1000;
  const cases = [
    ["another body", '{"test": 2432232315}', vectorHeaders(), V.secret, now],
    ["another secret", V.body, vectorHeaders(), "whsec_" + Buffer.alloc(32).toString("base64"), now],
    ["too old", V.body, vectorHeaders(), V.secret, now + 301_000],
    ["too new", V.body, vectorHeaders(), V.secret, now - 301_000],
    ["no signature header", V.body, { "webhook-id": V.id, "webhook-timestamp": String(V.ts) }, V.secret, now],
    ["a v2 entry with the v1 value", V.body, vectorHeaders(V.sig.replace("v1,", "v2,")), V.secret, now],
    ["a timestamp that is not a number", V.body, vectorHeaders(V.sig, "1614265330.0"), V.secret, now],
  ];
  for (const [name, body, headers, secret, at] of cases) {
    assert.equal(verifyStandardWebhook(body, headers, secret, { now: at }), false, name);
  }
  assert.equal(verifyStandardWebhook(V.body, vectorHeaders(), V.secret, { now: now + 299_000 }), true, "inside the tolerance");
});

test("Standard Webhooks: any signature of a rotation overlap is accepted, by a receiver holding either secret", () => {
  const oldSecret = "whsec_" + randomBytes(32).toString("base64");
  const newSecret = "whsec_" + randomBytes(32).toString("base64");
  const ts = Math.floor(Date.now() / 1000);
  const both = `${standardWebhookSignature(newSecret, "msg_1", ts, "{}")} ${standardWebhookSignature(oldSecret, "msg_1", ts, "{}")}`;
  const h = { "Webhook-Id": "msg_1", "Webhook-Timestamp": String(ts), "Webhook-Signature": both };
  assert.equal(verifyStandardWebhook("{}", h, oldSecret), true, "old secret");
  assert.equal(verifyStandardWebhook("{}", h, newSecret), true, "new secret");
  assert.equal(verifyStandardWebhook("{}", h, ["whsec_" + randomBytes(32).toString("base64"), newSecret]), true, "a list holding the new one");
  assert.equal(verifyStandardWebhook("{}", h, "whsec_" + randomBytes(32).toString("base64")), false, "neither");
  // Node joins repeated header lines with ", ".
  const joined = { ...h, "Webhook-Signature": both.replace(" ", ", ") };
  assert.equal(verifyStandardWebhook("{}", joined, oldSecret), true, "header lines joined by Node");
});

test("standardWebhookKey decodes whsec_ base64 exactly as the server does", () => {
  const cases = [
    ["whsec_AAECAw==", Buffer.from([0, 1, 2, 3])],
    [V.secret, Buffer.from("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "base64")],
    ["my-webhook-secret-key", Buffer.from("my-webhook-secret-key")],
    ["whsec_not base64!", Buffer.from("whsec_not base64!")],
    ["whsec_AAECAw", Buffer.from("whsec_AAECAw")], // unpadded: raw, as Go's StdEncoding refuses it
    ["whsec_", Buffer.from("whsec_")],
    ["whsec_AAEC\nAw==", Buffer.from("whsec_AAEC\nAw==")],
  ];
  for (const [secret, want] of cases) {
    assert.deepEqual(Buffer.from(standardWebhookKey(secret)), want, JSON.stringify(secret));
  }
});

test("verifyWebhookSignature: the X-Fluxbase-Signature scheme", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"; // keyed by the string, prefix and all
  const body = '{"id":"1","event":"user.created","timestamp":"2026-01-01T00:00:00Z","data":{"email":"ada@example.com"}}';
  const good = createHmac("sha256", secret).update(body).digest("hex");
  assert.equal(verifyWebhookSignature(body, good, secret), true);
  assert.equal(verifyWebhookSignature(body, good.toUpperCase(), secret), true, "hex case");
  assert.equal(verifyWebhookSignature(JSON.parse(body), good, secret), true, "a parsed body, as express.json() gives it");
  assert.equal(verifyWebhookSignature(Buffer.from(body), [good], secret), true, "bytes, and a header array");
  assert.equal(verifyWebhookSignature(body, good, secret.slice("whsec_".length)), false, "the prefix matters");
  assert.equal(verifyWebhookSignature(body + " ", good, secret), false, "another body");
  assert.equal(verifyWebhookSignature(body, undefined, secret), false, "no header");
  assert.equal(verifyWebhookSignature(body, "zz" + good.slice(2), secret), false, "not hex");
  assert.equal(verifyWebhookSignature(body, good.slice(0, 62), secret), false, "short");
});

// A Promise is truthy: an async verifier would let `if (!verify(...))`
// through for every forgery. The verifiers must answer synchronously.
test("the verifiers answer with booleans, not Promises", () => {
  assert.equal(typeof verifyWebhookSignature("{}", "00", "s"), "boolean");
  assert.equal(typeof verifyStandardWebhook("{}", {}, "s"), "boolean");
});
