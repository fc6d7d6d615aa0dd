import '../css/app.css';
import { h, replace } from './dom.js';
import { auth } from './auth.js';
import { route, match, navigate, startRouter } from './router.js';
import { state, loadMe, forgetModels } from './state.js';
import { loadError, toast } from './ui.js';
import { loginPage, signupPage, invitePage } from './pages/auth.js';
import {
  verifyEmailPage, forgotPasswordPage, resetPasswordPage, devMailboxPage, verifyBanner,
} from './pages/mail.js';
import { startEmbed } from './embed.js';

// The bigger pages are loaded on demand (the chat page brings the Markdown
// renderer and the sanitiser); index.html preloads the chat chunk.
const lazy = (load, name) => async (ctx) => (await load())[name](ctx);
const chatPage = lazy(() => import('./pages/chat.js'), 'chatPage');
const settingsPage = lazy(() => import('./pages/settings.js'), 'settingsPage');
const orgsPage = lazy(() => import('./pages/orgs.js'), 'orgsPage');
const orgPage = lazy(() => import('./pages/orgs.js'), 'orgPage');
const adminPage = lazy(() => import('./pages/admin.js'), 'adminPage');
const authorizePage = lazy(() => import('./pages/openid.js'), 'authorizePage');
const oauthLogoutPage = lazy(() => import('./pages/openid.js'), 'logoutPage');
const sharePage = lazy(() => import('./pages/share.js'), 'sharePage');

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
// Under the top bar while the signed-in user's address is not confirmed.
const banner = h('div', { id: 'verify-banner', class: 'banner', hidden: true });
topbar.after(banner);

// kind: 'public' (signed-out only), 'any', or default (signed-in only)
route('/login', { page: 'login', kind: 'public', render: loginPage });
route('/signup', { page: 'signup', kind: 'public', render: signupPage });
route('/invite', { page: 'invite', kind: 'any', render: invitePage });
route('/verify-email', { page: 'verify-email', kind: 'any', render: verifyEmailPage });
route('/forgot-password', { page: 'forgot-password', kind: 'public', render: forgotPasswordPage });
route('/reset-password', { page: 'reset-password', kind: 'any', render: resetPasswordPage });
route('/dev/mailbox', { page: 'dev-mailbox', kind: 'any', render: devMailboxPage });
// chatgate as an OpenID Provider: the consent page (it signs in first) and RP-initiated logout.
route('/oauth/authorize', { page: 'oauth-authorize', kind: 'any', render: authorizePage });
route('/oauth/logout', { page: 'oauth-logout', kind: 'any', render: oauthLogoutPage });
route('/', { redirect: '/chat' });
route('/chat', { page: 'chat', render: chatPage });
route('/chat/:id', { page: 'chat', render: chatPage });
route('/settings', { redirect: '/settings/profile' });
route('/settings/:section', { page: 'settings', render: settingsPage });
route('/orgs', { page: 'orgs', render: orgsPage });
route('/orgs/:org', { page: 'org', render: orgPage });
route('/orgs/:org/:section', { page: 'org', render: orgPage });
// The operator's console: the page says "not found" to anyone who is not a service admin.
route('/admin', { redirect: '/admin/users' });
route('/admin/:section', { page: 'admin', render: adminPage });
route('/admin/:section/:id', { page: 'admin', render: adminPage });
// A share link: read-only, signed in or not.
route('/s/:id', { page: 'share', kind: 'any', render: sharePage });

let current = null; // {page, controller, instance}
let first = true;
let booted = false;

