// The one way the client talks to the server: the public HTTP API.
import { auth } from './auth.js';

export class ApiError extends Error {
  constructor({ status = 0, code = 'error', title = '', detail = '', retryAfter = null, param = null } = {}) {
    super(detail || title || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail || title || `Request failed (${status})`;
    this.retryAfter = retryAfter;
    // The request field a validation failure is about (`param` of either error shape).
    this.param = param;
  }
}

const FALLBACK = {
  400: 'The request was not accepted.',
  401: 'Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  409: 'That conflicts with the current state.',
  413: 'That is too large.',
  429: 'Too many requests.',
  500: 'Something went wrong on the server.',
  502: 'The model provider failed to answer.',
  503: 'The service is unavailable right now.',
};

export function fmtWait(seconds) {
  const s = Math.max(1, Math.round(seconds));
  if (s < 90) return `${s} second${s === 1 ? '' : 's'}`;
  const m = Math.round(s / 60);
  return `${m} minute${m === 1 ? '' : 's'}`;
}

export async function errorFromResponse(res) {
  let body = null;
  try {
    const text = await res.text();
    body = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  const ra = Number(res.headers.get('retry-after'));
  const retryAfter = Number.isFinite(ra) && ra > 0 ? ra : null;
  let detail = '';
  let code = '';
  let title = '';
  let param = null;
  if (body && typeof body === 'object') {
    if (body.error && typeof body.error === 'object') {
      // OpenAI-shaped errors (/v1/*)
      detail = body.error.message || '';
      code = body.error.code || body.error.type || '';
      param = typeof body.error.param === 'string' ? body.error.param : null;
    } else {
      detail = typeof body.detail === 'string' ? body.detail : '';
      code = body.code || '';
      title = body.title || '';
      param = typeof body.param === 'string' ? body.param : null;
    }
  }
  if (!detail) detail = title || FALLBACK[res.status] || `Request failed (${res.status}).`;
  if (res.status === 429 && retryAfter && !/\d/.test(detail)) {
    detail = `${detail.replace(/\.?$/, '.')} Try again in ${fmtWait(retryAfter)}.`;
  }
  return new ApiError({ status: res.status, code: code || String(res.status), title, detail, retryAfter, param });
}

function buildUrl(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v != null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path;
}

/**
 * request('GET', '/api/me') -> parsed JSON (null for 204).
 * Options: body (JSON), query, signal, auth (default true), headers,
 * stream (return the raw Response of a text/event-stream), blob (return the body as a Blob),
 * raw (a Blob or File sent as the body as it is, with the content-type given in headers).
 * A 401 triggers one coordinated refresh and one retry.
 */
export async function request(method, path, opts = {}) {
  const { body, query, signal, headers = {}, stream = false, blob = false } = opts;
  const useAuth = opts.auth !== false;
  const url = buildUrl(path, query);
  const payload = opts.raw !== undefined ? opts.raw : body === undefined ? undefined : JSON.stringify(body);

  const send = async (tok) => {
    const hdrs = { accept: stream ? 'text/event-stream' : blob ? '*/*' : 'application/json', ...headers };
    if (body !== undefined) hdrs['content-type'] = 'application/json';
    if (tok) hdrs.authorization = `Bearer ${tok}`;
    try {
      return await fetch(url, {
        // An embedded client authenticates with its bearer token only: no cookies.
        method, headers: hdrs, body: payload, signal, credentials: auth.embedded ? 'omit' : 'same-origin', cache: 'no-store',
      });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      throw new ApiError({ status: 0, code: 'network', detail: 'Could not reach the server. Check your connection and try again.' });
    }
  };

  const tok = useAuth ? await auth.getToken() : null;
  let res = await send(tok);
  if (res.status === 401 && useAuth && tok) {
    const err = await errorFromResponse(res);
    // A wrong password or code (e.g. when changing it) is not a dead session.
    if (err.code === 'invalid_credentials' || err.code === 'invalid_code') throw err;
    let fresh;
    try {
      fresh = await auth.refresh(tok);
    } catch {
      throw new ApiError({ status: 0, code: 'network', detail: 'Could not renew your session. Check your connection and try again.' });
    }
    if (!fresh) throw new ApiError({ status: 401, code: 'unauthorized', detail: 'Your session has ended. Please sign in again.' });
    res = await send(fresh);
    if (res.status === 401) {
      const again = await errorFromResponse(res);
      if (again.code === 'invalid_credentials' || again.code === 'invalid_code') throw again;
      auth.expire();
      throw new ApiError({ status: 401, code: 'unauthorized', detail: 'Your session has ended. Please sign in again.' });
    }
  }
  if (!res.ok) throw await errorFromResponse(res);
  if (stream) return res;
  if (blob) return res.blob();
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  const ct = res.headers.get('content-type') || '';
  if (ct.includes('json')) return JSON.parse(text);
  return text;
}

export const api = {
  get: (p, o) => request('GET', p, o),
  post: (p, body, o) => request('POST', p, { ...o, body }),
  patch: (p, body, o) => request('PATCH', p, { ...o, body }),
  put: (p, body, o) => request('PUT', p, { ...o, body }),
  del: (p, o) => request('DELETE', p, o),
};

/** Items of a list response: {items, next_cursor}, a bare array, or {data}. */
export function itemsOf(res) {
  if (Array.isArray(res)) return res;
  if (res && Array.isArray(res.items)) return res.items;
  if (res && Array.isArray(res.data)) return res.data;
  if (res && Array.isArray(res.rows)) return res.rows;
  return [];
}

/** Follows next_cursor to collect a (small) list. */
export async function listAll(path, { query = {}, signal, max = 500 } = {}) {
  const out = [];
  let cursor = null;
  do {
    const res = await api.get(path, { query: { ...query, limit: 100, cursor }, signal });
    out.push(...itemsOf(res));
    cursor = res && !Array.isArray(res) ? res.next_cursor : null;
  } while (cursor && out.length < max);
  return out;
}

export const enc = encodeURIComponent;
