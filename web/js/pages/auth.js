// Sign in, sign up, and accepting an invitation.
import { h, replace } from '../dom.js';
import { api, fmtWait } from '../api.js';
import { auth } from '../auth.js';
import { navigate } from '../router.js';
import { state, loadMe, loadPolicy } from '../state.js';
import { field, passwordField, alertBox, busy } from '../ui.js';
import { resendVerification } from './mail.js';
import { providerButtons, oauthErrorMessage } from './oauth.js';
import {
  passkeysSupported, whyNot, getPasskey, passkeyErrorMessage,
} from '../webauthn.js';

function authShell(title, subtitle, ...body) {
  return h('div', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'auth-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', null, 'chatgate')),
      h('h1', { tabindex: '-1', class: 'auth-title' }, title),
      subtitle ? h('p', { class: 'muted auth-sub' }, subtitle) : null,
      ...body));
}

function nextParam(query) {
  const next = query.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}

function withNext(path, next) {
  return next ? `${path}?next=${encodeURIComponent(next)}` : path;
}

function throttledMessage(e) {
  const wait = e.retryAfter ? ` Try again in ${fmtWait(e.retryAfter)}.` : ' Please wait a little and try again.';
  return /\d/.test(e.detail || '') ? e.detail : `${(e.detail || 'Too many attempts.').replace(/\.?$/, '.')}${wait}`;
}

export function loginPage({ main, query }) {
  document.title = 'Sign in · chatgate';
  const next = nextParam(query);
  const alert = alertBox();
  const email = field({ label: 'Email', type: 'email', name: 'email', required: true, autocomplete: 'username', spellcheck: 'false', autocapitalize: 'none' });
  const password = passwordField({ label: 'Password', name: 'password', required: true, autocomplete: 'current-password' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Sign in');
  const form = h('form', { class: 'form', novalidate: true }, alert.el, email.wrap, password.wrap, submit);
  if (query.get('reason') === 'expired') alert.show('Your session has ended. Please sign in again.', 'info');
  if (query.get('reason') === 'deleted') alert.show('Your account was deleted.', 'info');
  if (query.get('reason') === 'reset') alert.show('Your password is changed and every session was signed out. Sign in with the new password.', 'success');
  if (query.get('oauth_error')) alert.show(oauthErrorMessage(query.get('oauth_error')));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    email.setError(null);
    password.setError(null);
    if (!email.input.value.trim()) { email.setError('Enter your email address.'); email.input.focus(); return; }
    if (!password.input.value) { password.setError('Enter your password.'); password.input.focus(); return; }
    await busy(submit, async () => {
      submit.textContent = 'Signing in…';
      try {
        const body = await api.post('/api/auth/login', { email: email.input.value.trim(), password: password.input.value }, { auth: false });
        if (body && body.mfa_required) secondStep(main, body);
        else auth.accept(body);
      } catch (err) {
        if (err.status === 429) alert.show(throttledMessage(err));
        else if (err.code === 'invalid_credentials' || err.status === 401) alert.show(err.detail || 'That email and password do not match.');
        else alert.show(err);
        const a = alert.el;
        a.setAttribute('tabindex', '-1');
        a.focus();
      }
    });
  });

  // Another sign-in method (an identity provider) that needs the second factor comes back
  // here with its ticket in the fragment: #mfa_token=…&methods=totp,recovery_code,passkey
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get('mfa_token')) {
    history.replaceState(history.state, '', location.pathname + location.search);
    secondStep(main, {
      mfa_token: fragment.get('mfa_token'),
      methods: (fragment.get('methods') || 'totp,recovery_code').split(','),
    });
    return;
  }

  let passkeyButton = null;
  if (passkeysSupported()) {
    passkeyButton = h('button', { type: 'button', class: 'btn btn-block' }, 'Continue with a passkey');
    passkeyButton.addEventListener('click', () => busy(passkeyButton, async () => {
      alert.clear();
      const options = await api.post('/api/auth/passkey/options', {}, { auth: false });
      const why = whyNot(options.rpId);
      if (why) { alert.show(why, 'info'); return; }
      let credential;
      try {
        credential = await getPasskey(options);
      } catch (e) {
        alert.show(passkeyErrorMessage(e));
        return;
      }
      try {
        auth.accept(await api.post('/api/auth/passkey', { credential }, { auth: false }));
      } catch (err) {
        alert.show(err.status === 429 ? throttledMessage(err) : 'That passkey could not sign you in. Is it registered with this account?');
      }
    }, alert));
  }

  replace(main, authShell('Sign in', 'Welcome back.', form,
    passkeyButton ? h('div', { class: 'auth-or' }, h('span', { class: 'muted' }, 'or'), passkeyButton) : null,
    providerButtons(next),
    h('p', { class: 'auth-alt' }, h('a', { href: '/forgot-password' }, 'Forgot your password?')),
    h('p', { class: 'auth-alt' }, 'New here? ', h('a', { href: withNext('/signup', next) }, 'Create an account'))));
  email.input.focus();
}

