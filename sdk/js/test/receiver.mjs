// A webhook endpoint for tests: records each delivery (raw body and
// headers) and answers 200, or the status set with respondWith.
import { createServer } from "node:http";

export async function startReceiver() {
  const deliveries = [];
  const waiters = [];
  let status = 200;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const d = { path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      d.json = JSON.parse(d.body);
      deliveries.push(d);
      for (const w of [...waiters]) if (w.pred(d)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(d));
      res.writeHead(status, { "Content-Type": "application/json" }).end(status < 300 ? '{"received":true}' : '{"error":"nope"}');
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    url: (path = "/hook") => base + path,
    deliveries,
    respondWith: (s) => (status = s),
    /** The first delivery (already received or to come) for which pred holds. */
    waitFor(pred, timeoutMs = 15_000) {
      const hit = deliveries.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const w = { pred, resolve };
        waiters.push(w);
        setTimeout(() => reject(new Error(`no matching delivery within ${timeoutMs} ms; got ${deliveries.map((d) => d.json.event).join(", ")}`)), timeoutMs).unref();
      });
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
