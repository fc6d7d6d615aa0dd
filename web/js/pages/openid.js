// chatgate as an OpenID Provider, in the web client: the authorization (consent) page at
// /oauth/authorize, the RP-initiated logout page at /oauth/logout, an organization's OAuth
// clients (its "OAuth apps" section) and the account's connected apps (settings).
import { h, replace, timeEl } from '../dom.js';
import { api, enc, errorFromResponse } from '../api.js';
import { auth } from '../auth.js';
import { navigate } from '../router.js';
import {
  alertBox, announce, badge, busy, confirmDialog, copyButton, field, loadError, pageTitle, section, spinner, table, toast,
} from '../ui.js';

const SCOPES = {
  openid: 'Know who you are (your chatgate account id)',
  profile: 'Your name',
  email: 'Your email address',
  org: 'Your organization: its name, your role, its enabled models, token limit and features',
  offline_access: 'Keep access while you are away (until you disconnect it)',
};
const ASK = ['client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'nonce',
  'code_challenge', 'code_challenge_method', 'prompt', 'max_age'];
// Set before signing in again for `prompt=login`: the sign-in that follows is the fresh one.
const FRESH = 'chatgate:oauth-fresh-login';

function request(query) {
  const body = {};
  for (const k of ASK) if (query.has(k)) body[k] = query.get(k);
  return body;
}

function here() {
  return location.pathname + location.search;
}

function signInAgain() {
  navigate(`/login?next=${encodeURIComponent(here())}`, { replace: true });
}

