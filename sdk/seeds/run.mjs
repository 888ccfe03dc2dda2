// Runs every code block of the seed documents (shared/seeds/*.txt) as the
// pages show it, with Node, against a fresh all-in-one, and compares what
// each prints with what the pages show. See README.md's "SDKs" section and
// harness.mjs for what the runner prepares around the blocks.
//
//   node run.mjs            every block
//   node run.mjs 14 25      only these (the others' setup is skipped)
//   SEEDS_VERBOSE=1 node run.mjs   also show what passing blocks printed
//
// Exit status 0 only when every block passed.

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { createClient, verifyStandardWebhook, verifyWebhookSignature } from "@fluxbase/sdk";
import { describe, extractAll } from "./extract.mjs";
import { freePort, startAllInOne } from "../js/test/allinone.mjs";
import { expectations, knownDefects } from "./expect.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const runDir = join(here, ".run");
const only = new Set(process.argv.slice(2).map(Number));
const BLOCK_TIMEOUT_MS = 20_000;

const USER = { email: "user@example.com", password: "password" };
const ADMIN = { email: "admin@example.com", password: "admin-password" };

function fatal(msg) {
  console.error(`seeds: ${msg}`);
  process.exit(1);
}

// ---- 1. The blocks, checked against the hand-made list ----
const blocks = extractAll();
const golden = readFileSync(join(here, "blocks.txt"), "utf8")
  .split("\n")
  .filter((l) => l.trim() && !l.startsWith("#"));
const found = blocks.map(describe);
if (golden.join("\n") !== found.join("\n")) {
  fatal(`the extractor's blocks differ from blocks.txt:\n--- blocks.txt\n${golden.join("\n")}\n--- found\n${found.join("\n")}`);
}
for (const b of blocks) {
  if (!expectations[b.id]) fatal(`block ${b.id} has no entry in expect.mjs`);
}
console.log(`seeds: ${blocks.length} code blocks in ${new Set(blocks.map((b) => b.doc)).size} documents`);

rmSync(runDir, { recursive: true, force: true });
mkdirSync(join(runDir, "check"), { recursive: true });

// ---- 2. Type-check every TypeScript block against the SDK's declarations ----
// Node runs the blocks with the types stripped; this is where a type the
// pages import, or a property they read, missing from the SDK shows up.
function typecheck() {
  const files = [];
  writeFileSync(
    join(runDir, "check", "globals.d.ts"),
    `import type { FluxbaseClient, createClient as CreateClient } from "@fluxbase/sdk";
declare global {
  var client: FluxbaseClient;
  var createClient: typeof CreateClient;
  var email: string, password: string, adminEmail: string, adminPassword: string;
  var app: any;
  var WEBHOOK_SECRET: string;
}
export {};
`,
  );
  files.push(join(runDir, "check", "globals.d.ts"));
  for (const b of blocks) {
    if (b.kind !== "ts") continue;
    const f = join(runDir, "check", `block${String(b.id).padStart(2, "0")}.ts`);
    writeFileSync(f, b.code);
    files.push(f);
  }
  const program = ts.createProgram(files, {
    noEmit: true,
    strict: false, // the pages' catch (error) { error.message } is untyped JavaScript style
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    moduleDetection: ts.ModuleDetectionKind.Force,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
    types: ["node"],
    typeRoots: [join(here, "node_modules", "@types")],
    skipLibCheck: true,
    esModuleInterop: true,
  });
  const diags = ts.getPreEmitDiagnostics(program);
  const problems = new Map();
  for (const d of diags) {
    const m = d.file && /block(\d+)\.ts$/.exec(d.file.fileName);
    const id = m ? Number(m[1]) : 0;
    const where = d.file ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : "";
    const list = problems.get(id) ?? [];
    list.push(where + ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    problems.set(id, list);
  }
  return problems;
}
const typeProblems = typecheck();
if (typeProblems.has(0)) fatal(`type-check setup failed:\n${typeProblems.get(0).join("\n")}`);

// ---- 3. The server, the user the pages sign in as, and receivers ----
const server = await startAllInOne({ env: { FLUXHOOK_MIN_PASSWORD_LENGTH: "8" } });
const cleanup = [() => server.stop()];
process.on("SIGINT", async () => {
  for (const c of cleanup.reverse()) await c();
  process.exit(130);
});

// The runner's own receiver: records every delivery and checks both
// signatures with the SDK's verifiers. /fail/* answers 503.
const secrets = new Map(); // receiver path -> secret
const received = []; // { path, body, headers, fluxbaseOk, standardOk }
const receiverPort = await freePort();
const receiver = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const secret = secrets.get(req.url);
    received.push({
      path: req.url,
      body,
      headers: req.headers,
      fluxbaseOk: secret ? verifyWebhookSignature(body, req.headers["x-fluxbase-signature"], secret) : null,
      standardOk: secret ? verifyStandardWebhook(body, req.headers, secret) : null,
    });
    if (req.url.startsWith("/fail/")) {
      res.writeHead(503, { "Content-Type": "application/json" }).end('{"error":"maintenance"}');
    } else {
      res.writeHead(200, { "Content-Type": "application/json" }).end('{"ok":true}');
    }
  });
});
await new Promise((r) => receiver.listen(receiverPort, "127.0.0.1", r));
cleanup.push(() => new Promise((r) => receiver.close(r)));
const receiverUrl = (path) => `http://127.0.0.1:${receiverPort}${path}`;

