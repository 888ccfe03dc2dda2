// Starts a real Fluxhook all-in-one (embedded NATS, SQLite) for a test run:
// fresh data directory, free ports, private and http:// webhook targets
// allowed (receivers run on this machine), and a readiness wait. Used by the
// SDK's tests and by the seeds runner (sdk/seeds/run.mjs).

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export const ADMIN_EMAIL = "admin@example.com";
export const ADMIN_PASSWORD = "admin-password";

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

let built;
/**
 * The fluxhook binary: $FLUXHOOK_BINARY (make test-sdk builds bin/fluxhook
 * and passes it), else built once per process into a temporary directory.
 */
export function fluxhookBinary() {
  if (process.env.FLUXHOOK_BINARY) return resolve(process.env.FLUXHOOK_BINARY);
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), "fluxhook-bin-"));
  const out = join(dir, "fluxhook");
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  execFileSync("go", ["build", "-o", out, "./cmd/fluxhook"], {
    cwd: repoRoot,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` },
  });
  built = out;
  return out;
}

/**
 * Starts the all-in-one and resolves once /readyz answers 200. env adds or
 * overrides FLUXHOOK_* settings. The result's stop() ends it (SIGTERM, then
 * SIGKILL) and removes its data; output() is what it printed, for failures.
 */
export async function startAllInOne({ env = {}, readyTimeoutMs = 30_000 } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "fluxhook-sdk-"));
  const [httpPort, adminPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${httpPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const child = spawn(fluxhookBinary(), [], {
    cwd: dataDir,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? dataDir,
      FLUXHOOK_DATA_DIR: dataDir,
      FLUXHOOK_DATABASE_URL: `sqlite://${join(dataDir, "fluxhook.db")}`,
      FLUXHOOK_HTTP_ADDR: `127.0.0.1:${httpPort}`,
      FLUXHOOK_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      FLUXHOOK_PUBLIC_URL: url,
      FLUXHOOK_ADMIN_EMAIL: ADMIN_EMAIL,
      FLUXHOOK_ADMIN_PASSWORD: ADMIN_PASSWORD,
      FLUXHOOK_ALLOW_PRIVATE_TARGETS: "true",
      FLUXHOOK_ALLOW_INSECURE_TARGETS: "true",
      // Tests sign in far more often than a person; the per-IP limit is
      // tested on the server side.
      FLUXHOOK_AUTH_RATE_LIMIT: "100000",
      FLUXHOOK_RETRY_SCHEDULE: "1s,1s,1s",
      FLUXHOOK_DELIVERY_TIMEOUT: "5s",
      FLUXHOOK_LOG_LEVEL: "warn",
      ...env,
    },
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  let exited = null;
  const exit = new Promise((res) => child.on("exit", (code, signal) => res((exited = { code, signal }))));

  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exit;
      clearTimeout(t);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`fluxhook exited (${JSON.stringify(exited)}) before it was ready:\n${out}`);
    }
    try {
      const r = await fetch(`${adminUrl}/readyz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`fluxhook not ready within ${readyTimeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, adminUrl, dataDir, stop, output: () => out };
}

export function haveGoOrBinary() {
  return !!process.env.FLUXHOOK_BINARY || existsSync("/usr/local/go/bin/go") || (process.env.PATH ?? "").split(":").some((d) => existsSync(join(d, "go")));
}
