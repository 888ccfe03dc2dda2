import type { FluxbaseFetch } from "./fetch.js";
import type { PublishEventOptions, PublishEventRequest, PublishEventResponse, PublishEventsResponse } from "./types.js";

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
    const body: Record<string, unknown> = { event, data };
    if (options.orderingKey !== undefined) body.ordering_key = options.orderingKey;
    return this.fetch.post("/api/v1/events", body, { headers });
  }

  /**
   * Publishes 1 to 500 events in one request; resolves once every one is
   * stored, with one answer per event in the same order. One bad event
   * refuses the whole batch (422, its fields named events[i].field) and
   * stores nothing. After a failure, send the batch again: events with an
   * `id` are then stored once.
   */
  publishBatch(events: PublishEventRequest[]): Promise<PublishEventsResponse> {
    return this.fetch.post("/api/v1/events/batch", { events });
  }
}
