// What arrives by mail: the verification link (/verify-email), the password
// reset (/forgot-password, /reset-password), the "confirm your address" banner,
// and the dev mailbox (/dev/mailbox, only when the server has DEV_MAILBOX=on).
import { h, replace, timeEl } from '../dom.js';
import { api } from '../api.js';
import { auth } from '../auth.js';
import { navigate } from '../router.js';
import { state, loadMe, loadPolicy } from '../state.js';
import { alertBox, busy, field, passwordField, spinner, toast } from '../ui.js';

function authShell(title, subtitle, ...body) {
  return h('div', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'auth-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', null, 'chatgate')),
      h('h1', { tabindex: '-1', class: 'auth-title' }, title),
      subtitle ? h('p', { class: 'muted auth-sub' }, subtitle) : null,
      ...body));
}

/** A link to the dev mailbox, when the server keeps one (else nothing). */
export async function devMailboxLink(label = 'Open the dev mailbox') {
  try {
    const policy = await loadPolicy();
    return policy.dev_mailbox ? h('a', { href: '/dev/mailbox', class: 'dev-mailbox-link' }, label) : null;
  } catch {
    return null;
  }
}

/** Mails a new verification link to the signed-in user; `alert` shows how it went. */
export async function resendVerification(button, alert) {
  await busy(button, async () => {
    button.textContent = 'Sending…';
    await api.post('/api/auth/verify-email/resend');
    alert.show(`A new link is on its way to ${state.me ? state.me.email : 'your address'}. Earlier links no longer work.`, 'success');
  }, alert);
}

/** The bar under the top bar while the signed-in user's address is unverified. */
export function verifyBanner(el) {
  const me = state.me;
  const show = auth.signedIn && me && me.email_verified === false && location.pathname !== '/verify-email';
  el.hidden = !show;
  if (!show) { replace(el); return; }
  // The outcome goes to a toast: an alert region here would sit before every page's own.
  const notice = {
    show(msg, kind) { toast(typeof msg === 'string' ? msg : (msg && msg.detail) || 'Something went wrong.', kind === 'success' ? 'info' : 'error'); },
    clear() {},
  };
  const resend = h('button', { type: 'button', class: 'btn btn-small' }, 'Email me a new link');
  resend.addEventListener('click', () => resendVerification(resend, notice));
  const mailbox = h('span', { class: 'banner-extra' });
  replace(el,
    h('div', { class: 'banner-inner' },
      h('p', { class: 'banner-text' },
        h('strong', null, 'Please confirm your email address. '),
        `We sent a link to ${me.email}.`),
      resend, mailbox));
  devMailboxLink().then((a) => { if (a) mailbox.append(a); });
}

// A link works once: a page rendered again for the same token shows the first answer.
const verified = new Map();

export async function verifyEmailPage({ main, query, signal }) {
  document.title = 'Confirm your email · chatgate';
  const token = query.get('token') || '';
  if (!token) {
    replace(main, authShell('Confirm your email', null,
      h('p', { class: 'alert alert-error', role: 'alert' }, 'This link is incomplete: it has no token. Open the link from the mail again, or ask for a new one.')));
    return;
  }
  replace(main, authShell('Confirm your email', null, spinner('Confirming your address…')));
  if (!verified.has(token)) {
    verified.set(token, api.post('/api/auth/verify-email', { token }, { auth: false }).then(() => null, (e) => e));
  }
  const error = await verified.get(token);
  if (signal.aborted) return;
  if (!error) {
    if (auth.signedIn) { try { await loadMe(); } catch { /* the banner stays until the next load */ } }
    const next = auth.signedIn
      ? h('a', { class: 'btn btn-primary btn-block', href: '/chat' }, 'Continue to chat')
      : h('a', { class: 'btn btn-primary btn-block', href: '/login' }, 'Sign in');
    replace(main, authShell('Email confirmed', null,
      h('p', { class: 'alert alert-success', role: 'status' }, 'Your email address is confirmed. Thank you!'),
      h('div', { class: 'stack' }, next)));
    return;
  }
  const alert = alertBox();
  const body = [h('p', { class: 'alert alert-error', role: 'alert' },
    error.status === 400 ? 'This link does not work: it was used already, it has expired, or it was replaced by a newer one.' : error.detail)];
  if (auth.signedIn && state.me && !state.me.email_verified) {
    const resend = h('button', { type: 'button', class: 'btn btn-primary btn-block' }, 'Email me a new link');
    resend.addEventListener('click', () => resendVerification(resend, alert));
    body.push(alert.el, h('div', { class: 'stack' }, resend));
  } else if (!auth.signedIn) {
    body.push(h('p', { class: 'auth-alt' }, 'Sign in to ask for a new link. ', h('a', { href: '/login' }, 'Sign in')));
  } else {
    body.push(h('div', { class: 'stack' }, h('a', { class: 'btn btn-block', href: '/chat' }, 'Continue to chat')));
  }
  replace(main, authShell('Confirm your email', null, ...body));
}