function renderTopbar() {
  verifyBanner(banner);
  if (!auth.signedIn || !state.me) {
    topbar.hidden = true;
    replace(topbar);
    return;
  }
  const path = location.pathname;
  const link = (href, label, prefix) => h('a', {
    href, class: 'nav-link', 'aria-current': path.startsWith(prefix) ? 'page' : null,
  }, label);
  const signOut = h('button', {
    type: 'button',
    class: 'btn btn-ghost btn-small',
    onclick: async () => {
      signOut.disabled = true;
      await auth.logout();
    },
  }, 'Sign out');
  replace(topbar,
    h('a', { href: '/chat', class: 'brand', 'aria-label': 'chatgate home' },
      h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', { class: 'brand-name' }, 'chatgate')),
    h('nav', { class: 'nav', 'aria-label': 'Main' },
      link('/chat', 'Chat', '/chat'),
      link('/orgs', 'Organizations', '/orgs'),
      link('/settings', 'Settings', '/settings'),
      state.me.service_admin ? link('/admin', 'Admin', '/admin') : null),
    h('div', { class: 'topbar-user' },
      h('span', { class: 'user-name', title: state.me.email }, state.me.name || state.me.email),
      signOut));
  topbar.hidden = false;
}

function notFound() {
  document.title = 'Not found · chatgate';
  replace(main, h('div', { class: 'page narrow' },
    h('h1', { tabindex: '-1', class: 'page-title' }, 'Page not found'),
    h('p', null, 'There is nothing at this address. '),
    h('p', null, h('a', { href: '/chat', class: 'btn btn-primary' }, 'Go to your chats'))));
}

/**
 * Where a `next` parameter may lead: its path, query and hash when it resolves to this
 * origin, else the default page. Resolving is the only safe test: the URL parser drops tabs
 * and newlines and reads `\` as `/`, so `/\evil.example` and `/%09/evil.example` leave the
 * site although they start with a single slash.
 */
function sameOriginPath(next) {
  if (next) {
    try {
      const url = new URL(next, location.origin);
      if (url.origin === location.origin) return url.pathname + url.search + url.hash;
    } catch { /* not a URL: the default page */ }
  }
  return '/chat';
}

async function render() {
  const m = match(location.pathname);
  if (m && m.handler.redirect) {
    navigate(m.handler.redirect + location.search, { replace: true });
    return;
  }
  const def = m ? m.handler : null;
  const kind = def ? def.kind : 'any';
  const query = new URLSearchParams(location.search);

  if (def && kind !== 'public' && kind !== 'any' && !auth.signedIn) {
    const next = location.pathname + location.search;
    navigate(`/login${next && next !== '/chat' ? `?next=${encodeURIComponent(next)}` : ''}`, { replace: true });
    return;
  }
  if (def && kind === 'public' && auth.signedIn) {
    navigate(sameOriginPath(query.get('next')), { replace: true });
    return;
  }

  renderTopbar();

  // Same page, new params (e.g. /chat/a -> /chat/b): let the page update itself.
  if (current && def && current.page === def.page && current.instance && current.instance.update) {
    current.instance.update(m.params, query);
    afterRender();
    return;
  }

  if (current) {
    current.controller.abort();
    if (current.instance && current.instance.destroy) current.instance.destroy();
  }
  const controller = new AbortController();
  current = { page: def ? def.page : '404', controller, instance: null };
  main.className = `main main-${current.page}`;
  if (!def) {
    notFound();
  } else {
    replace(main);
    try {
      current.instance = await def.render({ main, params: m.params, query, signal: controller.signal }) || null;
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      console.error(e);
      replace(main, h('div', { class: 'page narrow' }, h('h1', { tabindex: '-1', class: 'page-title' }, 'Something went wrong'), loadError(e, () => render())));
    }
  }
  afterRender();
}

function afterRender() {
  // Move focus to the new page's heading (not on first load, and not when
  // the page already put focus somewhere inside main).
  if (!first && !main.contains(document.activeElement)) {
    const h1 = main.querySelector('h1');
    if (h1) h1.focus({ preventScroll: false });
    else main.focus();
  }
  first = false;
}

// The account changed (loaded again, its address confirmed): the bar and banner follow.
window.addEventListener('chatgate:me', () => { if (booted) renderTopbar(); });

auth.on(async (type) => {
  if (!booted) return;
  if (type === 'logout' || type === 'expired') {
    state.me = null;
    forgetModels();
    if (current) {
      current.controller.abort();
      if (current.instance && current.instance.destroy) current.instance.destroy();
      current = null;
    }
    const m = match(location.pathname);
    if (m && m.handler.kind) { render(); return; } // a public page: stay
    const here = location.pathname + location.search;
    navigate(type === 'expired' ? `/login?reason=expired&next=${encodeURIComponent(here)}` : '/login', { replace: true });
  } else if (type === 'login' || type === 'switch') {
    try {
      await loadMe();
      forgetModels();
      if (type === 'switch' && current) { current.controller.abort(); current = null; }
      render();
    } catch (e) {
      toast(e.detail || 'Could not load your account.', 'error');
    }
  }
});

async function boot() {
  startRouter(render);
  const ok = await auth.init();
  if (ok) {
    try {
      await loadMe();
    } catch (e) {
      if (e.status !== 401) {
        booted = true;
        replace(main, h('div', { class: 'page narrow' }, h('h1', { class: 'page-title' }, 'chatgate'), loadError(e, () => location.reload())));
        return;
      }
    }
  }
  booted = true;
  render();
}

// Loaded at /embed (inside another site's iframe): the embedded chat, with a
// session handed over by the embedding page (embed.js). Otherwise the app.
if (auth.embedded) startEmbed({ main, chatPage });
else boot();
