// Loaded with `node --import ./harness.mjs` before each seed block. It
// prepares what the documentation assumes and does not show, without
// touching the block's text:
//
//  - the server: blocks talk to http://localhost:8080; requests there go to
//    the all-in-one the runner started (on a free port, since this machine
//    is shared). Placeholder ids the pages use ("key-uuid", "webhook-uuid",
//    "invitation-token", "webhook-id") are path segments the runner binds to
//    real resources it created for that block. Nothing else about a request
//    or its answer changes: the server answers every call.
//  - ports: a block's app.listen(3000) listens on the free port the runner
//    chose and pointed a webhook at.
//  - the context of fragments: `client` (logged in as the page's user or
//    admin), `createClient`, `email`/`password`, `adminEmail`/
//    `adminPassword`, an Express `app` with JSON bodies and WEBHOOK_SECRET
//    for the receiver fragment, and localStorage (Node has none).
//
// Its configuration is the JSON in SEEDS_HARNESS (see run.mjs).

import net from "node:net";

const cfg = JSON.parse(process.env.SEEDS_HARNESS ?? "{}");
const DOC_ORIGIN = "http://localhost:8080";

if (cfg.apiUrl) {
  const realFetch = globalThis.fetch;
  const placeholders = cfg.placeholders ?? {};
  globalThis.fetch = function (input, init) {
    let url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith(DOC_ORIGIN + "/")) {
      const u = new URL(cfg.apiUrl + url.slice(DOC_ORIGIN.length));
      u.pathname = u.pathname
        .split("/")
        .map((s) => (Object.hasOwn(placeholders, decodeURIComponent(s)) ? encodeURIComponent(placeholders[decodeURIComponent(s)]) : s))
        .join("/");
      url = u.href;
      input = typeof input === "string" || input instanceof URL ? url : new Request(url, input);
    }
    return realFetch.call(this, input, init);
  };
}

if (cfg.ports) {
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    const want = typeof args[0] === "number" || typeof args[0] === "string" ? String(args[0]) : null;
    if (want !== null && Object.hasOwn(cfg.ports, want)) {
      args[0] = cfg.ports[want];
      // Listen where the runner's webhook points, on IPv4 loopback.
      if (typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
    }
    return listen.apply(this, args);
  };
}

if (cfg.globals) {
  for (const [k, v] of Object.entries(cfg.globals)) globalThis[k] = v;
}

// A Map-backed Web Storage, as browsers have.
const store = new Map();
globalThis.localStorage ??= {
  getItem: (k) => (store.has(String(k)) ? store.get(String(k)) : null),
  setItem: (k, v) => void store.set(String(k), String(v)),
  removeItem: (k) => void store.delete(String(k)),
  clear: () => store.clear(),
  key: (i) => [...store.keys()][i] ?? null,
  get length() {
    return store.size;
  },
};

const { createClient } = await import("@fluxbase/sdk");
globalThis.createClient = createClient;

if (cfg.session) {
  const client = createClient(DOC_ORIGIN, "your-api-key");
  if (cfg.session === "user") await client.auth.login({ email: "user@example.com", password: "password" });
  if (cfg.session === "admin") await client.admin.login({ email: "admin@example.com", password: "admin-password" });
  globalThis.client = client;
}

if (cfg.receiverApp) {
  // The receiver fragment mounts its route on `app`; the app starts
  // listening once it has, and tells the runner, which then sends real
  // deliveries to it.
  const { default: express } = await import("express");
  const app = express();
  app.use(express.json());
  globalThis.app = app;
  globalThis.WEBHOOK_SECRET = cfg.receiverApp.secret;
  const post = app.post.bind(app);
  let started = false;
  app.post = (...args) => {
    const r = post(...args);
    if (!started) {
      started = true;
      app.listen(cfg.receiverApp.port, "127.0.0.1", () => process.send?.({ listening: cfg.receiverApp.port }));
    }
    return r;
  };
}

// The IPC channel (for the message above) must not keep a finished block alive.
process.channel?.unref();
