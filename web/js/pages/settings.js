// Settings: profile, password and sessions, API keys, provider keys, account deletion.
import { h, replace, timeEl, fmtDate } from '../dom.js';
import { api, listAll, enc } from '../api.js';
import { auth } from '../auth.js';
import { navigate } from '../router.js';
import { state, loadMe, orgs, isAdmin, forgetModels } from '../state.js';
import {
  alertBox, announce, badge, busy, confirmDialog, copyButton, field, loadError, pageTitle, passwordField, section, spinner, table, toast,
} from '../ui.js';
import { resendVerification } from './mail.js';
import { signInMethods } from './oauth.js';

const SECTIONS = [
  ['profile', 'Profile'],
  ['security', 'Security'],
  ['sign-in', 'Sign-in methods'],
  ['api-keys', 'API keys'],
  ['provider-keys', 'Provider keys'],
  ['account', 'Delete account'],
];

const PROVIDERS = [['openai', 'OpenAI'], ['anthropic', 'Anthropic'], ['gemini', 'Google Gemini']];

export function settingsPage({ main, params, signal }) {
  const content = h('div', { class: 'subpage' });
  const nav = h('nav', { class: 'subnav', 'aria-label': 'Settings sections' });
  replace(main, h('div', { class: 'page' }, pageTitle('Settings'), h('div', { class: 'with-subnav' }, nav, content)));

  let ctrl = null;
  function show(sectionName) {
    const sec = SECTIONS.find(([k]) => k === sectionName) ? sectionName : 'profile';
    replace(nav, SECTIONS.map(([k, label]) => h('a', { href: `/settings/${k}`, class: 'subnav-link', 'aria-current': k === sec ? 'page' : null }, label)));
    document.title = `${SECTIONS.find(([k]) => k === sec)[1]} · Settings · chatgate`;
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    signal.addEventListener('abort', () => ctrl.abort());
    const render = {
      profile, security, 'sign-in': signInMethods, 'api-keys': apiKeys, 'provider-keys': providerKeys, account,
    }[sec];
    replace(content);
    render(content, ctrl.signal);
  }
  show(params.section);
  return {
    update(p) {
      show(p.section);
      const h1 = main.querySelector('h1');
      if (h1) h1.focus();
    },
  };
}

