// The SDK against a real all-in-one: every call goes to the server, every
// delivery to a real endpoint.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import {
  createClient,
  FluxhookError,
  verifyStandardWebhook,
  verifyWebhookSignature,
} from "@fluxhook/sdk";
import { ADMIN_EMAIL, ADMIN_PASSWORD, startAllInOne } from "./allinone.mjs";
import { startReceiver } from "./receiver.mjs";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let server, receiver;
let n = 0;
const uniqueEmail = (p = "user") => `${p}-${Date.now()}-${++n}@example.com`;
const PASSWORD = "correct-horse-battery";

async function signedUpClient() {
  const c = createClient(server.url);
  const email = uniqueEmail();
  await c.auth.signUp({ email, password: PASSWORD, name: "Ada" });
  return { c, email };
}

async function rejects(promise, { status, code }) {
  const err = await promise.then(
    () => assert.fail(`expected a ${status} ${code}`),
    (e) => e,
  );
  assert.ok(err instanceof FluxhookError, `not a FluxhookError: ${err}`);
  assert.equal(err.status, status, err.message);
  assert.equal(err.code, code, err.message);
  assert.match(err.requestId ?? "", /^\S+$/, "every error carries the request id");
  assert.ok(err.message.length > 0);
  return err;
}

before(async () => {
  server = await startAllInOne({ env: { FLUXHOOK_ACCESS_TOKEN_TTL: "2s" } });
  receiver = await startReceiver();
});
after(async () => {
  await receiver?.close();
  await server?.stop();
});

describe("createClient", () => {
  test("both forms reach the server, with or without a key", async () => {
    for (const c of [createClient(server.url), createClient(server.url, "your-api-key"), createClient({ url: server.url + "/" })]) {
      const email = uniqueEmail();
      const res = await c.auth.signUp({ email, password: PASSWORD });
      assert.equal(res.user.email, email);
      assert.equal((await c.auth.getUser()).email, email);
    }
  });
  test("refuses what is not a URL", () => {
    assert.throws(() => createClient("localhost:8080"), TypeError);
    assert.throws(() => createClient({}), TypeError);
  });
  test("the CommonJS build exports what the ES module build does", async () => {
    const cjs = createRequire(import.meta.url)("@fluxhook/sdk");
    const esm = await import("@fluxhook/sdk");
    assert.deepEqual(Object.keys(cjs).filter((k) => k !== "__esModule").sort(), Object.keys(esm).sort());
    const c = cjs.createClient(server.url);
    await assert.rejects(c.auth.getUser(), (e) => e instanceof cjs.FluxhookError && e.status === 401);
  });
});

describe("auth", () => {
  test("login keeps the session; getUser, updateUser, refresh, signOut", async () => {
    const { email } = await signedUpClient();
    const c = createClient(server.url, "your-api-key");
    const res = await c.auth.login({ email, password: PASSWORD });
    assert.match(res.access_token, /^ey/);
    assert.equal(c.auth.getSession().user.email, email);
    const u = await c.auth.updateUser({ name: "Ada Lovelace" });
    assert.equal(u.name, "Ada Lovelace");
    const before = c.auth.getSession().refresh_token;
    await c.auth.refresh();
    assert.notEqual(c.auth.getSession().refresh_token, before, "refresh tokens rotate");
    assert.equal((await c.auth.getUser()).name, "Ada Lovelace");
    await c.auth.signOut();
    assert.equal(c.auth.getSession(), null);
    // The key sent instead is no valid credential.
    await rejects(c.auth.getUser(), { status: 401, code: "INVALID_TOKEN" });
  });

  test("errors carry status, code, message, requestId and details", async () => {
    const c = createClient(server.url);
    await rejects(c.auth.login({ email: uniqueEmail(), password: "wrong-password-1" }), { status: 401, code: "INVALID_CREDENTIALS" });
    const err = await rejects(c.auth.signUp({ email: "not-an-email", password: "short" }), { status: 422, code: "VALIDATION_FAILED" });
    assert.ok(err.details.email && err.details.password, JSON.stringify(err.details));
    const unauth = await rejects(c.management.clientKeys.list(), { status: 401, code: "UNAUTHORIZED" });
    assert.ok(unauth.message.includes("unauthorized"), "the pages test error.message.includes(\"unauthorized\")");
  });

  // The server's access tokens live 2 s here, inside the client's refresh
  // margin: every call refreshes first. Refresh tokens rotate and a reused
  // one ends the session, so concurrent calls must share one refresh.
  test("concurrent calls share one refresh", async () => {
    const { c, email } = await signedUpClient();
    const sessions = new Set();
    c.auth.onAuthStateChange((s) => s && sessions.add(s.refresh_token));
    const users = await Promise.all(Array.from({ length: 8 }, () => c.auth.getUser()));
    assert.ok(users.every((u) => u.email === email));
    assert.equal(sessions.size, 1, "one refresh for eight concurrent calls");
    assert.equal((await c.auth.getUser()).email, email, "the session still works");
  });

  test("a 401 for the access token is refreshed and retried once", async () => {
    const { c, email } = await signedUpClient();
    // A token the server refuses while the client believes it fresh, as
    // after an expiry the client did not foresee.
    const bad = "eyJhbGciOiJIUzI1NiJ9.e30.invalid";
    c.auth.setSession({ ...c.auth.getSession(), access_token: bad, expires_at: Date.now() + 3_600_000 });
    assert.equal((await c.auth.getUser()).email, email);
    assert.notEqual(c.auth.getSession().access_token, bad);
  });
});