/** The page at /oauth/authorize: signs the user in, asks their consent, returns to the app. */
export async function authorizePage({ main, query }) {
  document.title = 'Sign in to an app · chatgate';
  const box = h('div', { class: 'page narrow' }, pageTitle('Sign in with chatgate'), spinner('Checking the request…'));
  replace(main, box);
  const body = request(query);
  const prompt = (body.prompt || '').split(' ');
  const show = (...nodes) => replace(box, pageTitle('Sign in with chatgate'), ...nodes);
  const leave = (to) => {
    show(spinner('Returning to the app…'));
    location.assign(to);
  };
  const failed = (e) => show(h('div', { class: 'alert alert-error', role: 'alert' },
    e.status === 403 ? 'You cannot sign in to this app. ' : e.status === 400 ? 'This sign-in request is not valid. ' : '',
    e.detail || 'Something went wrong.'),
  h('p', null, h('a', { href: '/chat' }, 'Go to your chats')));

  if (!auth.signedIn) {
    if (!prompt.includes('none')) { signInAgain(); return; }
    // Signed out and the app asked not to show anything: straight back with login_required.
    const res = await fetch('/api/oauth/authorize', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    if (!res.ok) { failed(await errorFromResponse(res)); return; }
    leave((await res.json()).redirect_to);
    return;
  }
  if (prompt.includes('login') && sessionStorage.getItem(FRESH) !== here()) {
    sessionStorage.setItem(FRESH, here());
    await auth.logout();
    signInAgain();
    return;
  }
  sessionStorage.removeItem(FRESH);

  let answer;
  try {
    answer = await api.post('/api/oauth/authorize', body);
  } catch (e) {
    if (e.status === 401) return; // the session ended: the app signs in again and comes back
    failed(e);
    return;
  }
  if (answer.redirect_to) { leave(answer.redirect_to); return; }
  if (answer.login_required) {
    sessionStorage.setItem(FRESH, here());
    await auth.logout();
    signInAgain();
    return;
  }
  const { consent } = answer;
  const alert = alertBox();
  const decide = (decision, button) => busy(button, async () => {
    const res = await api.post('/api/oauth/authorize', { ...body, decision });
    leave(res.redirect_to);
  }, alert);
  const allow = h('button', { type: 'button', class: 'btn btn-primary', id: 'oauth-allow' }, 'Allow');
  const deny = h('button', { type: 'button', class: 'btn', id: 'oauth-deny' }, 'Deny');
  allow.addEventListener('click', () => decide('allow', allow));
  deny.addEventListener('click', () => decide('deny', deny));
  show(
    h('section', { class: 'card', 'aria-labelledby': 'consent-title' },
      h('h2', { id: 'consent-title', class: 'card-title' }, `${consent.client.name} wants to sign you in`),
      consent.org ? h('p', null, 'An app of the organization ', h('strong', null, consent.org.name), '.') : null,
      h('p', null, 'It will be able to see:'),
      h('ul', { class: 'scope-list' }, consent.scopes.map((s) => h('li', null, SCOPES[s] || s))),
      alert.el,
      h('div', { class: 'actions' }, allow, deny),
      h('p', { class: 'muted small' }, 'You can disconnect it at any time in Settings, Connected apps.')));
  allow.focus();
}

/** The page at /oauth/logout (the end_session_endpoint): signs out and returns to the app. */
let leaving = false;
export async function logoutPage({ main, query }) {
  document.title = 'Signing out · chatgate';
  const box = h('div', { class: 'page narrow' }, pageTitle('Signing out'), spinner('Signing you out…'));
  replace(main, box);
  if (leaving) return;
  const body = {};
  for (const k of ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state']) if (query.has(k)) body[k] = query.get(k);
  const res = await fetch('/api/oauth/logout', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const answer = res.ok ? await res.json() : null;
  const error = res.ok ? null : await errorFromResponse(res);
  leaving = true;
  if (auth.signedIn) await auth.logout();
  if (answer && answer.redirect_to) { location.assign(answer.redirect_to); return; }
  leaving = false;
  replace(main, h('div', { class: 'page narrow' }, pageTitle('You are signed out'),
    error ? h('div', { class: 'alert alert-error', role: 'alert' }, 'The app asked to return somewhere it did not register: ', error.detail) : null,
    answer && answer.client_name ? h('p', null, `You have signed out of chatgate (from ${answer.client_name}).`) : h('p', null, 'You have signed out of chatgate.'),
    h('p', null, h('a', { href: '/login', class: 'btn btn-primary' }, 'Sign in again'))));
}

const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

/** An organization's OAuth clients (admins): register (the secret shown once), list, delete. */
export function oauthClients(root, { org, signal }) {
  const alert = alertBox();
  const name = field({ label: 'App name', required: true, maxlength: 100 });
  const redirects = field({ label: 'Redirect URIs', type: 'textarea', rows: 2, required: true, hint: 'One per line, matched exactly: https, or http for localhost. LibreChat: https://chat.example.com/oauth/openid/callback' });
  const logouts = field({ label: 'Post-logout redirect URIs (optional)', type: 'textarea', rows: 2, hint: 'Where RP-initiated logout may return, one per line.' });
  const kind = field({ label: 'Type', type: 'select', options: [['confidential', 'Confidential (a server: has a secret)'], ['public', 'Public (no secret: PKCE)']] });
  const scopeBoxes = Object.keys(SCOPES).map((s) => {
    const id = `oauth-scope-${s}`;
    const input = h('input', { type: 'checkbox', id, value: s, disabled: s === 'openid' });
    // The default, which the form's reset comes back to.
    input.defaultChecked = ['openid', 'profile', 'email'].includes(s);
    input.checked = input.defaultChecked;
    return { s, input, el: h('div', { class: 'check' }, input, h('label', { for: id }, h('code', null, s), ` — ${SCOPES[s]}`)) };
  });
  const anyUser = h('input', { type: 'checkbox', id: 'oauth-any-user' });
  const create = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Register app');
  const created = h('div', { class: 'reveal-box', hidden: true, tabindex: '-1' });
  const form = h('form', { class: 'form' }, alert.el, name.wrap, redirects.wrap, logouts.wrap, kind.wrap,
    h('fieldset', { class: 'fieldset' }, h('legend', null, 'Scopes it may ask for'), scopeBoxes.map((b) => b.el)),
    h('div', { class: 'check' }, anyUser, h('label', { for: 'oauth-any-user' }, 'Any chatgate user may sign in (not only members)')),
    h('div', { class: 'actions' }, create));
  const listBox = h('div', null, spinner('Loading apps…'));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    name.setError(null);
    redirects.setError(null);
    if (!name.input.value.trim()) { name.setError('Enter a name.'); name.input.focus(); return; }
    if (!lines(redirects.input.value).length) { redirects.setError('Enter at least one redirect URI.'); redirects.input.focus(); return; }
    busy(create, async () => {
      const c = await api.post(`/api/orgs/${enc(org.id)}/oauth-clients`, {
        name: name.input.value.trim(),
        redirect_uris: lines(redirects.input.value),
        post_logout_redirect_uris: lines(logouts.input.value),
        type: kind.input.value,
        scopes: scopeBoxes.filter((b) => b.input.checked).map((b) => b.s),
        any_user: anyUser.checked,
      });
      form.reset();
      const issuer = location.origin;
      replace(created,
        h('h3', { class: 'reveal-title' }, `${c.name} is registered`),
        h('p', null, 'Client ID: ', h('code', { id: 'oauth-client-id' }, c.client_id), ' ', copyButton(c.client_id, 'Copy ID')),
        c.client_secret ? [
          h('p', null, 'Client secret: ', h('strong', null, 'shown only once'), '. Copy it into the app now.'),
          h('div', { class: 'secret-row' }, h('code', { class: 'secret', id: 'oauth-client-secret' }, c.client_secret), copyButton(c.client_secret, 'Copy secret')),
        ] : h('p', null, 'A public client has no secret: it must use PKCE (S256).'),
        h('p', { class: 'muted small' }, 'Issuer: ', h('code', null, issuer), ' (discovery at ', h('code', null, `${issuer}/.well-known/openid-configuration`), ')'));
      created.hidden = false;
      created.focus();
      announce('App registered. Copy its secret now.');
      load();
    }, alert);
  });

  async function load() {
    let res;
    try {
      res = await api.get(`/api/orgs/${enc(org.id)}/oauth-clients`, { signal });
    } catch (e) {
      if (e.name !== 'AbortError') replace(listBox, loadError(e, load));
      return;
    }
    replace(listBox, table([
      { label: 'App', cell: (c) => h('span', null, c.name, c.any_user ? [' ', badge('any user', 'info')] : null) },
      { label: 'Client ID', cell: (c) => h('code', null, c.client_id) },
      { label: 'Type', cell: (c) => badge(c.type) },
      { label: 'Redirect URIs', cell: (c) => h('span', { class: 'small' }, c.redirect_uris.join(' ')) },
      { label: 'Scopes', cell: (c) => c.scopes.join(' ') },
      {
        label: 'Actions',
        class: 'cell-actions',
        cell: (c) => {
          const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Delete ${c.name}` }, 'Delete');
          b.addEventListener('click', async () => {
            if (!(await confirmDialog('Delete app?', `${c.name} can no longer sign anyone in, and every token it holds stops working.`, 'Delete'))) return;
            busy(b, async () => {
              await api.del(`/api/orgs/${enc(org.id)}/oauth-clients/${enc(c.client_id)}`);
              toast('App deleted');
              await load();
            }).catch((e) => toast(e.detail, 'error'));
          });
          return b;
        },
      },
    ], res.items, { caption: 'OAuth apps', empty: 'No apps yet.' }));
  }
  load();
  root.append(
    section('Register an app', h('p', { class: 'muted' }, 'Apps that support "Log in with OpenID" (LibreChat, Grafana, Open WebUI…) can sign this organization\'s members in with their chatgate accounts.'), form, created),
    section('Apps', listBox));
}

/** The account's connected apps (settings): what each may see, and disconnecting it. */
export function connectedApps(root, signal) {
  const box = h('div', null, spinner('Loading connected apps…'));
  async function load() {
    let res;
    try {
      res = await api.get('/api/me/oauth-grants', { signal });
    } catch (e) {
      if (e.name !== 'AbortError') replace(box, loadError(e, load));
      return;
    }
    replace(box, table([
      { label: 'App', cell: (g) => g.client_name },
      { label: 'Organization', cell: (g) => g.org_name },
      { label: 'May see', cell: (g) => g.scopes.join(', ') },
      { label: 'Allowed', cell: (g) => timeEl(g.updated_at) },
      {
        label: 'Actions',
        class: 'cell-actions',
        cell: (g) => {
          const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Disconnect ${g.client_name}` }, 'Disconnect');
          b.addEventListener('click', async () => {
            if (!(await confirmDialog('Disconnect app?', `${g.client_name} is signed out and must ask you again.`, 'Disconnect'))) return;
            busy(b, async () => {
              await api.del(`/api/me/oauth-grants/${enc(g.client_id)}`);
              toast('App disconnected');
              await load();
            }).catch((e) => toast(e.detail, 'error'));
          });
          return b;
        },
      },
    ], res.items, { caption: 'Connected apps', empty: 'No apps are connected to your account.' }));
  }
  load();
  root.append(section('Connected apps', h('p', { class: 'muted' }, 'Apps you signed in to with chatgate.'), box));
}
