// What each seed block must print, keyed by its id in blocks.txt. Where a
// page shows a value (in a comment, or a literal message) it is checked as
// shown; ids, keys, tokens and times vary per run and are checked by form.
//
//   out        patterns stdout must match, in order (unordered: each anywhere)
//   err        patterns stderr must match, in order, and nothing more; absent:
//              stderr must be empty
//   session    who `client` is signed in as for a fragment: "user" (default) or "admin"
//   setup      which resources the block's placeholder ids stand for (run.mjs)
//   receiver   a webhook the runner points at the block's own endpoint
//   until      for blocks that serve: stop them once this holds
//   checks     further checks, on the server's and the receiver's records
//   verify     for blocks that are not programs (the shell line, the JSON sample)

import { readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
const TIME = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?Z";
const KEY = "fbk_[A-Za-z0-9_-]{43}";
const PREFIX = "fbk_[A-Za-z0-9_-]{8}"; // key_prefix: the key's first 12 characters
const re = (s, flags = "") => new RegExp(s, flags);

// Deliveries that reached the runner's receiver during the block, every one
// carrying valid X-Fluxbase-Signature and Standard Webhooks signatures.
const signedDeliveries = (event) => (r, ctx) => {
  const got = ctx.received.slice(r.receivedFrom).filter((d) => !event || JSON.parse(d.body).event === event);
  if (got.length === 0) return `no ${event ?? ""} delivery reached the receiver`;
  const bad = got.filter((d) => d.fluxbaseOk !== true || d.standardOk !== true);
  if (bad.length) return `${bad.length} deliveries with a signature the SDK's verifiers refuse`;
  return null;
};

// The block's own endpoint accepted the runner's webhook's deliveries: the
// server recorded them delivered with the block's 200 (a refused signature
// would have been a 401). The worker writes attempt records in batches after
// the response, so the record can trail the block's own print by a few
// milliseconds (API.md: the delivery log is written after the attempt): the
// check reads the log until the record is there, for at most 10 s.
const endpointAccepted = (event) => async (r, ctx) => {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { deliveries } = await ctx.userClient.management.webhooks.listDeliveries(ctx.receiverHook.id, 100);
    const ok = deliveries.filter((d) => d.event === event && d.status === "delivered" && d.status_code === 200);
    if (ok.length > 0) return null;
    if (Date.now() > deadline) {
      return `no ${event} delivery to the block's endpoint was accepted within 10 s; the server recorded: ${JSON.stringify(deliveries.map((d) => [d.event, d.status, d.status_code, d.response_body ?? d.error]))}`;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
};

export const knownDefects = [
  {
    match: /host myapp\.com does not resolve/,
    note:
      "server defect, not the SDK's: POST/PATCH /webhooks refuses https://myapp.com/… with 422 " +
      '"url host myapp.com does not resolve" on this offline machine, while API.md says a name that does not ' +
      "resolve yet is accepted (issue #10 item 5, internal/outbound, owned by another engineer)",
  },
];

export const expectations = {
  // npm install @fluxbase/sdk: the runner's package.json installs this
  // repository's sdk/js under that name; check that it did.
  1: {
    verify: (b) => {
      const problems = [];
      if (b.code.trim() !== "npm install @fluxbase/sdk") problems.push(`unexpected command: ${b.code.trim()}`);
      const pkgPath = createRequire(join(here, "run.mjs")).resolve("@fluxbase/sdk/package.json");
      const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
      if (pkg.name !== "@fluxhook/sdk") problems.push(`@fluxbase/sdk resolves to ${pkg.name}, not this repository's @fluxhook/sdk`);
      if (realpathSync(dirname(pkgPath)) !== resolve(here, "../js")) problems.push(`@fluxbase/sdk resolves to ${realpathSync(dirname(pkgPath))}, not sdk/js`);
      return problems;
    },
  },
  2: { out: [], session: null },
  3: {
    // The page shows the forms: "fbk_abc123def456..." and "fbk_abc".
    out: [re(`^Client Key: (${KEY})$`), re(`^Key Prefix: ${PREFIX}$`)],
    checks: [
      (r) => {
        const key = /^Client Key: (\S+)$/m.exec(r.stdout)?.[1];
        const prefix = /^Key Prefix: (\S+)$/m.exec(r.stdout)?.[1];
        return key && prefix && key.startsWith(prefix) ? null : `the prefix ${prefix} is not the start of the key ${key}`;
      },
    ],
  },
  4: {
    out: [
      re(`^Production Service: ${PREFIX}\\.\\.\\.$`),
      /^ Scopes: read:users, write:users, read:products$/,
      /^ Rate Limit: 100\/min$/,
      /^ Last Used: Never$/,
      // expires_at 2025-12-31 in the block before: in the past now.
      /^ Status: EXPIRED$/,
    ],
  },
  5: {
    setup: "keyUUID",
    out: [/^Name: Seeded key \d+$/, /^Scopes: \[ 'read:users' \]$/, re(`^Created: ${TIME}$`), /^Last Used: (?:undefined|null)$/],
  },
  6: { setup: "keyUUID", out: [/^Updated: Updated Service Name$/] },
  7: { setup: "keyUUID", out: [/^Client key revoked successfully$/] },
  8: { setup: "keyUUID", out: [/^Client key deleted successfully$/] },
  9: {
    out: [
      re(`^Webhook created: ${UUID}$`),
      /^URL: https:\/\/myapp\.com\/webhook$/,
      /^Events: \[\s*'user\.created',\s*'user\.updated',\s*'user\.deleted',\s*'auth\.login',\s*'auth\.logout'\s*\]$/,
    ],
  },
  10: {
    out: [/^http:\/\/127\.0\.0\.1:\d+\/ok\/hook-0 \(active\)$/, /^ Events: user\.created, user\.updated$/, re(`^ Created: ${TIME}$`)],
  },
  11: {
    setup: "webhookUUID",
    out: [/^URL: http:\/\/127\.0\.0\.1:\d+\/ok\/hook-\d+$/, /^Events: \[ 'user\.created', 'user\.updated' \]$/, /^Active: true$/, /^Description: Seeded webhook \d+$/],
  },
  12: { setup: "webhookUUID", out: [/^Webhook updated$/] },
  13: { setup: "webhookUUID", out: [/^Webhook deleted$/] },
  14: {
    setup: "webhookUUID",
    out: [/^✅ Webhook test successful$/, /^Status Code: 200$/, /^Response: \{"ok":true\}$/],
    checks: [signedDeliveries("webhook.test")],
  },
  // The test payload the page shows, against one the receiver got.
  15: {
    verify: (b, ctx) => {
      const doc = JSON.parse(b.code);
      const got = ctx.received.map((d) => JSON.parse(d.body)).find((p) => p.event === "webhook.test");
      if (!got) return ["no webhook.test delivery recorded to compare with (block 14 sends one)"];
      const problems = [];
      const sameShape = (want, have, path) => {
        for (const [k, v] of Object.entries(want)) {
          if (!(k in have)) problems.push(`the delivered payload lacks ${path}${k}`);
          else if (typeof v === "object" && v !== null) sameShape(v, have[k], `${path}${k}.`);
          else if (typeof v !== typeof have[k]) problems.push(`${path}${k} is a ${typeof have[k]}, the page shows a ${typeof v}`);
        }
      };
      sameShape(doc, got, "");
      if (got.event !== doc.event) problems.push(`event is ${got.event}, the page shows ${doc.event}`);
      if (got.data?.test !== true) problems.push(`data.test is ${got.data?.test}`);
      if (!re(`^${UUID}$`).test(got.data?.webhook_id ?? "")) problems.push(`data.webhook_id is ${got.data?.webhook_id}`);
      if (!re(`^${TIME}$`).test(got.timestamp ?? "")) problems.push(`timestamp is ${got.timestamp}`);
      return problems;
    },
  },
  16: {
    setup: "webhookWithDeliveries",
    out: [/^Event: webhook\.test$/, /^Status: 200$/, re(`^Created: ${TIME}$`), re(`^Delivered: ${TIME}$`), /^---$/],
  },
  17: { out: [] }, // a type declaration: nothing to run, type-checked
  // The receiver fragment: the runner points a webhook at its endpoint,
  // sends a test and causes an auth.login, and the fragment's own check
  // accepts both.
  18: {
    receiver: {
      mode: "fragment",
      secret: "my-webhook-secret-key",
      events: ["auth.login"],
      trigger: async (ctx) => {
        ctx.testResult = await ctx.userClient.management.webhooks.test(ctx.receiverHook.id);
        await ctx.newClient().auth.login({ email: "user@example.com", password: "password" });
      },
    },
    until: (out) => out.includes("Event: auth.login") && out.includes("Event: webhook.test"),
    unordered: true,
    out: [
      /^Event: webhook\.test$/,
      re(`^Data: \\{ test: true, webhook_id: '${UUID}' \\}$`),
      /^Event: auth\.login$/,
      /^Data: \{[^}]*email: 'user@example\.com'/,
    ],
    checks: [
      (r, ctx) =>
        ctx.testResult?.success === true && ctx.testResult.response_body === '{"received":true}'
          ? null
          : `the test delivery to the fragment's endpoint did not succeed: ${JSON.stringify(ctx.testResult)}`,
      endpointAccepted("auth.login"),
    ],
  },
  19: {
    out: [/^Invitation created$/, /^Invite Link: http:\/\/127\.0\.0\.1:\d+\/invite\/[A-Za-z0-9_-]+$/, /^Email Sent: false$/],
  },
  20: {
    session: "admin",
    out: [/^newuser@example\.com - dashboard_user$/, re(`^ Expires: ${TIME}$`), /^ Status: Pending$/, /^Total invitations: \d+$/],
  },
  21: {
    setup: "invitationToken",
    out: [/^✅ Valid invitation$/, /^Email: invited-21@example\.com$/, /^Role: dashboard_user$/, re(`^Expires: ${TIME}$`)],
  },
  22: {
    setup: "invitationToken",
    out: [/^✅ Account created successfully$/, /^User: invited-22@example\.com$/, /^Name: John Doe$/, /^Role: dashboard_user$/],
  },
  23: { setup: "invitationToken", session: "admin", out: [/^Invitation revoked$/] },
  24: {
    session: null,
    out: [
      /^=== Client Keys ===$/,
      re(`^🟢 ACTIVE .+\\n  ?Prefix: ${PREFIX}\\n  ?Rate Limit: \\d+/min\\n  ?Last Used: Never$`),
      /^🟡 EXPIRED Production Service$/,
      /^\n?✅ New Client Key Created$/,
      re(`^Key: ${KEY}$`),
      /^Save this key securely - it won't be shown again!$/,
      /^\n?✅ Updated .+ rate limit to 120\/min$/,
    ],
  },
  // The complete Express receiver, listening on "3000" (a free port the
  // runner maps it to). The runner's webhook with the block's secret points
  // at it; the block's own sign-in causes an auth.login the block must
  // receive and accept. Its own webhook is https://myapp.com/webhook, which
  // this offline machine cannot reach: the test of that one fails here,
  // which the block reports on stderr in its own words.
  25: {
    session: null,
    receiver: { mode: "listen", port: 3000, secret: "your-webhook-secret", events: ["user.created", "user.deleted", "auth.login"] },
    until: (out, err) => out.includes("User logged in: user@example.com") && (out.includes("Webhook test successful") || err.trim() !== ""),
    unordered: true,
    out: [
      /^Server running on port 3000$/,
      re(`^Received event: auth\\.login at ${TIME}$`),
      /^User logged in: user@example\.com$/,
      re(`^Webhook created: ${UUID}$`),
    ],
    err: (r) => (r.stdout.includes("✅ Webhook test successful") ? undefined : [/^❌ Webhook test failed: .+$/]),
    checks: [endpointAccepted("auth.login")],
  },
  26: {
    session: null,
    out: [
      /^Creating invitations\.\.\.$/,
      /^✅ Invited user1@example\.com$/,
      /^ Link: http:\/\/127\.0\.0\.1:\d+\/invite\/[A-Za-z0-9_-]+$/,
      /^✅ Invited user2@example\.com$/,
      /^✅ Invited admin2@example\.com$/,
      /^\n?\d+ pending invitations:$/,
      /^- user1@example\.com \(expires in 6 days\)$/,
    ],
  },
  27: { out: [re(`^Client key created: ${KEY}$`)] },
  28: { out: [] },
  29: { out: [] },
  // The page shows the value: // "Invitation not found"
  30: { out: [], err: [/^Invitation not found$/] },
  // "Webhook Delivery Failure": the placeholder id is a webhook whose
  // endpoint answers 503.
  31: {
    setup: "failingWebhookID",
    out: [],
    err: [/^Webhook failed: .*503.*$/],
    checks: [signedDeliveries("webhook.test")],
  },
  32: { out: [] }, // import type: erased at run time; the type-check is the test
  33: { session: null, out: [] },
  34: { out: [re(`^Client Key: ${KEY}$`)] },
  35: { setup: "keyUUID", out: [/^Client key deleted$/] },
  36: { setup: "keyUUID", out: [/^Last used: (?:undefined|null)$/] },
  37: { out: [re(`^.+: ${PREFIX}\\.\\.\\. \\(expires: (?:undefined|null|${TIME})\\)$`)] },
  38: { setup: "keyUUID", out: [/^Client key revoked$/] },
  39: { setup: "keyUUID", out: [] },
};