describe("admin", () => {
  test("login, me, logout", async () => {
    const c = createClient(server.url);
    const res = await c.admin.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    assert.equal(res.user.role, "dashboard_admin");
    const me = await c.admin.me();
    assert.equal(me.email, ADMIN_EMAIL);
    await c.admin.logout();
    await rejects(c.admin.me(), { status: 401, code: "UNAUTHORIZED" });
  });
  test("an app user cannot log in to the dashboard", async () => {
    const { email } = await signedUpClient();
    const c = createClient(server.url);
    const err = await c.admin.login({ email, password: PASSWORD }).then(() => assert.fail("admin.login succeeded"), (e) => e);
    assert.ok(err instanceof FluxhookError && (err.status === 401 || err.status === 403), `${err.status} ${err.code}`);
    assert.equal(c.auth.getSession(), null);
  });
});

describe("management.clientKeys", () => {
  test("create, list, get, update, revoke, delete", async () => {
    const { c } = await signedUpClient();
    const { client_key, key } = await c.management.clientKeys.create({
      name: "Production Service",
      description: "for tests",
      scopes: ["read:users", "write:users"],
      rate_limit_per_minute: 100,
    });
    assert.match(key, /^fbk_[A-Za-z0-9_-]{43}$/);
    assert.equal(client_key.key_prefix, key.slice(0, 12));
    assert.match(client_key.id, UUID);
    const { client_keys, total } = await c.management.clientKeys.list();
    assert.equal(total, 1);
    assert.deepEqual(client_keys.map((k) => k.id), [client_key.id]);
    assert.equal((await c.management.clientKeys.get(client_key.id)).description, "for tests");
    const updated = await c.management.clientKeys.update(client_key.id, { rate_limit_per_minute: 200 });
    assert.equal(updated.rate_limit_per_minute, 200);
    assert.equal(updated.name, "Production Service", "only the fields given change");
    assert.equal((await c.management.clientKeys.revoke(client_key.id)).message.length > 0, true);
    assert.ok((await c.management.clientKeys.get(client_key.id)).revoked_at);
    await rejects(c.management.clientKeys.revoke(client_key.id), { status: 409, code: "ALREADY_REVOKED" });
    await c.management.clientKeys.delete(client_key.id);
    await rejects(c.management.clientKeys.get(client_key.id), { status: 404, code: "NOT_FOUND" });
  });

  test("a client key authenticates createClient(url, key), within its scopes", async () => {
    const { c } = await signedUpClient();
    const { key } = await c.management.clientKeys.create({ name: "reader", scopes: ["read:clientkeys"], rate_limit_per_minute: 100 });
    const svc = createClient(server.url, key);
    assert.equal((await svc.management.clientKeys.list()).total, 1);
    const err = await rejects(svc.management.webhooks.create({ url: receiver.url(), events: ["*"] }), { status: 403, code: "INSUFFICIENT_SCOPE" });
    assert.equal(err.body.required_scope, "write:webhooks");
  });

  test("a 429 carries retryAfter", async () => {
    const { c } = await signedUpClient();
    const { key } = await c.management.clientKeys.create({ name: "slow", scopes: ["read:clientkeys"], rate_limit_per_minute: 1 });
    const svc = createClient(server.url, key);
    await svc.management.clientKeys.list();
    const err = await rejects(svc.management.clientKeys.list(), { status: 429, code: "RATE_LIMIT_EXCEEDED" });
    assert.ok(err.retryAfter > 0);
  });
});

