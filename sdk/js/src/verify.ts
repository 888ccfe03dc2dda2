// Verifying deliveries at a receiver. Every delivery carries two schemes
// over the exact bytes sent (see internal/signing in the server):
//
//   X-Fluxbase-Signature: hex HMAC-SHA256 of the body, keyed with the secret
//     string's UTF-8 bytes exactly as the user holds it (whsec_ included),
//     the scheme of the Fluxbase examples.
//   Standard Webhooks: webhook-id, webhook-timestamp and webhook-signature,
//     a space-separated list of "v1,<base64 HMAC-SHA256(key, id.ts.body)>",
//     one per secret while a rotated secret overlaps the new one; the key is
//     the base64-decoded part after whsec_, else the secret's own bytes.
//
// Both are synchronous on purpose; see sha256.ts.

import { hmacSha256 } from "./sha256.js";

/**
 * A delivery's body: the raw text or bytes, or the object express.json()
 * parsed from it (the server sends exactly what JSON.stringify writes, so
 * re-serialising gives back the signed bytes).
 */
export type WebhookBody = string | Uint8Array | ArrayBuffer | object;

/** Headers as fetch (Headers), Node (IncomingHttpHeaders) or a plain object give them. */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export const FLUXBASE_SIGNATURE_HEADER = "x-fluxbase-signature";

const utf8 = new TextEncoder();

function bodyBytes(body: WebhookBody): Uint8Array {
  if (typeof body === "string") return utf8.encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  return utf8.encode(JSON.stringify(body));
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    s += i + 1 < b.length ? B64[(n >> 6) & 63] : "=";
    s += i + 2 < b.length ? B64[n & 63] : "=";
  }
  return s;
}

// Padded standard base64 only, as the server (Go's StdEncoding) reads it: an
// unpadded or URL-safe remainder makes the secret a raw one there too.
const STRICT_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function fromBase64(s: string): Uint8Array | null {
  if (!STRICT_B64.test(s)) return null;
  const clean = s.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0, acc = 0, j = 0;
  for (let i = 0; i < clean.length; i++) {
    acc = (acc << 6) | B64.indexOf(clean[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

// Equal-length comparison whose time does not depend on where the first
// difference is.
function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function headerValue(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === "function") {
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  }
  const rec = headers as Record<string, string | string[] | undefined>;
  for (const k of Object.keys(rec)) {
    if (k.toLowerCase() === name) {
      const v = rec[k];
      return Array.isArray(v) ? v.join(" ") : v;
    }
  }
  return undefined;
}

/** The X-Fluxbase-Signature value for body under secret: hex HMAC-SHA256. */
export function webhookSignature(body: WebhookBody, secret: string): string {
  return toHex(hmacSha256(utf8.encode(secret), bodyBytes(body)));
}

/**
 * Reports whether signature (the X-Fluxbase-Signature header) is body's
 * signature under secret. A missing or malformed signature is false, never
 * an exception. Hex digits may be in either case.
 */
export function verifyWebhookSignature(body: WebhookBody, signature: string | string[] | null | undefined, secret: string): boolean {
  if (Array.isArray(signature)) signature = signature[0];
  if (typeof signature !== "string" || typeof secret !== "string") return false;
  const sig = signature.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(sig)) return false;
  return equalBytes(utf8.encode(sig), utf8.encode(webhookSignature(body, secret)));
}

/**
 * The HMAC key Standard Webhooks libraries derive from secret: the
 * base64-decoded remainder of a whsec_ secret, else the secret's UTF-8 bytes.
 */
export function standardWebhookKey(secret: string): Uint8Array {
  if (secret.startsWith("whsec_")) {
    const rest = secret.slice("whsec_".length);
    const key = rest ? fromBase64(rest) : null;
    if (key) return key;
  }
  return utf8.encode(secret);
}

/** One webhook-signature entry, "v1,<base64>", for a message id, unix timestamp (seconds) and body. */
export function standardWebhookSignature(secret: string, id: string, timestamp: number | string, body: WebhookBody): string {
  const head = utf8.encode(`${id}.${timestamp}.`);
  const b = bodyBytes(body);
  const content = new Uint8Array(head.length + b.length);
  content.set(head);
  content.set(b, head.length);
  return "v1," + toBase64(hmacSha256(standardWebhookKey(secret), content));
}

export interface VerifyStandardWebhookOptions {
  /** How far webhook-timestamp may be from now, either way, in seconds (default 300). */
  toleranceSeconds?: number;
  /** The receiver's clock (default Date.now()). */
  now?: Date | number;
}

/**
 * Reports whether a delivery carries a valid Standard Webhooks signature:
 * webhook-timestamp within tolerance of now, and some v1 entry of
 * webhook-signature signed with one of secrets. While the sender rotates a
 * secret it lists a signature for the old and the new one, so a receiver
 * holding either accepts the delivery; a receiver rotating its own
 * configuration may pass both secrets.
 */
export function verifyStandardWebhook(
  body: WebhookBody,
  headers: WebhookHeaders,
  secrets: string | string[],
  options: VerifyStandardWebhookOptions = {},
): boolean {
  const id = headerValue(headers, "webhook-id");
  const ts = headerValue(headers, "webhook-timestamp");
  const sigs = headerValue(headers, "webhook-signature");
  if (!id || !ts || !sigs || !/^\d{1,12}$/.test(ts)) return false;
  const nowMs = options.now === undefined ? Date.now() : typeof options.now === "number" ? options.now : options.now.getTime();
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(nowMs / 1000 - Number(ts)) > tolerance) return false;

  // Space-separated; a trailing comma is dropped because Node joins repeated
  // header lines with ", ".
  const entries = sigs
    .split(/\s+/)
    .map((e) => e.replace(/,$/, ""))
    .filter(Boolean);
  const list = Array.isArray(secrets) ? secrets : [secrets];
  let ok = false;
  for (const secret of list) {
    if (typeof secret !== "string" || !secret) continue;
    const want = utf8.encode(standardWebhookSignature(secret, id, ts, body));
    for (const entry of entries) {
      // Every entry is compared, so the time taken does not say which matched.
      if (entry.startsWith("v1,") && equalBytes(utf8.encode(entry), want)) ok = true;
    }
  }
  return ok;
}