// Setup goes through the SDK itself, against the same server.
const userClient = createClient(server.url);
await userClient.auth.signUp({ ...USER, name: "Example User" });
const adminClient = createClient(server.url);
await adminClient.admin.login(ADMIN);

let seq = 0;
// One webhook from the start, so the list block has something to show
// whatever the blocks before it managed to create.
secrets.set("/ok/hook-0", "seeded-secret-0");
await userClient.management.webhooks.create({ url: receiverUrl("/ok/hook-0"), events: ["user.created", "user.updated"], secret: "seeded-secret-0" });

async function seededKey() {
  const { client_key } = await userClient.management.clientKeys.create({ name: `Seeded key ${++seq}`, scopes: ["read:users"], rate_limit_per_minute: 60 });
  return client_key.id;
}
async function seededWebhook({ fail = false, withDelivery = false } = {}) {
  const path = `/${fail ? "fail" : "ok"}/hook-${++seq}`;
  const secret = `seeded-secret-${seq}`;
  secrets.set(path, secret);
  const hook = await userClient.management.webhooks.create({
    url: receiverUrl(path),
    events: ["user.created", "user.updated"],
    description: `Seeded webhook ${seq}`,
    secret,
  });
  if (withDelivery) await userClient.management.webhooks.test(hook.id);
  return hook.id;
}
async function seededInvitation(email) {
  const { invitation } = await adminClient.management.invitations.create({ email, role: "dashboard_user" });
  return invitation.token;
}

// What each block needs around it: the session of `client`, and the
// resources its placeholder ids stand for.
const setups = {
  keyUUID: async () => ({ "key-uuid": await seededKey() }),
  webhookUUID: async () => ({ "webhook-uuid": await seededWebhook() }),
  webhookWithDeliveries: async () => ({ "webhook-uuid": await seededWebhook({ withDelivery: true }) }),
  failingWebhookID: async () => ({ "webhook-id": await seededWebhook({ fail: true }) }),
  invitationToken: async (b) => ({ "invitation-token": await seededInvitation(`invited-${b.id}@example.com`) }),
};

// ---- 4. Run the blocks ----
function transpile(code) {
  return ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  }).outputText;
}

function runBlock(file, harness, { until, timeoutMs = BLOCK_TIMEOUT_MS, onMessage } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", join(here, "harness.mjs"), file], {
      cwd: here,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, SEEDS_HARNESS: JSON.stringify(harness), NODE_NO_WARNINGS: "1" },
    });
    let stdout = "", stderr = "", done = false, killedByRunner = false;
    const finish = (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ code, signal, stdout, stderr, timedOut: !killedByRunner && signal === "SIGKILL", stoppedWhenDone: killedByRunner });
    };
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("message", (m) => onMessage?.(m));
    child.on("exit", finish);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    // A block that serves (app.listen) never exits: stop it once what it
    // must print has been printed, or at the timeout.
    const poll = setInterval(async () => {
      if (until && !done && (await until(stdout, stderr))) {
        killedByRunner = true;
        child.kill("SIGTERM");
      }
    }, 100);
  });
}

