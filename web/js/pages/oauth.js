// Sign-in with OAuth / OpenID Connect providers: the buttons of the sign-in and sign-up pages,
// what a failed sign-in means, Settings → Sign-in methods, and an organization's provider.
import { h, replace, fmtDate } from '../dom.js';
import { api, enc } from '../api.js';
import { state } from '../state.js';
import { alertBox, busy, confirmDialog, field, section, spinner, table, toast } from '../ui.js';

let providers = null;

/** The server's sign-in providers, `[{id, name, type}]`; fetched once (a failure is retried). */
export async function loadProviders() {
  if (!providers) {
    providers = api.get('/api/auth/providers', { auth: false }).catch((e) => { providers = null; throw e; });
  }
  return providers;
}

/** Where the browser goes to sign in with `provider`, coming back to `next`. */
export function startUrl(provider, next) {
  const q = next ? `?next=${encodeURIComponent(next)}` : '';
  return `/api/auth/oauth/${encodeURIComponent(provider)}/start${q}`;
}

/** One button per configured provider (nothing when there is none). */
export function providerButtons(next, verb = 'Continue') {
  const box = h('div', { class: 'oauth-providers', hidden: true });
  loadProviders().then((list) => {
    if (!list || !list.length) return;
    replace(box,
      h('p', { class: 'oauth-divider' }, h('span', null, 'or')),
      ...list.map((p) => h('a', {
        class: `btn btn-block btn-provider btn-provider-${p.type}`,
        href: startUrl(p.id, next),
        'data-provider': p.id,
      }, `${verb} with ${p.name}`)));
    box.hidden = false;
  }).catch(() => { /* the password form still works */ });
  return box;
}

const OAUTH_ERRORS = {
  invalid_state: 'That sign-in link expired, was already used, or was started in another browser. Please try again.',
  access_denied: 'You cancelled the sign-in at the provider.',
  provider_error: 'The provider could not sign you in. Please try again.',
  provider_unavailable: 'The provider could not be reached. Please try again later.',
  code_exchange_failed: 'The provider did not confirm the sign-in. Please try again.',
  email_required: 'The provider did not share an email address, which your account needs.',
  account_exists: 'An account already uses this email address, and the provider did not confirm that the address is yours. Sign in with your password instead.',
  registration_closed: 'This server does not accept new accounts for this address.',
  account_disabled: "This account has been disabled by the service's operator.",
  rate_limited: 'Too many sign-ins from here. Please wait a little and try again.',
};

/** What `?oauth_error=` on the sign-in page means, in words. */
export function oauthErrorMessage(code) {
  if (!code) return null;
  if (OAUTH_ERRORS[code]) return OAUTH_ERRORS[code];
  if (code.startsWith('id_token_')) return 'The provider’s answer could not be verified, so you were not signed in. Please try again.';
  return 'The sign-in did not complete. Please try again.';
}

