// History routing. The Worker serves index.html for unknown non-API paths.

const routes = [];
let onRoute = () => {};
let replaceOnly = false;

/**
 * Never add history entries (embed mode: an iframe's entries would join the
 * embedding page's history, and its Back button would page through chats).
 */
export function setReplaceOnly(on) {
  replaceOnly = !!on;
}

export function route(pattern, handler) {
  // '/chat/:id' -> /^\/chat\/([^/]+)$/
  const keys = [];
  const re = new RegExp(`^${pattern.replace(/:([a-z]+)/gi, (_, k) => { keys.push(k); return '([^/]+)'; })}/?$`);
  routes.push({ re, keys, handler, pattern });
}

export function match(pathname) {
  for (const r of routes) {
    const m = r.re.exec(pathname);
    if (m) {
      const params = {};
      r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
      return { ...r, params };
    }
  }
  return null;
}

export function navigate(to, { replace = false, state = null } = {}) {
  const url = new URL(to, location.origin);
  const same = url.pathname + url.search + url.hash === location.pathname + location.search + location.hash;
  if (replace || same || replaceOnly) history.replaceState(state, '', url);
  else history.pushState(state, '', url);
  onRoute();
}

/** Change the address bar without rendering (e.g. a new chat got its id). */
export function setUrl(to) {
  history.replaceState(null, '', new URL(to, location.origin));
}

function isApiPath(p) {
  return p === '/api' || p.startsWith('/api/') || p.startsWith('/v1/') || p === '/openapi.json' || p === '/health';
}

export function startRouter(handler) {
  onRoute = handler;
  window.addEventListener('popstate', () => onRoute());
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.origin !== location.origin) return;
    if (isApiPath(a.pathname)) return;
    if (a.pathname === location.pathname && a.search === location.search && a.hash) return; // in-page anchor
    e.preventDefault();
    navigate(a.pathname + a.search + a.hash);
  });
}