export function forgotPasswordPage({ main }) {
  document.title = 'Forgot password · chatgate';
  const alert = alertBox();
  const email = field({ label: 'Email', type: 'email', name: 'email', required: true, autocomplete: 'username', spellcheck: 'false', autocapitalize: 'none' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Send a reset link');
  const form = h('form', { class: 'form', novalidate: true }, alert.el, email.wrap, submit);
  const extra = h('p', { class: 'auth-alt' });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    email.setError(null);
    const value = email.input.value.trim();
    if (!/^[^\s@]+@[^\s@]+$/.test(value)) { email.setError('Enter your email address.'); email.input.focus(); return; }
    await busy(submit, async () => {
      submit.textContent = 'Sending…';
      try {
        await api.post('/api/auth/forgot-password', { email: value }, { auth: false });
        alert.show(`If an account uses ${value}, a link to reset its password is on its way. It works once, for 30 minutes.`, 'success');
        const a = await devMailboxLink();
        if (a) replace(extra, a);
      } catch (err) {
        if (err.status === 400) email.setError(err.detail);
        else alert.show(err);
      }
    });
  });
  replace(main, authShell('Forgot your password?', 'Enter your email address and we will send you a link to choose a new password.', form, extra,
    h('p', { class: 'auth-alt' }, 'Remembered it? ', h('a', { href: '/login' }, 'Sign in'))));
  email.input.focus();
}