/** Settings → Sign-in methods: the linked providers (unlink), and whether there is a password. */
export function signInMethods(root, signal) {
  const alert = alertBox();
  const listBox = h('div', null, spinner('Loading sign-in methods…'));
  const linkBox = h('div');

  async function load() {
    let res;
    let list = [];
    try {
      [res, list] = await Promise.all([api.get('/api/me/identities', { signal }), loadProviders().catch(() => [])]);
    } catch (e) {
      if (e.name === 'AbortError') return;
      alert.show(e);
      replace(listBox);
      return;
    }
    const items = res.items || [];
    const rows = [
      ...items.map((i) => ({ kind: 'identity', ...i })),
      ...(res.password ? [{ kind: 'password' }] : []),
    ];
    replace(listBox, table([
      { label: 'Method', cell: (r) => (r.kind === 'password' ? 'Password' : r.provider_name) },
      { label: 'Account', cell: (r) => (r.kind === 'password' ? state.me.email : r.email || '—') },
      { label: 'Linked', cell: (r) => (r.kind === 'password' ? '—' : fmtDate(r.created_at)) },
      {
        label: 'Actions',
        cell: (r) => (r.kind === 'password' ? h('a', { href: '/settings/security' }, 'Change password') : h('button', {
          type: 'button',
          class: 'btn btn-small btn-ghost btn-danger-text',
          'aria-label': `Unlink ${r.provider_name}`,
          onclick: async (e) => {
            const ok = await confirmDialog(`Unlink ${r.provider_name}?`, `You will no longer sign in with ${r.provider_name} (${r.email || 'this account'}).`, 'Unlink');
            if (!ok) return;
            await busy(e.currentTarget, async () => {
              await api.del(`/api/me/identities/${enc(r.id)}`);
              toast(`${r.provider_name} unlinked`);
              await load();
            }, alert);
          },
        }, 'Unlink')),
      },
    ], rows, { caption: 'Your sign-in methods', empty: 'No sign-in method.' }));
    const linked = new Set(items.map((i) => i.provider));
    const others = list.filter((p) => !linked.has(p.id));
    replace(linkBox, others.length
      ? h('p', { class: 'muted small' }, 'To add a provider, sign out and sign in with it: an account whose email address the provider has verified is linked to yours. ',
        res.password ? null : 'Without a password, you can set one with “Forgot your password?” on the sign-in page.')
      : (res.password ? null : h('p', { class: 'muted small' }, 'Your account has no password: set one with “Forgot your password?” on the sign-in page.')));
  }
  root.append(section('Sign-in methods', alert.el, listBox, linkBox));
  load();
}

/**
 * The organization's own provider for its settings form: `{wrap, value()}`, `value()` being
 * the `sso` setting (or undefined for none).
 */
export function ssoField(current) {
  const provider = field({
    label: 'Sign-in provider', type: 'select', options: [['', 'None']], optional: true,
    hint: 'The organization’s own identity provider, configured by the server’s operator.',
  });
  const required = h('input', { type: 'checkbox', id: 'sso-required' });
  required.checked = !!(current && current.required);
  const box = h('fieldset', { class: 'fieldset', hidden: true }, h('legend', null, 'Sign-in'),
    provider.wrap,
    h('div', { class: 'check' }, required, h('label', { for: 'sso-required' }, 'Members must sign in with this provider to reach the organization')),
    h('p', { class: 'hint' }, 'To require it, you must be signed in with it yourself. Members signed in otherwise are asked to sign in with it; API keys are not affected.'));
  loadProviders().then((list) => {
    for (const p of list || []) provider.input.append(h('option', { value: p.id }, p.name));
    if (current && current.provider) {
      if (![...provider.input.options].some((o) => o.value === current.provider)) {
        provider.input.append(h('option', { value: current.provider }, current.provider));
      }
      provider.input.value = current.provider;
    }
    box.hidden = !(list && list.length) && !(current && current.provider);
  }).catch(() => {});
  return {
    wrap: box,
    value() {
      const id = provider.input.value;
      return id ? { provider: id, required: required.checked } : undefined;
    },
  };
}

/** An organization that requires its provider (403 `sso_required`), reached from another session. */
export function ssoRequired(err, next) {
  // The problem names the provider in `provider`, and its start route in `detail`.
  const m = /\/api\/auth\/oauth\/([a-z0-9-]+)\/start/.exec(err.detail || '');
  const box = h('div', { class: 'alert alert-info', role: 'status' },
    h('p', null, 'This organization requires you to sign in with its identity provider.'),
    m ? h('p', null, h('a', { class: 'btn btn-primary', href: startUrl(m[1], next) }, 'Sign in with it')) : null);
  if (m) {
    loadProviders().then((list) => {
      const p = (list || []).find((x) => x.id === m[1]);
      const link = box.querySelector('a');
      if (p && link) link.textContent = `Sign in with ${p.name}`;
    }).catch(() => {});
  }
  return box;
}
