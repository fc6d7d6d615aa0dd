// Session handling.
//
// - The access token lives in memory only (never in storage).
// - The refresh token is an HttpOnly cookie scoped to /api/auth; a refresh is
//   POST /api/auth/refresh with the cookie and no body.
// - Refresh tokens rotate and presenting a rotated one revokes the whole
//   session, so tabs must never race: every refresh runs under the Web Lock
//   "chatgate-refresh", and a tab that gets a new access token hands it to the
//   other tabs over a BroadcastChannel. Inside the lock a tab first checks
//   whether another tab already refreshed (its token changed and is fresh),
//   and only then presents the cookie.
//
// Embed mode (the page was loaded at /embed, inside another site's iframe):
// the session comes from the embedding page by postMessage (see embed.js),
// not from the cookie, which a third-party iframe does not get (SameSite=Strict).
// Both tokens live in memory only; a refresh presents the refresh token in
// the body and keeps the rotated one. Nothing is shared with other tabs: no
// BroadcastChannel, no Web Lock, no storage, and requests carry no cookies
// (credentials: 'omit'), so an embedded session never mixes with a first-party
// session of the same browser, nor signs it out.

const CHANNEL = 'chatgate-auth';
const LOCK = 'chatgate-refresh';
const REFRESH_MARGIN = 60_000; // refresh this long before expiry
const FRESH_ENOUGH = 90_000; // a token with more left than this is not refreshed

export const EMBEDDED = typeof location !== 'undefined' && /^\/embed(?:\/|$)/.test(location.pathname);

let token = null;
let expiresAt = 0;
let subject = null;
let timer = null;
let inflight = null;
let refreshToken = null; // embed mode only: the newest refresh token (memory only)
let generation = 0; // bumped whenever the session is replaced or cleared (embed mode)
const listeners = new Set();
const bc = !EMBEDDED && typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;

function claims(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part)) || {};
  } catch {
    return {};
  }
}

function decodeSub(jwt) {
  return claims(jwt).sub ?? null;
}

function emit(type) {
  for (const fn of listeners) {
    try { fn(type); } catch (e) { console.error(e); }
  }
}

function schedule() {
  clearTimeout(timer);
  if (!token) return;
  const jitter = Math.random() * 15_000;
  const wait = Math.max(5_000, expiresAt - Date.now() - REFRESH_MARGIN - jitter);
  timer = setTimeout(() => { refresh(null).catch(() => {}); }, wait);
}

function setToken(t, exp, { broadcast = true } = {}) {
  const prevSub = subject;
  const hadToken = !!token;
  token = t;
  expiresAt = exp;
  subject = decodeSub(t);
  schedule();
  if (broadcast && bc) bc.postMessage({ type: 'token', token: t, expiresAt: exp });
  if (!hadToken) emit('login');
  else if (prevSub && subject && prevSub !== subject) emit('switch');
}

function clearToken() {
  clearTimeout(timer);
  token = null;
  expiresAt = 0;
  subject = null;
  refreshToken = null;
  generation += 1;
}

if (bc) {
  bc.onmessage = ({ data }) => {
    if (!data || typeof data !== 'object') return;
    if (data.type === 'token' && typeof data.token === 'string') {
      if (data.token !== token && data.expiresAt > expiresAt) setToken(data.token, data.expiresAt, { broadcast: false });
    } else if (data.type === 'logout') {
      if (token) { clearToken(); emit('logout'); }
    } else if (data.type === 'ask') {
      if (token && expiresAt - Date.now() > FRESH_ENOUGH) bc.postMessage({ type: 'token', token, expiresAt });
    }
  };
}

if (typeof document !== 'undefined') {
  // Timers are throttled in background tabs: catch up when the tab is shown.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && token && expiresAt - Date.now() < REFRESH_MARGIN) {
      refresh(null).catch(() => {});
    }
  });
}

const STAMP = 'chatgate.refreshed_at'; // when a tab last refreshed (a time, not a token)