// ---------- profile ----------
function profile(root) {
  const me = state.me;
  const alert = alertBox();
  const name = field({ label: 'Name', value: me.name || '', required: true, autocomplete: 'name', maxlength: 100 });
  const email = field({ label: 'Email', value: me.email, readonly: true, hint: 'Your email address is your sign-in name.' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save');
  const form = h('form', { class: 'form' }, alert.el, name.wrap, email.wrap, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    name.setError(null);
    if (!name.input.value.trim()) { name.setError('Enter your name.'); name.input.focus(); return; }
    busy(save, async () => {
      await api.patch('/api/me', { name: name.input.value.trim() });
      await loadMe();
      const userName = document.querySelector('.user-name');
      if (userName) userName.textContent = state.me.name || state.me.email;
      toast('Profile saved');
    }, alert);
  });
  const orgRows = orgs();
  root.append(
    section('Profile', form, emailStatus(me)),
    changeEmail(me),
    section('Your organizations',
      table([
        { label: 'Organization', cell: (o) => h('a', { href: `/orgs/${enc(o.id)}` }, o.name) },
        { label: 'Role', cell: (o) => badge(o.role) },
      ], orgRows, { caption: 'Your organizations', empty: 'You are not in any organization.' }),
      h('p', { class: 'muted small' }, `Member since ${fmtDate(me.created_at)}.`)),
  );
}

function emailStatus(me) {
  if (me.email_verified) return h('p', { class: 'muted small' }, badge('Confirmed', 'success'), ' Your email address is confirmed.');
  const alert = alertBox();
  const resend = h('button', { type: 'button', class: 'btn btn-small' }, 'Email me a new link');
  resend.addEventListener('click', () => resendVerification(resend, alert));
  return h('div', { class: 'stack' },
    h('p', { class: 'muted small' }, badge('Not confirmed', 'warn'), ' Open the link we sent to your address to confirm it. ', resend),
    alert.el);
}

function changeEmail(me) {
  const alert = alertBox();
  const email = field({
    label: 'New email address', type: 'email', required: true, autocomplete: 'email', spellcheck: 'false', autocapitalize: 'none',
    hint: 'We send a link to the new address; your address changes when you open it. Your current address is told.',
  });
  const password = passwordField({ label: 'Your password', required: true, autocomplete: 'current-password' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Send the link');
  const form = h('form', { class: 'form', novalidate: true }, alert.el, email.wrap, password.wrap, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    [email, password].forEach((f) => f.setError(null));
    const value = email.input.value.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(value)) { email.setError('Enter the new email address.'); email.input.focus(); return; }
    if (!password.input.value) { password.setError('Enter your password to confirm.'); password.input.focus(); return; }
    busy(save, async () => {
      try {
        await api.post('/api/me/email', { email: value, password: password.input.value });
      } catch (err) {
        if (err.code === 'invalid_credentials') { password.setError('That is not your password.'); password.input.focus(); return; }
        if (err.status === 400 || err.status === 409) { email.setError(err.detail); email.input.focus(); return; }
        throw err;
      }
      password.input.value = '';
      alert.show(`A link is on its way to ${value}. ${me.email} stays your address until you open it.`, 'success');
    }, alert);
  });
  return section('Change email address', form);
}

// ---------- password + sessions ----------
function security(root, signal) {
  const alert = alertBox();
  const current = passwordField({ label: 'Current password', required: true, autocomplete: 'current-password' });
  const next = passwordField({ label: 'New password', required: true, autocomplete: 'new-password', minlength: 8, hint: 'At least 8 characters. Common passwords are refused.' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password');
  const form = h('form', { class: 'form' }, alert.el, current.wrap, next.wrap, h('div', { class: 'actions' }, save));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    current.setError(null);
    next.setError(null);
    if (!current.input.value) { current.setError('Enter your current password.'); current.input.focus(); return; }
    if (next.input.value.length < 8) { next.setError('Use at least 8 characters.'); next.input.focus(); return; }
    busy(save, async () => {
      try {
        await api.post('/api/me/password', { current_password: current.input.value, new_password: next.input.value });
      } catch (err) {
        if (err.status === 400 && /password/i.test(err.detail)) { next.setError(err.detail); next.input.focus(); return; }
        if (err.code === 'invalid_credentials') { current.setError('That is not your current password.'); current.input.focus(); return; }
        throw err;
      }
      form.reset();
      alert.show('Password changed. Your other sessions were signed out.', 'success');
      loadSessions();
    }, alert);
  });

  const sessionsBox = h('div', null, spinner('Loading sessions…'));
  const everywhere = h('button', { type: 'button', class: 'btn btn-danger' }, 'Sign out everywhere');
  everywhere.addEventListener('click', async () => {
    const ok = await confirmDialog('Sign out everywhere?', 'Every session of your account, including this one, will be signed out.', 'Sign out everywhere');
    if (ok) await busy(everywhere, () => auth.logout({ everywhere: true }));
  });

  async function loadSessions() {
    replace(sessionsBox, spinner('Loading sessions…'));
    try {
      const rows = await listAll('/api/sessions', { signal });
      rows.sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0) || String(b.last_used_at || b.created_at).localeCompare(String(a.last_used_at || a.created_at)));
      replace(sessionsBox, table([
        {
          label: 'Device',
          cell: (s) => h('span', { class: 'session-device' }, describeAgent(s.user_agent), s.current ? [' ', badge('This device', 'info')] : null),
        },
        { label: 'IP address', cell: (s) => s.ip || '—' },
        { label: 'Signed in', cell: (s) => timeEl(s.created_at) },
        { label: 'Last active', cell: (s) => timeEl(s.last_used_at, true) },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (s) => {
            if (s.current) return h('span', { class: 'muted small' }, 'Current');
            const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Revoke session ${describeAgent(s.user_agent)} from ${s.ip || 'unknown address'}` }, 'Revoke');
            b.addEventListener('click', () => busy(b, async () => {
              await api.del(`/api/sessions/${enc(s.id)}`);
              announce('Session revoked');
              toast('Session revoked');
              await loadSessions();
            }).catch((e) => toast(e.detail, 'error')));
            return b;
          },
        },
      ], rows, { caption: 'Active sessions', empty: 'No active sessions.' }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(sessionsBox, loadError(e, loadSessions));
    }
  }
  loadSessions();

  root.append(
    section('Change password', form),
    section('Active sessions',
      h('p', { class: 'muted' }, 'Places where your account is signed in. Revoke any you do not recognise.'),
      sessionsBox,
      h('div', { class: 'actions' }, everywhere)),
  );
}

function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Firefox\//.test(ua) ? 'Firefox'
    : /Chrome\//.test(ua) || /HeadlessChrome/.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari'
      : /curl|python|node|undici|okhttp|Go-http|reqwest/i.test(ua) ? ua.split(/[\s/]/)[0] : null;
  const os = /Windows/.test(ua) ? 'Windows' : /Android/.test(ua) ? 'Android' : /iPhone|iPad|iOS/.test(ua) ? 'iOS'
    : /Mac OS X|Macintosh/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || (ua.length > 40 ? `${ua.slice(0, 40)}…` : ua);
}

// ---------- API keys ----------
function apiKeys(root, signal) {
  const alert = alertBox();
  const name = field({ label: 'Name', required: true, maxlength: 100, placeholder: 'e.g. laptop script', hint: 'To recognise the key later.' });
  const orgOptions = orgs().map((o) => [o.id, o.name]);
  const org = field({ label: 'Organization', type: 'select', options: orgOptions, hint: 'The key acts as you inside this organization.' });
  const expires = field({ label: 'Expires', type: 'date', optional: true, min: new Date(Date.now() + 86400e3).toISOString().slice(0, 10) });
  const scopeChat = h('input', { type: 'checkbox', id: 'scope-chat' });
  scopeChat.defaultChecked = true; // also what form.reset() returns to
  const scopeConv = h('input', { type: 'checkbox', id: 'scope-conversations' });
  const scopes = h('fieldset', { class: 'fieldset scopes' }, h('legend', null, 'Allowed to use'),
    h('div', { class: 'check' }, scopeChat, h('label', { for: 'scope-chat' }, 'Chat completions (the OpenAI-compatible /v1 API)')),
    h('div', { class: 'check' }, scopeConv, h('label', { for: 'scope-conversations' }, 'Conversations (/api/conversations)')));
  const create = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create key');
  const reveal = h('div', { class: 'reveal-box', hidden: true, tabindex: '-1' });
  const form = h('form', { class: 'form form-grid' }, alert.el, name.wrap, org.wrap, expires.wrap, scopes, h('div', { class: 'actions' }, create));
  const listBox = h('div', null, spinner('Loading keys…'));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    name.setError(null);
    if (!name.input.value.trim()) { name.setError('Give the key a name.'); name.input.focus(); return; }
    const wanted = [scopeChat.checked && 'chat', scopeConv.checked && 'conversations'].filter(Boolean);
    if (!wanted.length) { alert.show('Choose at least one thing the key may use.'); scopeChat.focus(); return; }
    busy(create, async () => {
      const body = { name: name.input.value.trim(), org_id: org.input.value, scopes: wanted };
      if (expires.input.value) body.expires_at = new Date(`${expires.input.value}T23:59:59Z`).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const key = await api.post('/api/keys', body);
      form.reset();
      showKey(key);
      loadKeys();
    }, alert);
  });

  function showKey(key) {
    const code = h('code', { class: 'secret', id: 'new-key-value' }, key.key);
    replace(reveal,
      h('h3', { class: 'reveal-title' }, `Your new key “${key.name}”`),
      h('p', null, h('strong', null, 'Copy it now.'), ' For your security it is shown only this once.'),
      h('div', { class: 'secret-row' }, code, copyButton(key.key, 'Copy key')),
      h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => { reveal.hidden = true; replace(reveal); } }, 'Done, I have saved it'));
    reveal.hidden = false;
    reveal.focus();
    announce('API key created. It is shown once; copy it now.');
  }

  async function loadKeys() {
    try {
      const rows = await listAll('/api/keys', { signal });
      const orgName = (id) => (orgs().find((o) => o.id === id) || {}).name || id || '—';
      replace(listBox, table([
        { label: 'Name', cell: (k) => k.name },
        { label: 'Key', cell: (k) => h('code', null, `${k.prefix || ''}…`) },
        orgs().length > 1 ? { label: 'Organization', cell: (k) => orgName(k.org_id) } : null,
        { label: 'Scopes', cell: (k) => (Array.isArray(k.scopes) ? k.scopes.join(', ') : '—') },
        { label: 'Created', cell: (k) => timeEl(k.created_at) },
        { label: 'Last used', cell: (k) => timeEl(k.last_used_at, true) },
        { label: 'Expires', cell: (k) => (k.expires_at ? timeEl(k.expires_at) : 'never') },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (k) => {
            const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Delete key ${k.name}` }, 'Delete');
            b.addEventListener('click', async () => {
              const ok = await confirmDialog('Delete API key?', `“${k.name}” stops working at once. Programs using it will be refused.`);
              if (!ok) return;
              busy(b, async () => {
                await api.del(`/api/keys/${enc(k.id)}`);
                toast('Key deleted');
                await loadKeys();
              }).catch((err) => toast(err.detail, 'error'));
            });
            return b;
          },
        },
      ], rows, { caption: 'Your API keys', empty: 'You have no API keys yet.' }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(listBox, loadError(e, loadKeys));
    }
  }
  loadKeys();

  root.append(
    section('Create an API key',
      h('p', { class: 'muted' }, 'API keys let programs use chatgate (including the OpenAI-compatible /v1 API) as you.'),
      form, reveal),
    section('Your API keys', listBox),
  );
}