describe("webhooks and events", () => {
  test("create, get, update, list, test, deliveries, delete", async () => {
    const { c } = await signedUpClient();
    const hook = await c.management.webhooks.create({ url: receiver.url("/crud"), events: ["user.updated"], description: "d", secret: "my-webhook-secret-key" });
    assert.equal(hook.secret, "my-webhook-secret-key", "the secret is shown in the create response");
    assert.equal(hook.has_secret, true);
    assert.equal((await c.management.webhooks.get(hook.id)).secret, undefined, "and only there");
    const upd = await c.management.webhooks.update(hook.id, { is_active: false });
    assert.equal(upd.is_active, false);
    assert.deepEqual(upd.events, ["user.updated"]);
    await c.management.webhooks.update(hook.id, { is_active: true });
    const { webhooks, total } = await c.management.webhooks.list();
    assert.equal(total, 1);
    assert.equal(webhooks[0].id, hook.id);

    const result = await c.management.webhooks.test(hook.id);
    assert.equal(result.success, true, JSON.stringify(result));
    assert.equal(result.status_code, 200);
    assert.equal(result.response_body, '{"received":true}');
    const d = await receiver.waitFor((x) => x.path === "/crud" && x.json.event === "webhook.test");
    assert.deepEqual(d.json.data, { test: true, webhook_id: hook.id });
    assert.equal(verifyWebhookSignature(d.body, d.headers["x-fluxbase-signature"], "my-webhook-secret-key"), true);
    assert.equal(verifyWebhookSignature(JSON.stringify(JSON.parse(d.body)), d.headers["x-fluxbase-signature"], "my-webhook-secret-key"), true);
    assert.equal(verifyStandardWebhook(d.body, d.headers, "my-webhook-secret-key"), true);

    const { deliveries } = await c.management.webhooks.listDeliveries(hook.id, 10);
    assert.equal(deliveries[0].event, "webhook.test");
    assert.equal(deliveries[0].status, "delivered");
    await c.management.webhooks.delete(hook.id);
    await rejects(c.management.webhooks.get(hook.id), { status: 404, code: "NOT_FOUND" });
  });

  test("a failing endpoint is success: false, not an error", async () => {
    const { c } = await signedUpClient();
    const hook = await c.management.webhooks.create({ url: receiver.url("/fails"), events: ["user.updated"] });
    receiver.respondWith(500);
    try {
      const r = await c.management.webhooks.test(hook.id);
      assert.equal(r.success, false);
      assert.equal(r.status_code, 500);
    } finally {
      receiver.respondWith(200);
    }
  });

  test("events.publish with an idempotency key is stored once and delivered, signed", async () => {
    const { c } = await signedUpClient();
    const hook = await c.management.webhooks.create({ url: receiver.url("/orders"), events: ["order.*"] });
    const { key } = await c.management.clientKeys.create({ name: "billing", scopes: ["write:events"], rate_limit_per_minute: 100 });
    const svc = createClient(server.url, key);
    const k = `order-${Date.now()}`;
    const first = await svc.events.publish("order.paid", { order_id: 42 }, { idempotencyKey: k });
    assert.match(first.id, UUID);
    assert.equal(first.duplicate, false);
    const again = await svc.events.publish("order.paid", { order_id: 42 }, { idempotencyKey: k });
    assert.deepEqual(again, { id: first.id, duplicate: true });
    const d = await receiver.waitFor((x) => x.path === "/orders" && x.json.id === first.id);
    assert.equal(d.json.event, "order.paid");
    assert.deepEqual(d.json.data, { order_id: 42 });
    assert.equal(verifyStandardWebhook(d.body, d.headers, hook.secret), true, "a generated whsec_ secret");
    assert.equal(verifyWebhookSignature(d.body, d.headers["x-fluxbase-signature"], hook.secret), true);
    await rejects(svc.events.publish("user.created", {}), { status: 422, code: "VALIDATION_FAILED" });
  });

  test("events.publishBatch stores every event, in order, and refuses a bad batch whole", async () => {
    const { c } = await signedUpClient();
    await c.management.webhooks.create({ url: receiver.url("/batch"), events: ["cart.*"] });
    const { key } = await c.management.clientKeys.create({ name: "carts", scopes: ["write:events"], rate_limit_per_minute: 100 });
    const svc = createClient(server.url, key);
    const k = `cart-${Date.now()}`;
    const batch = [
      { event: "cart.opened", data: { n: 0 } },
      { event: "cart.updated", data: { n: 1 }, id: k },
      { event: "cart.closed", data: { n: 2 } },
    ];
    const { events } = await svc.events.publishBatch(batch);
    assert.equal(events.length, 3);
    events.forEach((e) => assert.match(e.id, UUID));
    assert.deepEqual(events.map((e) => e.duplicate), [false, false, false]);
    for (const [i, e] of events.entries()) {
      const d = await receiver.waitFor((x) => x.path === "/batch" && x.json.id === e.id);
      assert.equal(d.json.event, batch[i].event);
      assert.deepEqual(d.json.data, batch[i].data);
    }
    const again = await svc.events.publishBatch([batch[1]]);
    assert.deepEqual(again.events, [{ id: events[1].id, duplicate: true }]);
    const err = await svc.events.publishBatch([batch[0], { event: "user.created", data: {} }]).catch((e) => e);
    assert.equal(err.status, 422);
    assert.match(err.details["events[1].event"], /reserved/);
  });

  test("replay sends a kept event again with its webhook-id; progress, list, cancel, retryFailed", async () => {
    const { c } = await signedUpClient();
    const hook = await c.management.webhooks.create({ url: receiver.url("/replay"), events: ["parcel.*"] });
    const { key } = await c.management.clientKeys.create({ name: "replay", scopes: ["write:events"], rate_limit_per_minute: 100 });
    const since = new Date(Date.now() - 1000).toISOString();
    const ev = await createClient(server.url, key).events.publish("parcel.sent", { n: 1 });
    const first = await receiver.waitFor((x) => x.path === "/replay" && x.json.id === ev.id);
    const r = await c.management.webhooks.replay(hook.id, { since });
    assert.equal(r.kind, "replay");
    assert.equal(r.includes_missed, true);
    let p = r;
    for (let i = 0; i < 100 && p.state !== "done"; i++) {
      await new Promise((res) => setTimeout(res, 100));
      p = await c.management.webhooks.getReplay(hook.id, r.id);
    }
    assert.equal(p.state, "done", JSON.stringify(p));
    assert.equal(p.deliveries_queued, 1);
    const again = await receiver.waitFor((x) => x.path === "/replay" && x.json.id === ev.id && x !== first);
    assert.equal(again.headers["webhook-id"], first.headers["webhook-id"]);
    assert.equal((await c.management.webhooks.listReplays(hook.id)).replays[0].id, r.id);
    await rejects(c.management.webhooks.cancelReplay(hook.id, r.id), { status: 409, code: "REPLAY_FINISHED" });
    const rf = await c.management.webhooks.retryFailed(hook.id);
    assert.equal(rf.kind, "retry_failed");
    await rejects(c.management.webhooks.replay(hook.id, { since: "yesterday" }), { status: 422, code: "VALIDATION_FAILED" });
  });

  test("after a secret rotation, a receiver holding the old or the new secret accepts deliveries", async () => {
    const { c } = await signedUpClient();
    const hook = await c.management.webhooks.create({ url: receiver.url("/rotate"), events: ["user.updated"], secret: "old-secret-123" });
    const { secret } = await c.management.webhooks.rotateSecret(hook.id);
    assert.match(secret, /^whsec_/);
    await c.management.webhooks.test(hook.id);
    const d = await receiver.waitFor((x) => x.path === "/rotate");
    assert.equal(d.headers["webhook-signature"].split(" ").length, 2, d.headers["webhook-signature"]);
    assert.equal(verifyStandardWebhook(d.body, d.headers, "old-secret-123"), true, "old");
    assert.equal(verifyStandardWebhook(d.body, d.headers, secret), true, "new");
    assert.equal(verifyWebhookSignature(d.body, d.headers["x-fluxbase-signature"], secret), true, "X-Fluxbase-Signature uses the current secret");
  });
});