/**
 * The second step of a sign-in with two-factor authentication on: a code from
 * the authenticator app, a recovery code, or a passkey, with the ticket of the
 * first step ({mfa_token, methods}).
 */
function secondStep(main, { mfa_token: ticket, methods = [] }) {
  document.title = 'Two-step verification · chatgate';
  const alert = alertBox();
  let mode = 'totp';
  const code = field({
    label: 'Authentication code', name: 'code', required: true, autocomplete: 'one-time-code', inputmode: 'numeric',
    maxlength: 10, spellcheck: 'false', hint: 'The 6-digit code your authenticator app shows for chatgate.',
  });
  const recovery = field({
    label: 'Recovery code', name: 'recovery_code', required: true, autocomplete: 'off', spellcheck: 'false',
    autocapitalize: 'none', maxlength: 40, hint: 'One of the recovery codes you saved when you turned on two-step verification. Each works once.',
  });
  recovery.wrap.hidden = true;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Verify');
  const toggle = h('button', { type: 'button', class: 'btn btn-ghost btn-small' }, 'Use a recovery code instead');
  toggle.addEventListener('click', () => {
    mode = mode === 'totp' ? 'recovery_code' : 'totp';
    code.wrap.hidden = mode !== 'totp';
    recovery.wrap.hidden = mode === 'totp';
    toggle.textContent = mode === 'totp' ? 'Use a recovery code instead' : 'Use the authenticator app instead';
    (mode === 'totp' ? code : recovery).input.focus();
  });
  const form = h('form', { class: 'form', novalidate: true }, alert.el, code.wrap, recovery.wrap, submit);

  const restart = () => h('span', null, 'This sign-in has expired. ', h('a', { href: '/login' }, 'Sign in again'), '.');
  async function finish(proof, onWrong) {
    try {
      auth.accept(await api.post('/api/auth/login/mfa', { mfa_token: ticket, ...proof }, { auth: false }));
    } catch (err) {
      if (err.status === 429) alert.show(throttledMessage(err));
      else if (err.code === 'invalid_code') onWrong(err);
      else if (err.status === 401 && !proof.passkey) alert.showNode(restart());
      else alert.show(err);
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const f = mode === 'totp' ? code : recovery;
    f.setError(null);
    const value = f.input.value.trim();
    if (!value) { f.setError(mode === 'totp' ? 'Enter the code from your app.' : 'Enter a recovery code.'); f.input.focus(); return; }
    busy(submit, () => finish({ [mode === 'totp' ? 'code' : 'recovery_code']: value }, () => {
      f.setError(mode === 'totp' ? 'That code is not right, or was used already. Wait for the next one.' : 'That recovery code is not right, or was used already.');
      f.input.select();
      f.input.focus();
    }));
  });

  let passkeyButton = null;
  if (methods.includes('passkey') && passkeysSupported()) {
    passkeyButton = h('button', { type: 'button', class: 'btn btn-block' }, 'Use a passkey');
    passkeyButton.addEventListener('click', () => busy(passkeyButton, async () => {
      alert.clear();
      let options;
      try {
        options = await api.post('/api/auth/passkey/options', { mfa_token: ticket }, { auth: false });
      } catch (err) {
        if (err.status === 401) { alert.showNode(restart()); return; }
        throw err;
      }
      const why = whyNot(options.rpId);
      if (why) { alert.show(why, 'info'); return; }
      let credential;
      try {
        credential = await getPasskey(options);
      } catch (e) {
        alert.show(passkeyErrorMessage(e));
        return;
      }
      await finish({ passkey: credential }, () => alert.show('That passkey could not be verified.'));
    }, alert));
  }

  replace(main, authShell('Two-step verification', 'Your account has two-step verification on: prove it is you a second way.', form,
    h('p', { class: 'auth-alt' }, toggle),
    passkeyButton ? h('div', { class: 'auth-or' }, h('span', { class: 'muted' }, 'or'), passkeyButton) : null,
    h('p', { class: 'auth-alt' }, h('a', { href: '/login' }, 'Start over'))));
  code.input.focus();
}