function readStamp() {
  try { return Number(localStorage.getItem(STAMP)) || 0; } catch { return 0; }
}

function writeStamp() {
  try { localStorage.setItem(STAMP, String(Date.now())); } catch { /* storage off */ }
}

const isFresh = (stale) => !!token && token !== stale && expiresAt - Date.now() > FRESH_ENOUGH;

/** Embed mode: rotate the in-memory refresh token (in the body, no cookies). */
async function refreshEmbedded() {
  if (!refreshToken) return null;
  const gen = generation;
  const presented = refreshToken;
  let res;
  try {
    res = await fetch('/api/auth/refresh', {
      method: 'POST',
      credentials: 'omit',
      cache: 'no-store',
      headers: { accept: 'application/json', 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: presented, refresh_token_in: 'body' }),
    });
  } catch {
    const err = new Error('network');
    err.network = true;
    throw err;
  }
  if (gen !== generation) return token; // the session was replaced meanwhile
  if (!res.ok) {
    if (res.status === 401 || res.status === 403) {
      const had = !!token;
      clearToken();
      if (had) emit('expired');
      return null;
    }
    const err = new Error(`refresh failed: ${res.status}`);
    err.status = res.status;
    throw err;
  }
  const body = await res.json();
  if (gen !== generation) return token;
  // The presented token is spent now: keep the new one (or none).
  refreshToken = typeof body.refresh_token === 'string' && body.refresh_token ? body.refresh_token : null;
  setToken(body.access_token, Date.now() + (Number(body.expires_in) || 900) * 1000);
  return token;
}

async function refreshUnderLock(stale, requestedAt) {
  // Another tab may have refreshed while we waited for the lock.
  if (isFresh(stale)) return token;
  if (EMBEDDED) return refreshEmbedded();
  // Its broadcast can arrive after the lock is ours: if a tab refreshed just
  // now, ask for the token rather than rotating the refresh token again.
  if (bc && readStamp() > requestedAt - 2000) {
    await askOtherTabs(300);
    if (isFresh(stale)) return token;
  }
  let res;
  try {
    res = await fetch('/api/auth/refresh', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { accept: 'application/json' },
    });
  } catch {
    const err = new Error('network');
    err.network = true;
    throw err;
  }
  if (!res.ok) {
    // 401/403: the refresh cookie is missing, expired or revoked. Every tab
    // shares that cookie, so every tab is signed out.
    if (res.status === 401 || res.status === 403) {
      const had = !!token;
      clearToken();
      if (bc) bc.postMessage({ type: 'logout' });
      if (had) emit('expired');
      return null;
    }
    const err = new Error(`refresh failed: ${res.status}`);
    err.status = res.status;
    throw err;
  }
  const body = await res.json();
  writeStamp();
  setToken(body.access_token, Date.now() + (Number(body.expires_in) || 900) * 1000);
  return token;
}

/**
 * Gets a fresh access token, coordinated across tabs. `stale` is a token
 * known to be bad (a 401 answered it); null for a routine refresh.
 * Resolves to the new token, or null when the session is over.
 */
export function refresh(stale) {
  if (!inflight) {
    const requestedAt = Date.now();
    const run = () => refreshUnderLock(stale, requestedAt);
    // Embed mode holds its own session: no lock shared with first-party tabs.
    const p = !EMBEDDED && typeof navigator !== 'undefined' && navigator.locks && navigator.locks.request
      ? navigator.locks.request(LOCK, run)
      : run();
    inflight = p.finally(() => { inflight = null; });
  }
  return inflight;
}

/** Ask the other tabs for a current token; resolves true if one answered. */
function askOtherTabs(ms = 150) {
  if (!bc) return Promise.resolve(false);
  return new Promise((resolve) => {
    const start = token;
    const t = setTimeout(() => { bc.removeEventListener('message', onMsg); resolve(!!token && token !== start); }, ms);
    function onMsg() {
      // bc.onmessage (registered first) has already adopted the token.
      if (token && token !== start) {
        clearTimeout(t);
        bc.removeEventListener('message', onMsg);
        resolve(true);
      }
    }
    bc.addEventListener('message', onMsg);
    bc.postMessage({ type: 'ask' });
  });
}

