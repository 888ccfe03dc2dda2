// The API client and the session. The access token lives in this
// module's memory only; the refresh token is in an HttpOnly cookie this
// script cannot read, sent only to /api/v1/dashboard/session (README
// "Dashboard"). A page load starts with a refresh, which rotates the
// cookie; refreshes in several tabs take turns through a Web Lock, so
// that no two send the same cookie (reuse would end the session).

const BASE = '/api/v1';
let access = null;
let user = null;
let timer = null;
let refreshing = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `The server answered ${status}.`);
    this.status = status;
    this.body = body;
  }
}

export function currentUser() { return user; }
export function isAdmin() { return !!user && user.role === 'dashboard_admin'; }

// onSignedOut is told when the session ends under the page's feet.
export function onSignedOut(fn) { listeners.add(fn); }

async function parse(res) {
  const text = await res.text();
  let body = null;
  if (text) {
    try { body = JSON.parse(text); } catch { body = { error: text }; }
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

async function sessionCall(method, path, body, withAccess) {
  const headers = { 'X-Fluxhook-Dashboard': '1' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (withAccess && access) headers.Authorization = `Bearer ${access}`;
  const res = await fetch(BASE + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin', cache: 'no-store',
  });
  return parse(res);
}

function adopt(session) {
  access = session.access_token;
  user = session.user;
  clearTimeout(timer);
  // Refresh ahead of expiry, so that a request rarely meets a dead token.
  const ms = Math.max(10, session.expires_in * 0.8) * 1000;
  timer = setTimeout(() => { refresh().catch(() => {}); }, ms);
  return user;
}

function forget() {
  access = null;
  user = null;
  clearTimeout(timer);
}

export async function signIn(email, password) {
  return adopt(await sessionCall('POST', '/dashboard/session', { email, password }));
}

export async function acceptInvitation(token, name, password) {
  return adopt(await sessionCall('POST', `/dashboard/invitations/${encodeURIComponent(token)}/accept`, { name, password }));
}

async function refreshNow() {
  for (let attempt = 1; ; attempt++) {
    try {
      return adopt(await sessionCall('POST', '/dashboard/session/refresh'));
    } catch (err) {
      // 409: another tab refreshed with the same cookie a moment ago
      // (where Web Locks are missing: plain http off localhost); the
      // cookie holds its new token once that answer is in, so try again.
      if (err instanceof ApiError && err.status === 409 && attempt < 3) {
        await new Promise((resolve) => setTimeout(resolve, 400 * attempt));
        continue;
      }
      forget();
      if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 409)) return null;
      throw err;
    }
  }
}

// refresh gets a new access token from the cookie; null when there is no
// session. Concurrent calls share one refresh.
export function refresh() {
  if (!refreshing) {
    const run = navigator.locks ? navigator.locks.request('fluxhook-dashboard-refresh', refreshNow) : refreshNow();
    refreshing = run.finally(() => { refreshing = null; });
  }
  return refreshing;
}

// resume picks up the session this browser holds, if any.
export async function resume() {
  if (user) return user;
  return refresh();
}

export async function signOut() {
  try { await sessionCall('DELETE', '/dashboard/session', undefined, true); } finally { forget(); }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

// api calls the API with the session's access token, refreshing it once
// when the API says it is no longer good.
export async function api(method, path, body, params) {
  const send = () => {
    const headers = {};
    if (access) headers.Authorization = `Bearer ${access}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(BASE + path + query(params), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
    });
  };
  if (!access) await refresh();
  let res = await send();
  if (res.status === 401) {
    if (await refresh()) res = await send();
  }
  if (res.status === 401) {
    forget();
    for (const fn of listeners) fn();
  }
  return parse(res);
}

// publicApi calls an endpoint that needs no session.
export async function publicApi(method, path) {
  return parse(await fetch(BASE + path, { method, cache: 'no-store' }));
}