/** What the registration policy asks of a new account, in words (or null). */
function policyNote(policy) {
  const domains = policy.registration_domains || [];
  const at = domains.length ? `Addresses at ${domains.join(', ')} only.` : null;
  if (policy.registration === 'invite-only') {
    return ['New accounts are by invitation: use the address your invitation was sent to.', at].filter(Boolean).join(' ');
  }
  return at;
}

export async function signupPage({ main, query, signal }) {
  document.title = 'Create account · chatgate';
  const next = nextParam(query);
  let policy = null;
  try { policy = await loadPolicy(); } catch { /* the server will say, on submit */ }
  if (signal.aborted) return;
  if (policy && policy.registration === 'closed') {
    replace(main, authShell('Create your account', null,
      h('p', { class: 'alert alert-info', role: 'status' }, 'This server does not accept new accounts.'),
      h('p', { class: 'auth-alt' }, 'Already have an account? ', h('a', { href: withNext('/login', next) }, 'Sign in'))));
    return;
  }
  const note = policy ? policyNote(policy) : null;
  const alert = alertBox();
  const name = field({ label: 'Name', name: 'name', required: true, autocomplete: 'name', maxlength: 100 });
  const email = field({
    label: 'Email', type: 'email', name: 'email', required: true, autocomplete: 'email', spellcheck: 'false', autocapitalize: 'none',
    hint: note,
  });
  const password = passwordField({
    label: 'Password', name: 'password', required: true, autocomplete: 'new-password', minlength: 8, maxlength: 256,
    hint: 'At least 8 characters. Common passwords are refused.',
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, 'Create account');
  const form = h('form', { class: 'form', novalidate: true }, alert.el, name.wrap, email.wrap, password.wrap, submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    [name, email, password].forEach((f) => f.setError(null));
    alert.clear();
    const pw = password.input.value;
    let bad = null;
    if (!name.input.value.trim()) { name.setError('Enter your name.'); bad = bad || name; }
    if (!/^[^\s@]+@[^\s@]+$/.test(email.input.value.trim())) { email.setError('Enter a valid email address.'); bad = bad || email; }
    if (pw.length < 8) { password.setError('Use at least 8 characters.'); bad = bad || password; }
    else if (pw.length > 256) { password.setError('Use at most 256 characters.'); bad = bad || password; }
    if (bad) { bad.input.focus(); return; }
    await busy(submit, async () => {
      submit.textContent = 'Creating account…';
      try {
        const body = await api.post('/api/auth/register', {
          email: email.input.value.trim(), password: pw, name: name.input.value.trim(),
        }, { auth: false });
        auth.accept(body);
      } catch (err) {
        if (err.status === 409 || err.code === 'conflict') {
          email.setError(null);
          alert.showNode(h('span', null, 'An account with this email already exists. ',
            h('a', { href: withNext('/login', next) }, 'Sign in instead'), '.'));
          email.input.setAttribute('aria-invalid', 'true');
          email.input.focus();
        } else if (err.status === 429) {
          alert.show(throttledMessage(err));
        } else if (err.code === 'registration_closed') {
          alert.show(err.detail);
          email.input.setAttribute('aria-invalid', 'true');
          email.input.focus();
        } else if (err.status === 400 && /password/i.test(`${err.detail} ${err.code}`)) {
          password.setError(err.detail);
          password.input.focus();
        } else {
          alert.show(err);
        }
      }
    });
  });

  replace(main, authShell('Create your account', 'Start chatting in a minute. A personal organization is created for you. We will send you a link to confirm your email address.', form,
    providerButtons(next, 'Sign up'),
    h('p', { class: 'auth-alt' }, 'Already have an account? ', h('a', { href: withNext('/login', next) }, 'Sign in'))));
  name.input.focus();
}