// ---------- provider keys ----------
function providerKeys(root, signal) {
  const alert = alertBox();
  const provider = field({ label: 'Provider', type: 'select', options: PROVIDERS });
  const key = passwordField({ label: 'API key', required: true, autocomplete: 'off', spellcheck: 'false', hint: 'Stored encrypted. It is never shown again, only a masked form.' });
  const adminOrgs = orgs().filter((o) => isAdmin(o.role));
  const scope = field({
    label: 'Used for', type: 'select',
    options: [['', 'Only my own chats'], ...adminOrgs.map((o) => [o.id, `Everyone in ${o.name}`])],
  });
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save key');
  const form = h('form', { class: 'form form-grid' }, alert.el, provider.wrap, key.wrap, adminOrgs.length ? scope.wrap : null, h('div', { class: 'actions' }, save));
  const listBox = h('div', null, spinner('Loading provider keys…'));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    key.setError(null);
    if (!key.input.value.trim()) { key.setError('Paste the provider API key.'); key.input.focus(); return; }
    busy(save, async () => {
      const body = { api_key: key.input.value.trim() };
      if (adminOrgs.length && scope.input.value) body.org_id = scope.input.value;
      await api.put(`/api/provider-keys/${enc(provider.input.value)}`, body);
      key.input.value = '';
      forgetModels(); // the model list depends on the keys available
      toast('Provider key saved');
      await loadKeys();
    }, alert);
  });

  async function loadKeys() {
    try {
      const rows = await listAll('/api/provider-keys', { signal });
      const providerName = (p) => (PROVIDERS.find(([k]) => k === p) || [p, p])[1];
      const orgName = (id) => (orgs().find((o) => o.id === id) || {}).name || id;
      replace(listBox, table([
        { label: 'Provider', cell: (k) => providerName(k.provider) },
        { label: 'Key', cell: (k) => h('code', null, k.masked || '••••') },
        { label: 'Used for', cell: (k) => (k.org_id ? `Everyone in ${orgName(k.org_id)}` : 'My own chats') },
        { label: 'Updated', cell: (k) => timeEl(k.updated_at) },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (k) => {
            const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Remove ${providerName(k.provider)} key` }, 'Remove');
            b.addEventListener('click', async () => {
              const ok = await confirmDialog('Remove provider key?', `Chats with ${providerName(k.provider)} models will fall back to the organization's or the service's key, if any.`, 'Remove');
              if (!ok) return;
              busy(b, async () => {
                await api.del(`/api/provider-keys/${enc(k.provider)}`, { query: { org_id: k.org_id || undefined } });
                forgetModels();
                toast('Provider key removed');
                await loadKeys();
              }).catch((err) => toast(err.detail, 'error'));
            });
            return b;
          },
        },
      ], rows, { caption: 'Provider keys', empty: 'No provider keys. Chats use the organization’s or the service’s keys.' }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(listBox, loadError(e, loadKeys));
    }
  }
  loadKeys();

  root.append(
    section('Bring your own provider key',
      h('p', { class: 'muted' }, 'A chat uses your own key first, then your organization’s, then the service’s.'),
      form),
    section('Saved provider keys', listBox),
  );
}

// ---------- delete account ----------
function account(root, signal) {
  const alert = alertBox();
  const password = passwordField({ label: 'Your password', required: true, autocomplete: 'current-password' });
  // An account made through a sign-in provider has no password: a recent sign-in confirms.
  let hasPassword = true;
  api.get('/api/me/identities', { signal }).then((res) => {
    hasPassword = !!res.password;
    password.wrap.hidden = !hasPassword;
    password.input.required = hasPassword;
  }).catch(() => {});
  const confirmBox = h('input', { type: 'checkbox', id: 'confirm-delete', required: true });
  const del = h('button', { type: 'submit', class: 'btn btn-danger' }, 'Delete my account');
  const form = h('form', { class: 'form' }, alert.el,
    h('p', null, 'This deletes your account and everything you own: sessions, API keys, provider keys, conversations, memberships, and organizations where you are the only owner. It cannot be undone.'),
    password.wrap,
    h('div', { class: 'check' }, confirmBox, h('label', { for: 'confirm-delete' }, 'I understand that this cannot be undone')),
    h('div', { class: 'actions' }, del));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    password.setError(null);
    if (hasPassword && !password.input.value) { password.setError('Enter your password to confirm.'); password.input.focus(); return; }
    if (!confirmBox.checked) { alert.show('Tick the box to confirm.'); confirmBox.focus(); return; }
    busy(del, async () => {
      try {
        await api.del('/api/me', { body: hasPassword ? { password: password.input.value } : {} });
      } catch (err) {
        if (err.code === 'invalid_credentials') { password.setError('That is not your password.'); password.input.focus(); return; }
        if (!hasPassword && err.status === 403) { alert.show('To delete an account without a password, sign out and sign in again, then delete it within 10 minutes.'); return; }
        throw err;
      }
      await auth.logout();
      navigate('/login?reason=deleted', { replace: true });
    }, alert);
  });
  root.append(h('section', { class: 'card card-danger', 'aria-labelledby': 'del-title' }, h('h2', { id: 'del-title', class: 'card-title' }, 'Delete account'), form));
}
