import { FluxhookError } from "./errors.js";
import type { AdminAuthResponse, AuthResponse, AuthSession } from "./types.js";

export interface FluxbaseFetchOptions {
  /** Sent as `apikey` and, until a login, as `Authorization: Bearer`. */
  key?: string;
  /** Headers added to every request. */
  headers?: Record<string, string>;
  /** Per-request timeout in milliseconds (default 30000). */
  timeout?: number;
  /** Refresh the access token before it expires, and once after a 401 (default true). */
  autoRefresh?: boolean;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** false for calls that must not trigger a refresh (login, refresh itself). */
  session?: boolean;
}

// Refresh this long before the access token expires, so a request sent just
// before expiry does not arrive just after it.
const REFRESH_MARGIN_MS = 30_000;

/**
 * The HTTP core every manager uses: base URL, credentials, the session and
 * its refresh, and the turning of error responses into FluxhookError.
 */
export class FluxbaseFetch {
  readonly baseUrl: string;
  private readonly key?: string;
  private readonly headers: Record<string, string>;
  private readonly timeout: number;
  private readonly autoRefresh: boolean;
  private readonly fetchImpl?: typeof fetch;
  private session: AuthSession | null = null;
  // One refresh at a time: refresh tokens rotate, and presenting one twice
  // ends the whole session on the server.
  private refreshing: Promise<AuthSession> | null = null;
  private listeners = new Set<(session: AuthSession | null) => void>();

  constructor(baseUrl: string, options: FluxbaseFetchOptions = {}) {
    if (typeof baseUrl !== "string" || !/^https?:\/\//i.test(baseUrl)) {
      throw new TypeError(`createClient: url must be an absolute http(s) URL, got ${JSON.stringify(baseUrl)}`);
    }
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.key = options.key || undefined;
    this.headers = { ...(options.headers ?? {}) };
    this.timeout = options.timeout ?? 30_000;
    this.autoRefresh = options.autoRefresh ?? true;
    this.fetchImpl = options.fetch;
  }

  getSession(): AuthSession | null {
    return this.session;
  }

  setSession(session: AuthSession | null): void {
    this.session = session;
    for (const l of this.listeners) l(session);
  }

  /** Keeps the session from an auth response and returns the response. */
  startSession<T extends AuthResponse | AdminAuthResponse>(res: T, kind: AuthSession["kind"]): T {
    this.setSession({
      user: res.user,
      access_token: res.access_token,
      refresh_token: res.refresh_token,
      expires_in: res.expires_in,
      expires_at: Date.now() + res.expires_in * 1000,
      kind,
    });
    return res;
  }

  onSessionChange(listener: (session: AuthSession | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Exchanges the session's refresh token for a new pair; concurrent callers share one exchange. */
  refreshSession(): Promise<AuthSession> {
    if (this.refreshing) return this.refreshing;
    const s = this.session;
    if (!s) {
      return Promise.reject(new FluxhookError({ message: "Not signed in: there is no session to refresh (unauthorized).", status: 401, code: "NO_SESSION" }));
    }
    const path = s.kind === "admin" ? "/api/v1/admin/refresh" : "/api/v1/auth/refresh";
    this.refreshing = this.send<AuthResponse | AdminAuthResponse>("POST", path, { body: { refresh_token: s.refresh_token }, session: false }, null)
      .then((res) => {
        // A login or logout that happened meanwhile wins over this refresh.
        if (this.session === s) this.startSession(res, s.kind);
        return this.session ?? Promise.reject(new FluxhookError({ message: "Signed out during refresh.", status: 401, code: "NO_SESSION" }));
      })
      .catch((err) => {
        // The refresh token was refused: the session is over.
        if (err instanceof FluxhookError && err.status === 401 && this.session === s) this.setSession(null);
        throw err;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  get<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("GET", path, opts);
  }
  post<T>(path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("POST", path, { ...opts, body });
  }
  patch<T>(path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("PATCH", path, { ...opts, body });
  }
  put<T>(path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("PUT", path, { ...opts, body });
  }
  delete<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>("DELETE", path, opts);
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const useSession = opts.session !== false;
    let s = useSession ? this.session : null;
    if (s && this.autoRefresh && Date.now() > s.expires_at - REFRESH_MARGIN_MS) {
      s = await this.refreshSession();
    }
    try {
      return await this.send<T>(method, path, opts, s);
    } catch (err) {
      // The token may have expired in flight, or been refreshed by another
      // call meanwhile: one refresh and one retry, never more.
      if (s && this.autoRefresh && err instanceof FluxhookError && err.status === 401 && this.session) {
        let fresh: AuthSession | null;
        try {
          fresh = this.session === s ? await this.refreshSession() : this.session;
        } catch {
          throw err; // the request's own 401 says more than the refresh's
        }
        return this.send<T>(method, path, opts, fresh);
      }
      throw err;
    }
  }

  private async send<T>(method: string, path: string, opts: RequestOptions, session: AuthSession | null): Promise<T> {
    let url = this.baseUrl + path;
    if (opts.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(opts.query)) {
        if (v !== undefined) q.set(k, String(v));
      }
      const qs = q.toString();
      if (qs) url += "?" + qs;
    }
    const headers: Record<string, string> = { Accept: "application/json", ...this.headers };
    if (this.key) headers["apikey"] = this.key;
    const bearer = session?.access_token ?? this.key;
    if (bearer) headers["Authorization"] = `Bearer ${bearer}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    Object.assign(headers, opts.headers);

    const f = this.fetchImpl ?? globalThis.fetch;
    if (typeof f !== "function") {
      throw new FluxhookError({ message: "No fetch: pass createClient({ url, fetch }) on runtimes without a global fetch.", status: 0, code: "NO_FETCH" });
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeout);
    let res: Response;
    try {
      res = await f(url, { method, headers, body, signal: controller.signal });
    } catch (cause) {
      clearTimeout(timer);
      const timedOut = controller.signal.aborted;
      throw new FluxhookError({
        message: timedOut ? `${method} ${path}: no answer within ${this.timeout} ms` : `${method} ${path}: ${(cause as Error)?.message ?? String(cause)}`,
        status: 0,
        code: timedOut ? "TIMEOUT" : "NETWORK_ERROR",
        cause,
      });
    }
    let text: string;
    try {
      text = await res.text();
    } finally {
      clearTimeout(timer);
    }
    let data: unknown = undefined;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) throw toError(res, data, method, path);
    return data as T;
  }
}

function toError(res: Response, data: unknown, method: string, path: string): FluxhookError {
  const b = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>;
  const retry = res.headers.get("Retry-After");
  const retryAfter = typeof b.retry_after === "number" ? b.retry_after : retry && /^\d+$/.test(retry) ? Number(retry) : undefined;
  const message =
    typeof b.error === "string" ? b.error : typeof b.message === "string" ? b.message : typeof data === "string" && data ? data : `${method} ${path}: HTTP ${res.status}`;
  return new FluxhookError({
    message,
    status: res.status,
    code: typeof b.code === "string" ? b.code : `HTTP_${res.status}`,
    requestId: res.headers.get("X-Request-Id") ?? (typeof b.request_id === "string" ? b.request_id : undefined),
    details: typeof b.details === "object" && b.details !== null ? (b.details as Record<string, string>) : undefined,
    retryAfter,
    body: data,
  });
}
