import { FluxbaseAdmin } from "./admin.js";
import { FluxbaseAuth } from "./auth.js";
import { EventsManager } from "./events.js";
import { FluxbaseFetch } from "./fetch.js";
import { FluxbaseManagement } from "./management.js";

export interface FluxbaseClientOptions {
  /** Base URL of the server, e.g. http://localhost:8080. */
  url: string;
  /** A client key (`fbk_...`), or the anon key the Fluxbase examples pass; optional. */
  key?: string;
  /** Same as key, under the name other SDKs use. */
  apiKey?: string;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /** Per-request timeout in milliseconds (default 30000). */
  timeout?: number;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  auth?: {
    /** An access token to start with (a session without a refresh token). */
    token?: string;
    /** Refresh the access token before it expires (default true). */
    autoRefresh?: boolean;
  };
}

/** What createClient returns. */
export class FluxbaseClient {
  readonly auth: FluxbaseAuth;
  readonly admin: FluxbaseAdmin;
  readonly management: FluxbaseManagement;
  readonly events: EventsManager;
  /** The HTTP core, for calls this SDK has no method for. */
  readonly fetch: FluxbaseFetch;

  constructor(options: FluxbaseClientOptions) {
    this.fetch = new FluxbaseFetch(options.url, {
      key: options.key ?? options.apiKey,
      headers: options.headers,
      timeout: options.timeout,
      fetch: options.fetch,
      autoRefresh: options.auth?.autoRefresh,
    });
    if (options.auth?.token) {
      // No refresh token and no known expiry: used until the server refuses it.
      this.fetch.setSession({
        user: undefined as never,
        access_token: options.auth.token,
        refresh_token: "",
        expires_in: 0,
        expires_at: Number.MAX_SAFE_INTEGER,
        kind: "app",
      });
    }
    this.auth = new FluxbaseAuth(this.fetch);
    this.admin = new FluxbaseAdmin(this.fetch);
    this.management = new FluxbaseManagement(this.fetch);
    this.events = new EventsManager(this.fetch);
  }
}

/**
 * Creates a client, in either form the Fluxbase documentation uses:
 * `createClient("http://localhost:8080", "key")` or
 * `createClient({ url: "http://localhost:8080" })`. The key is optional.
 */
export function createClient(url: string, key?: string, options?: Omit<FluxbaseClientOptions, "url" | "key">): FluxbaseClient;
export function createClient(options: FluxbaseClientOptions): FluxbaseClient;
export function createClient(
  urlOrOptions: string | FluxbaseClientOptions,
  key?: string,
  options?: Omit<FluxbaseClientOptions, "url" | "key">,
): FluxbaseClient {
  if (typeof urlOrOptions === "string") {
    return new FluxbaseClient({ ...options, url: urlOrOptions, key });
  }
  if (typeof urlOrOptions !== "object" || urlOrOptions === null) {
    throw new TypeError("createClient: pass a URL (and optionally a key), or { url }");
  }
  return new FluxbaseClient(urlOrOptions);
}
