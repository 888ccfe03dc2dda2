import type { FluxbaseFetch } from "./fetch.js";
import type { PublishEventOptions, PublishEventResponse } from "./types.js";

/** Publishing your own events (order.paid, ...) to the webhooks subscribed to them. */
export class EventsManager {
  constructor(private readonly fetch: FluxbaseFetch) {}

  /**
   * Publishes an event; resolves once the server has stored it durably.
   * With an idempotencyKey a retry after a failure cannot store it twice.
   */
  publish(event: string, data: unknown, options: PublishEventOptions = {}): Promise<PublishEventResponse> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers["Idempotency-Key"] = options.idempotencyKey;
    return this.fetch.post("/api/v1/events", { event, data }, { headers });
  }
}