export const auth = {
  get token() { return token; },
  get signedIn() { return !!token; },
  /** True when this page runs as an embedded chat (loaded at /embed). */
  get embedded() { return EMBEDDED; },
  on(fn) { listeners.add(fn); return () => listeners.delete(fn); },

  /** At start-up: borrow a token from another tab, or refresh with the cookie. */
  async init() {
    if (EMBEDDED) return false; // the session comes from the embedding page
    if (await askOtherTabs()) return true;
    try {
      return !!(await refresh(null));
    } catch {
      return false;
    }
  },

  /** A valid-looking token for a request, refreshing first if it is about to expire. */
  async getToken() {
    if (token && expiresAt - Date.now() < 10_000) {
      try { await refresh(token); } catch { /* the request's 401 handling takes over */ }
    }
    return token;
  },

  /**
   * After a 401: refresh once (unless another tab already did). Resolves to
   * the new token, or null when the session is over; rejects on network errors.
   */
  refresh(failedToken) {
    return refresh(failedToken);
  },

  /** Adopt the tokens returned by login/register. */
  accept(body) {
    setToken(body.access_token, Date.now() + (Number(body.expires_in) || 900) * 1000);
  },

  /**
   * Embed mode: adopt a session handed over by the embedding page (replacing
   * any current one). The access token's expiry is read from its `exp` claim.
   */
  adoptEmbedded({ access_token: access, refresh_token: rt }) {
    if (!EMBEDDED) throw new Error('not in embed mode');
    const [oldToken, oldRefresh] = [token, refreshToken];
    const exp = Number(claims(access).exp);
    generation += 1;
    refreshToken = rt;
    setToken(access, Number.isFinite(exp) && exp > 0 ? exp * 1000 : Date.now() + 60_000);
    // The session it replaces is not needed any more.
    if (oldToken || oldRefresh) revokeEmbedded(oldToken, oldRefresh);
  },

  /** Server said this session is gone (401 even after a refresh). */
  expire() {
    if (!token) return;
    clearToken();
    emit('expired');
  },

  async logout({ everywhere = false } = {}) {
    if (EMBEDDED) {
      await logoutEmbedded();
      emit('logout');
      return;
    }
    const post = (path, t) => fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: t ? { authorization: `Bearer ${t}` } : {},
    });
    try {
      const t = await this.getToken();
      await navigatorLock(async () => {
        if (everywhere) {
          await post('/api/auth/logout-all', t);
        } else {
          // With the access token; if that is refused (expired), with the refresh cookie.
          const res = t ? await post('/api/auth/logout', t) : null;
          if (!res || res.status === 401) await post('/api/auth/logout', null);
        }
      });
    } catch { /* signed out locally all the same */ }
    clearToken();
    if (bc) bc.postMessage({ type: 'logout' });
    emit('logout');
  },
};

/** Embed mode: revoke the session with the bearer token, else the refresh token (never a cookie). */
async function logoutEmbedded() {
  const [t, rt] = [token, refreshToken];
  clearToken();
  await revokeEmbedded(t, rt);
}

async function revokeEmbedded(t, rt) {
  const post = (headers, body) => fetch('/api/auth/logout', {
    method: 'POST', credentials: 'omit', cache: 'no-store', headers, body,
  });
  try {
    const res = t ? await post({ authorization: `Bearer ${t}` }) : null;
    if ((!res || res.status === 401) && rt) {
      await post({ 'content-type': 'application/json' }, JSON.stringify({ refresh_token: rt }));
    }
  } catch { /* signed out locally all the same */ }
}

function navigatorLock(fn) {
  if (typeof navigator !== 'undefined' && navigator.locks && navigator.locks.request) {
    return navigator.locks.request(LOCK, fn);
  }
  return fn();
}
