// Settings: profile, password and sessions, two-step verification, passkeys, API keys,
// provider keys, account deletion.
import qrcode from 'qrcode-generator';
import { h, replace, timeEl, fmtDate } from '../dom.js';
import { api, listAll, enc } from '../api.js';
import { auth } from '../auth.js';
import { navigate } from '../router.js';
import { state, loadMe, orgs, isAdmin, forgetModels } from '../state.js';
import {
  alertBox, announce, badge, busy, confirmDialog, copyButton, dialog, field, loadError, pageTitle, passwordField, section, spinner, table, toast,
} from '../ui.js';
import {
  passkeysSupported, whyNot, createPasskey, passkeyErrorMessage,
} from '../webauthn.js';
import { resendVerification } from './mail.js';
import { signInMethods } from './oauth.js';
import { connectedApps } from './openid.js';
import { shareLinks } from './settings/shares.js';
import { imports } from './settings/imports.js';

const SECTIONS = [
  ['profile', 'Profile'],
  ['security', 'Security'],
  ['sign-in', 'Sign-in methods'],
  ['passkeys', 'Passkeys'],
  ['api-keys', 'API keys'],
  ['provider-keys', 'Provider keys'],
  ['connected-apps', 'Connected apps'],
  ['shares', 'Share links'],
  ['import', 'Import'],
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
      profile, security, 'sign-in': signInMethods, passkeys, 'api-keys': apiKeys, 'provider-keys': providerKeys, shares: shareLinks, import: imports, account,
      'connected-apps': connectedApps,
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
    twoStep(signal),
    section('Active sessions',
      h('p', { class: 'muted' }, 'Places where your account is signed in. Revoke any you do not recognise.'),
      sessionsBox,
      h('div', { class: 'actions' }, everywhere)),
  );
}

// ---------- two-step verification (TOTP) ----------
const SVG = 'http://www.w3.org/2000/svg';

/** The otpauth URI as a QR code (SVG, drawn here: nothing leaves the page). */
function qrCode(text) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 2;
  let d = '';
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) d += `M${c + quiet},${r + quiet}h1v1h-1z`;
    }
  }
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n + 2 * quiet} ${n + 2 * quiet}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code for your authenticator app');
  svg.setAttribute('shape-rendering', 'crispEdges');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('class', 'qr-path');
  path.setAttribute('d', d);
  svg.append(path);
  return svg;
}

function twoStep(signal) {
  const box = h('div', null, spinner('Loading…'));
  const card = section('Two-step verification',
    h('p', { class: 'muted' }, 'A second step after your password: a code from an authenticator app (or a passkey, or a recovery code).'),
    box);

  async function load() {
    replace(box, spinner('Loading…'));
    try {
      const status = await api.get('/api/me/2fa', { signal });
      if (status.enabled) showOn(status);
      else showOff();
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(box, loadError(e, load));
    }
  }

  function showOff() {
    const alert = alertBox();
    const password = passwordField({ label: 'Your password', required: true, autocomplete: 'current-password' });
    const start = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Set up two-step verification');
    const form = h('form', { class: 'form', novalidate: true }, alert.el,
      h('p', null, badge('Off'), ' Anyone with your password can sign in.'),
      password.wrap, h('div', { class: 'actions' }, start));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      password.setError(null);
      if (!password.input.value) { password.setError('Enter your password to continue.'); password.input.focus(); return; }
      busy(start, async () => {
        let enrolment;
        try {
          enrolment = await api.post('/api/me/2fa/totp', { password: password.input.value });
        } catch (err) {
          if (err.code === 'invalid_credentials') { password.setError('That is not your password.'); password.input.focus(); return; }
          throw err;
        }
        showEnrolment(enrolment);
      }, alert);
    });
    replace(box, form);
  }

  function showEnrolment({ secret, otpauth_uri: uri }) {
    const alert = alertBox();
    const code = field({
      label: 'Code from the app', required: true, autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 10,
      spellcheck: 'false', hint: 'Enter the 6-digit code the app shows now to turn two-step verification on.',
    });
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Turn on');
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', onclick: load }, 'Cancel');
    const form = h('form', { class: 'form', novalidate: true }, alert.el,
      h('ol', { class: 'steps' },
        h('li', null, 'Scan this QR code with an authenticator app (Google Authenticator, 1Password, Authy, Aegis…).'),
        h('li', null, 'Or type this key into the app: ',
          h('div', { class: 'secret-row' }, h('code', { class: 'secret', id: 'totp-secret' }, secret), copyButton(secret, 'Copy key')))),
      qrCode(uri),
      code.wrap,
      h('div', { class: 'actions' }, confirm, cancel));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      code.setError(null);
      if (!code.input.value.trim()) { code.setError('Enter the code from the app.'); code.input.focus(); return; }
      busy(confirm, async () => {
        let result;
        try {
          result = await api.post('/api/me/2fa/totp/confirm', { code: code.input.value.trim() });
        } catch (err) {
          if (err.code === 'invalid_code') { code.setError('That code is not right. Check the app and enter the current code.'); code.input.select(); return; }
          throw err;
        }
        showRecoveryCodes(result.recovery_codes);
      }, alert);
    });
    replace(box, form);
    code.input.focus();
  }

  function showRecoveryCodes(codes) {
    const done = h('button', { type: 'button', class: 'btn btn-primary', onclick: load }, 'I have saved them');
    const panel = h('div', { class: 'reveal-box', tabindex: '-1' },
      h('h3', { class: 'reveal-title' }, 'Two-step verification is on. Save your recovery codes'),
      h('p', null, h('strong', null, 'They are shown only this once.'), ' If you lose your phone, each code lets you sign in once instead of a code from the app.'),
      h('ul', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, codes.map((c) => h('li', null, c))),
      h('div', { class: 'actions' }, copyButton(codes.join('\n'), 'Copy codes'), done));
    replace(box, panel);
    panel.focus();
    announce('Two-step verification is on. Your recovery codes are shown once: save them now.');
  }

  function showOn(status) {
    const alert = alertBox();
    const code = field({
      label: 'A current code from the app', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 10, optional: true,
    });
    const password = passwordField({ label: 'or your password', autocomplete: 'current-password', optional: true });
    const off = h('button', { type: 'submit', class: 'btn btn-danger' }, 'Turn off two-step verification');
    const form = h('form', { class: 'form', novalidate: true }, alert.el,
      h('p', null, badge('On', 'success'), ` Signing in asks for a code after your password. Recovery codes left: ${status.recovery_codes_left}.`),
      code.wrap, password.wrap, h('div', { class: 'actions' }, off));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      code.setError(null);
      password.setError(null);
      const c = code.input.value.trim();
      const p = password.input.value;
      if (!c && !p) { code.setError('Enter a current code, or your password.'); code.input.focus(); return; }
      busy(off, async () => {
        try {
          await api.del('/api/me/2fa/totp', { body: c ? { code: c } : { password: p } });
        } catch (err) {
          if (err.code === 'invalid_code') { code.setError('That code is not right, or was used already.'); code.input.focus(); return; }
          if (err.code === 'invalid_credentials') { password.setError('That is not your password.'); password.input.focus(); return; }
          throw err;
        }
        toast('Two-step verification is off');
        announce('Two-step verification is off');
        await load();
      }, alert);
    });
    replace(box, form);
  }

  load();
  return card;
}