export async function invitePage({ main, query, signal }) {
  document.title = 'Invitation · chatgate';
  const token = query.get('token') || '';
  const here = `/invite?token=${encodeURIComponent(token)}`;
  if (!token) {
    replace(main, authShell('Invitation', null, h('p', { class: 'alert alert-error', role: 'alert' }, 'This invitation link is incomplete: it has no token. Ask for a new link.')));
    return;
  }
  if (!auth.signedIn) {
    replace(main, authShell('You have been invited', 'Sign in or create an account with the invited email address to join the organization.',
      h('div', { class: 'stack' },
        h('a', { class: 'btn btn-primary btn-block', href: withNext('/login', here) }, 'Sign in to accept'),
        h('a', { class: 'btn btn-block', href: withNext('/signup', here) }, 'Create an account'))));
    return;
  }
  const alert = alertBox();
  if (state.me && state.me.email_verified === false) {
    // Only a confirmed address may accept: the invitation names it.
    const resend = h('button', { type: 'button', class: 'btn btn-block' }, 'Email me a new link');
    resend.addEventListener('click', () => resendVerification(resend, alert));
    const done = h('button', { type: 'button', class: 'btn btn-primary btn-block' }, 'I have confirmed it');
    done.addEventListener('click', () => busy(done, async () => {
      await loadMe();
      if (state.me.email_verified) navigate(here, { replace: true });
      else alert.show('Your address is not confirmed yet: open the link in the mail first.');
    }, alert));
    replace(main, authShell('Confirm your email first', `You are signed in as ${state.me.email}. Open the link we sent to this address, then come back to this invitation.`,
      alert.el, h('div', { class: 'stack' }, done, resend)));
    return;
  }
  const accept = h('button', { type: 'button', class: 'btn btn-primary btn-block' }, 'Accept invitation');
  const decline = h('a', { class: 'btn btn-block', href: '/chat' }, 'Not now');
  accept.addEventListener('click', () => busy(accept, async () => {
    accept.textContent = 'Joining…';
    const res = await api.post('/api/invitations/accept', { token }, { signal });
    await loadMe();
    const orgId = (res && (res.org_id || (res.org && res.org.id) || res.id)) || null;
    const known = orgId && state.me.orgs.some((o) => o.id === orgId);
    navigate(known ? `/orgs/${encodeURIComponent(orgId)}` : '/orgs', { replace: true });
  }, alert));
  replace(main, authShell('Join the organization', `You are signed in as ${state.me ? state.me.email : 'you'}. The invitation must be for this email address.`,
    alert.el, h('div', { class: 'stack' }, accept, decline)));
  accept.focus();
}
