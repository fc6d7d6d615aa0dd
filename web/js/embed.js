// Embed mode: the chat inside an iframe on another site (/embed and
// /embed/chat/<conversation id>). A compact, chat-only layout: no top bar,
// no settings, the conversation list in a collapsible drawer.
//
// The session comes from the embedding page, never from a URL or a cookie:
//
//   iframe -> parent  {type: "chatgate:waiting"}            once, at start-up (targetOrigin "*": it carries nothing)
//   parent -> iframe  {type: "chatgate:session", access_token, refresh_token, org_id?}
//                     (targetOrigin: chatgate's origin; the tokens come from POST /api/embed/exchange)
//   iframe -> parent  {type: "chatgate:ready"}              the chat is shown (targetOrigin: the sender's origin)
//   iframe -> parent  {type: "chatgate:signed-out", reason?} the user signed out, or ("expired") the session ended
//
// A session message is accepted only from the parent window (event.source ===
// window.parent, and the page is framed at all) with string tokens. Which
// sites may frame chatgate at all is the server's CSP `frame-ancestors`
// (FRAME_ANCESTORS). The tokens stay in memory (auth.js, embed mode): the
// refresh token is presented in the body and its rotated successor kept.
import { h, replace } from './dom.js';
import { auth } from './auth.js';
import { route, match, navigate, startRouter, setReplaceOnly } from './router.js';
import { state, loadMe, forgetModels, orgs } from './state.js';
import { loadError, spinner } from './ui.js';

const MAX_TOKEN = 4096;
const isToken = (t) => typeof t === 'string' && t.length > 0 && t.length <= MAX_TOKEN;

export function startEmbed({ main, chatPage }) {
  document.documentElement.classList.add('embed');
  setReplaceOnly(true);
  route('/embed', { page: 'chat', embed: true });
  route('/embed/chat/:id', { page: 'chat', embed: true });

  const framed = window.parent !== window;
  let parentOrigin = null; // the origin of the page that handed over the session
  let handed = null; // the last refresh token handed over (a repeated message is not a new session)
  let orgId = null; // the organization the embedding page named, if any
  let current = null; // {controller, instance} of the chat page
  let seq = 0; // guards against out-of-order session loads
  let note = null; // shown under "Waiting for the embedding page…"

  function tell(type, extra = {}) {
    if (framed && parentOrigin) window.parent.postMessage({ type, ...extra }, parentOrigin);
  }

  function teardown() {
    if (!current) return;
    current.controller.abort();
    if (current.instance && current.instance.destroy) current.instance.destroy();
    current = null;
  }

  function screen(...body) {
    teardown();
    main.className = 'main main-embed-wait';
    replace(main, h('div', { class: 'embed-wait' },
      h('span', { class: 'brand-mark embed-mark', 'aria-hidden': 'true' }),
      h('h1', { class: 'sr-only' }, 'chatgate'),
      ...body));
  }

  function showWaiting() {
    document.title = 'chatgate';
    if (!framed) {
      screen(
        h('p', { class: 'embed-wait-title' }, 'This is chatgate’s embedded chat.'),
        h('p', { class: 'muted' }, 'It is meant to be shown inside another site.'),
        h('a', { href: '/chat', target: '_top', class: 'btn btn-primary' }, 'Open chatgate'));
      return;
    }
    screen(
      h('p', { class: 'embed-wait-title' }, spinner('Waiting for the embedding page…')),
      note ? h('p', { class: 'muted small' }, note) : null);
  }

  function signOutButton() {
    const b = h('button', {
      type: 'button',
      class: 'btn btn-ghost btn-small embed-signout',
      title: state.me ? `Signed in as ${state.me.email}` : null,
      onclick: async () => {
        b.disabled = true;
        await auth.logout();
      },
    }, 'Sign out');
    return b;
  }

  async function render() {
    const m = match(location.pathname);
    if (!m || !m.handler.embed) {
      navigate('/embed', { replace: true }); // never leave the embed pages
      return;
    }
    if (!auth.signedIn || !state.me) {
      showWaiting();
      return;
    }
    if (current && current.instance && current.instance.update) {
      current.instance.update(m.params);
      return;
    }
    teardown();
    const mine = { controller: new AbortController(), instance: null };
    current = mine;
    main.className = 'main main-chat';
    replace(main);
    try {
      const instance = await chatPage({
        main, params: m.params, query: new URLSearchParams(location.search), signal: mine.controller.signal,
        embed: { orgId, headEnd: signOutButton() },
      });
      if (current !== mine) { if (instance && instance.destroy) instance.destroy(); return; }
      mine.instance = instance || null;
    } catch (e) {
      if (current !== mine || (e && e.name === 'AbortError')) return;
      console.error(e);
      replace(main, h('div', { class: 'embed-wait' }, h('h1', { class: 'page-title' }, 'Something went wrong'), loadError(e, () => { teardown(); render(); })));
    }
  }

  async function openSession() {
    const mine = ++seq;
    screen(h('p', { class: 'embed-wait-title' }, spinner('Opening the chat…')));
    try {
      await loadMe();
    } catch (e) {
      if (mine !== seq || !auth.signedIn) return; // replaced, or ended (the auth listener has told the parent)
      screen(h('p', { class: 'embed-wait-title' }, 'Could not open the chat'), loadError(e, () => openSession()));
      return;
    }
    if (mine !== seq) return;
    if (orgId && !orgs().some((o) => o.id === orgId)) orgId = null;
    await render();
    if (mine === seq && auth.signedIn) tell('chatgate:ready');
  }

  window.addEventListener('message', (event) => {
    if (!framed || event.source !== window.parent) return;
    const d = event.data;
    if (!d || typeof d !== 'object' || d.type !== 'chatgate:session') return;
    if (!isToken(d.access_token) || !isToken(d.refresh_token)) return;
    if (typeof event.origin !== 'string' || !/^https?:\/\//.test(event.origin)) return;
    if (d.refresh_token === handed) {
      // The same session again (say, posted on load and on "waiting"): just answer.
      if (auth.signedIn && state.me) tell('chatgate:ready');
      return;
    }
    handed = d.refresh_token;
    parentOrigin = event.origin;
    orgId = typeof d.org_id === 'string' && d.org_id ? d.org_id : null;
    note = null;
    teardown();
    state.me = null;
    forgetModels();
    auth.adoptEmbedded({ access_token: d.access_token, refresh_token: d.refresh_token });
    openSession();
  });

  auth.on((type) => {
    if (type !== 'logout' && type !== 'expired') return;
    seq += 1;
    state.me = null;
    forgetModels();
    note = type === 'expired' ? 'The session has ended.' : 'You signed out.';
    showWaiting();
    tell('chatgate:signed-out', type === 'expired' ? { reason: 'expired' } : {});
  });

  startRouter(render);
  render();
  // The listener is in place: an embedding page may hand over a session now
  // (this is also sent again after the iframe reloads, which loses the session).
  if (framed) window.parent.postMessage({ type: 'chatgate:waiting' }, '*');
}
