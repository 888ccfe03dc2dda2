/**
 * The error every SDK call throws: the server's answer, or why there was
 * none. `status`, `code` and `requestId` are there for programs to act on;
 * `message` is the server's sentence, which the Fluxbase examples test with
 * `error.message.includes(...)`.
 */
export class FluxhookError extends Error {
  /** HTTP status; 0 when no response arrived (network error, timeout). */
  readonly status: number;
  /** The server's UPPER_SNAKE code (`VALIDATION_FAILED`, `NOT_FOUND`, ...), or `NETWORK_ERROR` / `TIMEOUT`. */
  readonly code: string;
  /** The response's X-Request-Id (or the body's request_id), to quote to an operator. */
  readonly requestId?: string;
  /** Per-field problems of a 422. */
  readonly details?: Record<string, string>;
  /** Seconds to wait before retrying, from a 429 or 503. */
  readonly retryAfter?: number;
  /** The whole error body as the server sent it. */
  readonly body?: unknown;

  constructor(init: {
    message: string;
    status: number;
    code: string;
    requestId?: string;
    details?: Record<string, string>;
    retryAfter?: number;
    body?: unknown;
    cause?: unknown;
  }) {
    super(init.message);
    this.name = "FluxhookError";
    this.status = init.status;
    this.code = init.code;
    this.requestId = init.requestId;
    this.details = init.details;
    this.retryAfter = init.retryAfter;
    this.body = init.body;
    if (init.cause !== undefined) {
      (this as { cause?: unknown }).cause = init.cause;
    }
  }
}

/** The same class under the Fluxbase name, for code written against that SDK. */
export { FluxhookError as FluxbaseError };

/** Reports whether err is an error from this SDK (also across bundled copies of it). */
export function isFluxhookError(err: unknown): err is FluxhookError {
  return err instanceof FluxhookError || (typeof err === "object" && err !== null && (err as Error).name === "FluxhookError");
}