// Checks output against the expectation: `out` patterns must match stdout
// in order; stderr must be empty unless `err` patterns are given, and then
// must match them in order and hold nothing else.
async function judge(b, exp, r) {
  const problems = [];
  if (r.timedOut) problems.push(`did not finish within ${BLOCK_TIMEOUT_MS / 1000} s`);
  else if (!r.stoppedWhenDone && r.code !== 0) problems.push(`exited with status ${r.code}${r.signal ? ` (${r.signal})` : ""}`);
  const matchAll = (text, patterns, what) => {
    let pos = 0;
    for (const p of patterns) {
      const re = new RegExp(p.source, p.flags.includes("m") ? p.flags : p.flags + "m");
      const m = re.exec(text.slice(pos));
      if (!m) {
        problems.push(`${what} lacks ${p}`);
        return pos;
      }
      pos += m.index + m[0].length;
    }
    return pos;
  };
  if (exp.unordered) for (const p of exp.out ?? []) matchAll(r.stdout, [p], "stdout");
  else matchAll(r.stdout, exp.out ?? [], "stdout");
  const errPatterns = typeof exp.err === "function" ? exp.err(r) : exp.err;
  if (errPatterns) {
    const end = matchAll(r.stderr, errPatterns, "stderr");
    if (r.stderr.slice(end).trim()) problems.push(`stderr has more than expected: ${r.stderr.slice(end).trim()}`);
  } else if (r.stderr.trim()) {
    problems.push(`stderr is not empty`);
  }
  for (const check of exp.checks ?? []) {
    const msg = await check(r, ctx);
    if (msg) problems.push(msg);
  }
  return problems;
}

const ctx = { server, received, receiverUrl, userClient, adminClient, blocks, newClient: () => createClient(server.url) };
const results = [];
for (const b of blocks) {
  const exp = expectations[b.id];
  if (only.size && !only.has(b.id)) continue;
  const started = Date.now();
  let problems = [];
  let r = { stdout: "", stderr: "" };
  try {
    if (typeProblems.has(b.id)) problems.push(...typeProblems.get(b.id).map((p) => `type-check: ${p}`));
    if (b.kind === "shell" || b.kind === "json") {
      problems.push(...((await exp.verify?.(b, ctx)) ?? []));
    } else {
      const file = join(runDir, `block${String(b.id).padStart(2, "0")}.mjs`);
      writeFileSync(file, transpile(b.code));
      const placeholders = exp.setup ? await setups[exp.setup](b) : {};
      const harness = {
        apiUrl: server.url,
        placeholders,
        // null: the block makes its own client.
        session: "session" in exp ? exp.session : "user",
        globals: { email: USER.email, password: USER.password, adminEmail: ADMIN.email, adminPassword: ADMIN.password },
      };
      let trigger = null;
      ctx.triggered = ctx.triggerError = ctx.receiverHook = null;
      if (exp.receiver) {
        const port = await freePort();
        const secret = exp.receiver.secret;
        const path = "/webhook";
        ctx.receiverHook = await userClient.management.webhooks.create({ url: `http://127.0.0.1:${port}${path}`, events: exp.receiver.events, secret });
        if (exp.receiver.mode === "fragment") harness.receiverApp = { port, secret };
        else harness.ports = { [exp.receiver.port]: port };
        trigger = exp.receiver.trigger;
      }
      const before = received.length;
      r = await runBlock(file, harness, {
        until: exp.until && ((o, e) => exp.until(o, e, ctx)),
        onMessage: (m) => {
          if (m?.listening && trigger) ctx.triggered = trigger(ctx).catch((err) => (ctx.triggerError = err));
        },
      });
      r.receivedFrom = before;
      await ctx.triggered;
      if (ctx.triggerError) problems.push(`runner's trigger failed: ${ctx.triggerError}`);
      problems.push(...(await judge(b, exp, r)));
    }
  } catch (err) {
    problems.push(`runner error: ${err?.stack ?? err}`);
  }
  const defect = problems.length ? knownDefects.find((d) => d.match.test(r.stdout + r.stderr + problems.join("\n"))) : null;
  results.push({ b, problems, r, ms: Date.now() - started, defect });
  const status = problems.length ? "FAIL" : "ok  ";
  console.log(`${status} ${describe(b).trim()}  (${Date.now() - started} ms)`);
  if (problems.length || process.env.SEEDS_VERBOSE) {
    for (const p of problems) console.log(`       - ${p}`);
    if (defect) console.log(`       ! ${defect.note}`);
    const show = (name, text) => text.trim() && console.log(`       ${name}:\n${text.trimEnd().replace(/^/gm, "         | ")}`);
    show("stdout", r.stdout);
    show("stderr", r.stderr);
  }
}

for (const c of cleanup.reverse()) await c();

const failed = results.filter((x) => x.problems.length);
console.log(`\nseeds: ${results.length - failed.length} of ${results.length} blocks passed`);
const byDefect = failed.filter((x) => x.defect);
if (byDefect.length) {
  console.log(`seeds: ${byDefect.length} of the failures come from known server defects:`);
  for (const x of byDefect) console.log(`  block ${x.b.id} (${x.b.doc}:${x.b.line}): ${x.defect.note}`);
}
process.exit(failed.length ? 1 : 0);