export function resetPasswordPage({ main, query }) {
  document.title = 'Choose a new password · chatgate';
  const token = query.get('token') || '';
  if (!token) {
    replace(main, authShell('Choose a new password', null,
      h('p', { class: 'alert alert-error', role: 'alert' }, 'This link is incomplete: it has no token. ', h('a', { href: '/forgot-password' }, 'Ask for a new link'), '.')));
    return;
  }
  const alert = alertBox();
  const password = passwordField({
    label: 'New password', name: 'new-password', required: true, autocomplete: 'new-password', minlength: 8, maxlength: 256,
    hint: 'At least 8 characters. Common passwords are refused. Every session of your account will be signed out.',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Set the new password');
  const form = h('form', { class: 'form', novalidate: true }, alert.el, password.wrap, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    password.setError(null);
    const pw = password.input.value;
    if (pw.length < 8) { password.setError('Use at least 8 characters.'); password.input.focus(); return; }
    if (pw.length > 256) { password.setError('Use at most 256 characters.'); password.input.focus(); return; }
    await busy(submit, async () => {
      submit.textContent = 'Saving…';
      try {
        await api.post('/api/auth/reset-password', { token, new_password: pw }, { auth: false });
      } catch (err) {
        // The server names the field: `token: …` for the link, `password …` for the password.
        if (err.status === 400 && /^password/.test(err.detail)) {
          password.setError(err.detail);
          password.input.focus();
        } else if (err.status === 400) {
          alert.showNode(h('span', null, 'This link does not work: it was used already, it has expired, or a newer one replaced it. ',
            h('a', { href: '/forgot-password' }, 'Ask for a new link'), '.'));
        } else {
          alert.show(err);
        }
        return;
      }
      // Every session ended with the reset, this one included.
      if (auth.signedIn) await auth.logout();
      navigate('/login?reason=reset', { replace: true });
    });
  });
  replace(main, authShell('Choose a new password', null, form,
    h('p', { class: 'auth-alt' }, h('a', { href: '/login' }, 'Back to sign in'))));
  password.input.focus();
}

/** Text with its http(s) URLs as links (built as nodes: nothing goes through an HTML parser). */
function linkify(text) {
  const out = [];
  const re = /https?:\/\/[^\s<>"]+/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push(text.slice(last, m.index));
    let u = null;
    try { u = new URL(m[0]); } catch { /* not a URL after all: text */ }
    // Same-origin links stay in the app (the router takes them); others open aside.
    if (!u) out.push(m[0]);
    else if (u.origin === location.origin) out.push(h('a', { href: u.pathname + u.search + u.hash }, m[0]));
    else out.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer' }, m[0]));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

export async function devMailboxPage({ main, query, signal }) {
  document.title = 'Dev mailbox · chatgate';
  const root = h('div', { class: 'page' });
  replace(main, root);
  let policy;
  try {
    policy = await loadPolicy();
  } catch (e) {
    replace(root, h('h1', { tabindex: '-1', class: 'page-title' }, 'Dev mailbox'), h('p', { class: 'alert alert-error', role: 'alert' }, e.detail));
    return;
  }
  if (signal.aborted) return;
  if (!policy.dev_mailbox) {
    replace(root, h('h1', { tabindex: '-1', class: 'page-title' }, 'Dev mailbox'),
      h('p', null, 'The dev mailbox is off on this server: mail goes to real inboxes. (It is on under `make dev`, with DEV_MAILBOX=on.)'));
    return;
  }
  const alert = alertBox();
  const to = field({ label: 'To', type: 'email', name: 'to', value: query.get('to') || '', hint: 'Only mail to this address (leave empty for all).', spellcheck: 'false', autocapitalize: 'none' });
  const refresh = h('button', { type: 'submit', class: 'btn' }, 'Refresh');
  const form = h('form', { class: 'form mailbox-filter', novalidate: true }, to.wrap, h('div', { class: 'actions' }, refresh));
  const list = h('ul', { class: 'mailbox-list', 'aria-label': 'Messages, newest first' });
  const reader = h('article', { class: 'card mailbox-reader', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Choose a message.'));

  function open(m, button) {
    list.querySelectorAll('[aria-current]').forEach((b) => b.removeAttribute('aria-current'));
    button.setAttribute('aria-current', 'true');
    replace(reader,
      h('h2', { class: 'card-title' }, m.subject),
      h('p', { class: 'muted small' }, 'To ', h('strong', null, m.to), ' · ', timeEl(m.created_at)),
      h('div', { class: 'mailbox-text' }, linkify(m.text)));
  }

  async function load() {
    alert.clear();
    const filter = to.input.value.trim();
    const res = await api.get('/api/dev/mailbox', { auth: false, query: { to: filter || null }, signal });
    const items = (res && res.items) || [];
    replace(list, items.length ? items.map((m) => {
      const b = h('button', { type: 'button', class: 'mailbox-item' },
        h('span', { class: 'mailbox-subject' }, m.subject),
        h('span', { class: 'muted small' }, m.to, ' · ', timeEl(m.created_at, true)));
      b.addEventListener('click', () => open(m, b));
      return h('li', null, b);
    }) : h('li', { class: 'muted' }, 'No mail yet.'));
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    to.setError(null);
    busy(refresh, load, alert);
  });
  replace(root,
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', class: 'page-title' }, 'Dev mailbox')),
    h('p', { class: 'muted' }, 'Mail this server would have sent (DEV_MAILBOX=on, for development only). Links open here.'),
    form, alert.el,
    h('div', { class: 'mailbox' }, list, reader));
  try {
    await load();
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (e.status === 400) to.setError(e.detail); else alert.show(e);
  }
}