// ---------- passkeys ----------
function passkeys(root, signal) {
  const alert = alertBox();
  const name = field({ label: 'Name', maxlength: 100, optional: true, placeholder: 'e.g. Laptop', hint: 'To recognise the passkey later.' });
  const add = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Add a passkey');
  const form = h('form', { class: 'form', novalidate: true }, alert.el, name.wrap, h('div', { class: 'actions' }, add));
  const listBox = h('div', null, spinner('Loading passkeys…'));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(add, async () => {
      let options;
      try {
        options = await api.post('/api/me/passkeys/options', {});
      } catch (err) {
        if (err.code === 'reauthentication_required') {
          alert.showNode(h('span', null, 'For your security, adding a passkey needs a recent sign-in. ',
            h('button', { type: 'button', class: 'btn btn-small', onclick: () => auth.logout() }, 'Sign out and sign in again'), '.'));
          return;
        }
        throw err;
      }
      const why = whyNot(options.rp.id);
      if (why) { alert.show(why, 'info'); return; }
      let credential;
      try {
        credential = await createPasskey(options);
      } catch (err) {
        alert.show(passkeyErrorMessage(err));
        return;
      }
      const body = { credential };
      if (name.input.value.trim()) body.name = name.input.value.trim();
      await api.post('/api/me/passkeys', body);
      form.reset();
      toast('Passkey added');
      announce('Passkey added');
      await loadList();
    }, alert);
  });

  async function rename(p) {
    const f = field({ label: 'Name', value: p.name, required: true, maxlength: 100 });
    await dialog({
      title: 'Rename passkey',
      body: f.wrap,
      actions: [{ label: 'Cancel', value: null }, { label: 'Save', kind: 'primary', value: true }],
      onConfirm: async () => {
        f.setError(null);
        if (!f.input.value.trim()) { f.setError('Enter a name.'); return false; }
        await api.patch(`/api/me/passkeys/${enc(p.id)}`, { name: f.input.value.trim() });
        toast('Passkey renamed');
        await loadList();
        return true;
      },
    });
  }

  async function loadList() {
    try {
      const rows = await listAll('/api/me/passkeys', { signal });
      replace(listBox, table([
        { label: 'Name', cell: (p) => p.name },
        { label: 'Added', cell: (p) => timeEl(p.created_at) },
        { label: 'Last used', cell: (p) => (p.last_used_at ? timeEl(p.last_used_at, true) : 'never') },
        { label: 'Synced', cell: (p) => (p.backed_up ? 'yes' : 'no') },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (p) => {
            const r = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Rename passkey ${p.name}` }, 'Rename');
            r.addEventListener('click', () => rename(p).catch((err) => toast(err.detail, 'error')));
            const d = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Remove passkey ${p.name}` }, 'Remove');
            d.addEventListener('click', async () => {
              const ok = await confirmDialog('Remove passkey?', `“${p.name}” will no longer sign you in. Remove it from the device too.`, 'Remove');
              if (!ok) return;
              busy(d, async () => {
                await api.del(`/api/me/passkeys/${enc(p.id)}`);
                toast('Passkey removed');
                await loadList();
              }).catch((err) => toast(err.detail, 'error'));
            });
            return h('span', { class: 'row-actions' }, r, ' ', d);
          },
        },
      ], rows, { caption: 'Your passkeys', empty: 'You have no passkeys yet.' }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(listBox, loadError(e, loadList));
    }
  }
  loadList();

  root.append(
    section('Add a passkey',
      h('p', { class: 'muted' }, 'A passkey signs you in with your device’s screen lock, fingerprint or face, without a password. With two-step verification on, it also serves as the second step.'),
      passkeysSupported() ? form : h('p', { class: 'alert alert-info' }, 'This browser does not support passkeys.')),
    section('Your passkeys', listBox),
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