describe("management.invitations", () => {
  test("create, list, validate, accept, revoke", async () => {
    const admin = createClient(server.url);
    await admin.admin.login({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD });
    const email = uniqueEmail("invitee");
    const inv = await admin.management.invitations.create({ email, role: "dashboard_user", expiry_duration: 3600 });
    assert.equal(inv.email_sent, false);
    assert.ok(inv.invite_link.endsWith("/invite/" + inv.invitation.token));
    const { invitations } = await admin.management.invitations.list({ include_accepted: false, include_expired: false });
    assert.ok(invitations.some((i) => i.email === email && i.token === inv.invitation.token));

    const anon = createClient({ url: server.url });
    const v = await anon.management.invitations.validate(inv.invitation.token);
    assert.equal(v.valid, true);
    assert.equal(v.invitation.email, email);
    assert.deepEqual(await anon.management.invitations.validate("invalid-token"), { valid: false, error: "Invitation not found" });

    const acc = await anon.management.invitations.accept(inv.invitation.token, { password: "SecurePassword123!", name: "John Doe" });
    assert.equal(acc.user.email, email);
    assert.equal(acc.user.role, "dashboard_user");
    assert.equal(anon.auth.getSession(), null, "accepting does not switch the client's session");
    assert.equal((await anon.management.invitations.validate(inv.invitation.token)).error, "Invitation has already been accepted");

    const other = await admin.management.invitations.create({ email: uniqueEmail("gone"), role: "dashboard_admin" });
    await admin.management.invitations.revoke(other.invitation.token);
    assert.equal((await anon.management.invitations.validate(other.invitation.token)).valid, false);
  });
});
