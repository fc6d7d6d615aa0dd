// The operator's console (service admins only: GET /api/me says `service_admin: true`):
// users (search, detail, disable / enable / delete), organizations (search, detail, budget,
// the service's provider keys), service-wide usage (the org pages' chart) and the audit log.
import { h, replace, timeEl, fmtNum } from '../dom.js';
import { api, itemsOf, enc } from '../api.js';
import { navigate } from '../router.js';
import { state } from '../state.js';
import {
  alertBox, announce, badge, busy, confirmDialog, field, loadError, pageTitle, section, spinner, table, toast,
} from '../ui.js';
import { usageSection } from './orgs.js';

const SECTIONS = [
  ['users', 'Users'],
  ['orgs', 'Organizations'],
  ['usage', 'Usage'],
  ['audit', 'Audit log'],
];

// store::audit::Action, for the log's filter.
const EVENT_TYPES = [
  'login.succeeded', 'login.failed', 'refresh.reuse_detected', 'session.revoked', 'password.changed', 'key.created',
  'key.revoked', 'member.role_changed', 'member.added', 'member.removed', 'org.settings_changed', 'email.verified',
  'email.change_requested', 'email.changed', 'password.reset_requested', 'password.reset', 'identity.linked',
  'identity.unlinked', '2fa.enabled', '2fa.disabled', 'mfa.failed', 'mfa.recovery_code_used', 'passkey.added',
  'passkey.renamed', 'passkey.removed', 'passkey.counter_regressed', 'admin.user_disabled', 'admin.user_enabled',
  'admin.user_deleted', 'admin.org_budget_changed', 'admin.org_service_keys_changed',
];

export function isServiceAdmin() {
  return !!(state.me && state.me.service_admin);
}

export async function adminPage({ main, params, query, signal }) {
  if (!isServiceAdmin()) {
    document.title = 'Not found · chatgate';
    replace(main, h('div', { class: 'page narrow' },
      h('h1', { tabindex: '-1', class: 'page-title' }, 'Page not found'),
      h('p', null, 'There is nothing at this address. '),
      h('p', null, h('a', { href: '/chat', class: 'btn btn-primary' }, 'Go to your chats'))));
    return null;
  }
  const content = h('div', { class: 'subpage' });
  const nav = h('nav', { class: 'subnav', 'aria-label': 'Console sections' });
  replace(main, h('div', { class: 'page' }, pageTitle('Admin'), h('div', { class: 'with-subnav' }, nav, content)));
  let ctrl = null;

  function show(p, q) {
    const sec = SECTIONS.find(([k]) => k === p.section) ? p.section : 'users';
    replace(nav, SECTIONS.map(([k, label]) => h('a', { href: `/admin/${k}`, class: 'subnav-link', 'aria-current': k === sec ? 'page' : null }, label)));
    document.title = `${SECTIONS.find(([k]) => k === sec)[1]} · Admin · chatgate`;
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    replace(content);
    const opts = { signal: ctrl.signal, query: q };
    if (sec === 'users') (p.id ? userDetail : users)(content, { ...opts, id: p.id });
    else if (sec === 'orgs') (p.id ? orgDetail : orgsList)(content, { ...opts, id: p.id });
    else if (sec === 'usage') usage(content, opts);
    else audit(content, opts);
  }

  signal.addEventListener('abort', () => ctrl && ctrl.abort());
  show(params, query);
  return {
    update(p, q) {
      show(p, q);
      const h1 = main.querySelector('h1');
      if (h1 && !main.contains(document.activeElement)) h1.focus();
    },
  };
}

/** A search form and a paged list of `path` (`?q=`), with "Show more". */
function searchList(root, { title, label, hint, path, query, signal, columns, empty, base }) {
  const q = field({ label, type: 'search', value: query.get('q') || '', hint, maxlength: 254 });
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Search');
  const form = h('form', { class: 'form form-row', role: 'search', 'aria-label': title }, q.wrap, h('div', { class: 'actions' }, submit));
  const results = h('div', null);
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Show more');
  let rows = [];
  let cursor = null;

  async function load(append) {
    if (!append) { rows = []; cursor = null; replace(results, spinner('Searching…')); }
    try {
      const res = await api.get(path, { query: { q: q.input.value.trim(), limit: 50, cursor }, signal });
      rows = rows.concat(itemsOf(res));
      cursor = res.next_cursor;
      replace(results, table(columns, rows, { caption: title, empty }));
      more.hidden = !cursor;
      if (!append) announce(`${rows.length}${cursor ? '+' : ''} result${rows.length === 1 ? '' : 's'}`);
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(results, loadError(e, () => load(append)));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = q.input.value.trim();
    history.replaceState(null, '', v ? `${base}?q=${enc(v)}` : base);
    load(false);
  });
  more.addEventListener('click', () => busy(more, () => load(true)));
  root.append(section(title, form, results, h('div', { class: 'actions' }, more)));
  load(false);
}

// ---------- users ----------
function users(root, { query, signal }) {
  searchList(root, {
    title: 'Users',
    label: 'Email, name or id',
    hint: 'Part of an address or a name, or a whole user id.',
    path: '/api/admin/users',
    base: '/admin/users',
    query,
    signal,
    empty: 'No account matches.',
    columns: [
      { label: 'Email', cell: (u) => h('a', { href: `/admin/users/${enc(u.id)}` }, u.email) },
      { label: 'Name', cell: (u) => u.name },
      { label: 'Status', cell: (u) => userStatus(u) },
      { label: 'Joined', cell: (u) => timeEl(u.created_at) },
    ],
  });
}

function userStatus(u) {
  return h('span', null,
    u.disabled_at ? badge('Disabled', 'error') : badge('Active', 'success'),
    ' ',
    u.email_verified ? null : badge('Unverified', 'warn'));
}

function crumbs(href, label) {
  return h('p', { class: 'crumbs' }, h('a', { href }, label));
}

async function userDetail(root, { id, signal }) {
  replace(root, spinner('Loading account…'));
  let user;
  try {
    user = await api.get(`/api/admin/users/${enc(id)}`, { signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    replace(root, crumbs('/admin/users', 'Users'), e.status === 404 ? h('p', null, 'There is no such account.') : loadError(e, () => userDetail(root, { id, signal })));
    return;
  }
  render();

  function render() {
    const alert = alertBox();
    const self = user.id === state.me.id;
    const toggle = h('button', { type: 'button', class: ['btn', user.disabled_at ? 'btn-primary' : 'btn-danger'], disabled: self }, user.disabled_at ? 'Enable account' : 'Disable account');
    const remove = h('button', { type: 'button', class: 'btn btn-danger', disabled: self }, 'Delete account');
    toggle.addEventListener('click', async () => {
      const disabling = !user.disabled_at;
      if (disabling && !(await confirmDialog('Disable this account?', `${user.email} is signed out everywhere at once; their API keys and every sign-in are refused until you enable the account again.`, 'Disable'))) return;
      await busy(toggle, async () => {
        user = await api.post(`/api/admin/users/${enc(user.id)}/${disabling ? 'disable' : 'enable'}`, {}, { signal });
        toast(disabling ? 'Account disabled' : 'Account enabled');
        render();
        announce(disabling ? 'Account disabled' : 'Account enabled');
      }, alert);
    });
    remove.addEventListener('click', async () => {
      if (!(await confirmDialog('Delete this account?', `${user.email} and everything it alone owns (conversations, keys, organizations where it is the only owner) are deleted for good.`, 'Delete account'))) return;
      await busy(remove, async () => {
        await api.del(`/api/admin/users/${enc(user.id)}`, { signal });
        toast('Account deleted');
        navigate('/admin/users');
      }, alert);
    });
    replace(root,
      crumbs('/admin/users', 'Users'),
      section(user.email,
        h('dl', { class: 'facts' },
          fact('Name', user.name),
          fact('User id', h('code', null, user.id)),
          fact('Status', userStatus(user)),
          user.disabled_at ? fact('Disabled', timeEl(user.disabled_at)) : null,
          fact('Joined', timeEl(user.created_at)),
          user.service_admin ? fact('Role', badge('Service admin', 'info')) : null),
        self ? h('p', { class: 'muted' }, 'This is your own account: another service admin can disable or delete it.') : null,
        alert.el,
        h('div', { class: 'actions' }, toggle, remove),
        h('p', null, h('a', { href: `/admin/audit?actor=${enc(user.id)}` }, 'Events this user did'))),
      section('Organizations', table([
        { label: 'Organization', cell: (o) => h('a', { href: `/admin/orgs/${enc(o.id)}` }, o.name) },
        { label: 'Role', cell: (o) => badge(o.role) },
      ], user.orgs, { caption: 'Organizations', empty: 'In no organization.' })),
      section('Sessions', table([
        { label: 'Device', cell: (s) => s.user_agent || '—' },
        { label: 'Address', cell: (s) => s.ip },
        { label: 'Signed in', cell: (s) => timeEl(s.created_at) },
        { label: 'Last used', cell: (s) => timeEl(s.last_used_at, true) },
      ], user.sessions, { caption: 'Live sessions', empty: 'No live session.' })),
      section('API keys', table([
        { label: 'Name', cell: (k) => k.name },
        { label: 'Key', cell: (k) => h('code', null, `${k.prefix}…`) },
        { label: 'Organization', cell: (k) => h('a', { href: `/admin/orgs/${enc(k.org_id)}` }, k.org_id) },
        { label: 'Last used', cell: (k) => (k.last_used_at ? timeEl(k.last_used_at, true) : 'Never') },
      ], user.keys, { caption: 'API keys', empty: 'No API key.' })),
      section('Usage this month', table([
        { label: 'Model', cell: (r) => r.key },
        { label: 'Requests', class: 'num', cell: (r) => fmtNum(r.requests) },
        { label: 'Prompt tokens', class: 'num', cell: (r) => fmtNum(r.prompt_tokens) },
        { label: 'Completion tokens', class: 'num', cell: (r) => fmtNum(r.completion_tokens) },
      ], user.usage.items, { caption: 'Usage this month by model', empty: 'No usage this month.' })));
  }
}

function fact(label, value) {
  return [h('dt', null, label), h('dd', null, value)];
}

// ---------- organizations ----------
function orgsList(root, { query, signal }) {
  searchList(root, {
    title: 'Organizations',
    label: 'Name or id',
    hint: 'Part of a name, or a whole organization id.',
    path: '/api/admin/orgs',
    base: '/admin/orgs',
    query,
    signal,
    empty: 'No organization matches.',
    columns: [
      { label: 'Name', cell: (o) => h('a', { href: `/admin/orgs/${enc(o.id)}` }, o.name) },
      { label: 'Members', class: 'num', cell: (o) => fmtNum(o.members) },
      { label: 'Budget', class: 'num', cell: (o) => (o.settings.monthly_token_limit != null ? fmtNum(o.settings.monthly_token_limit) : '—') },
      { label: 'Service keys', cell: (o) => (o.service_keys ? 'On' : badge('Off', 'warn')) },
    ],
  });
}

async function orgDetail(root, { id, signal }) {
  replace(root, spinner('Loading organization…'));
  let org;
  let members;
  try {
    [org, members] = await Promise.all([
      api.get(`/api/admin/orgs/${enc(id)}`, { signal }),
      api.get(`/api/admin/orgs/${enc(id)}/members`, { query: { limit: 100 }, signal }),
    ]);
  } catch (e) {
    if (e.name === 'AbortError') return;
    replace(root, crumbs('/admin/orgs', 'Organizations'), e.status === 404 ? h('p', null, 'There is no such organization.') : loadError(e, () => orgDetail(root, { id, signal })));
    return;
  }
  render();

  function render() {
    const alert = alertBox();
    const limit = field({
      label: 'Monthly token budget', type: 'number', min: 1, step: 1, optional: true,
      value: org.settings.monthly_token_limit != null ? String(org.settings.monthly_token_limit) : '',
      hint: 'Empty: no budget of its own.',
    });
    const keysBox = h('input', { type: 'checkbox', id: `svc-${org.id}`, 'aria-describedby': `svc-${org.id}-hint` });
    keysBox.checked = !!org.service_keys;
    const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save');
    const form = h('form', { class: 'form' }, alert.el, limit.wrap,
      h('div', { class: 'field' },
        h('div', { class: 'check' }, keysBox, h('label', { for: keysBox.id }, "The service's provider keys serve this organization")),
        h('p', { class: 'hint', id: `svc-${org.id}-hint` }, "Off: only its members' and its own provider keys work; its admins cannot turn this back on.")),
      h('div', { class: 'actions' }, save));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      limit.setError(null);
      const raw = limit.input.value.trim();
      const n = raw === '' ? null : Number(raw);
      if (n != null && (!Number.isInteger(n) || n < 1)) { limit.setError('Enter a whole number of tokens, or leave it empty.'); limit.input.focus(); return; }
      busy(save, async () => {
        org = await api.patch(`/api/admin/orgs/${enc(org.id)}`, { monthly_token_limit: n, service_keys: keysBox.checked }, { signal });
        toast('Saved');
        render();
      }, alert);
    });
    const s = org.settings;
    replace(root,
      crumbs('/admin/orgs', 'Organizations'),
      section(org.name,
        h('dl', { class: 'facts' },
          fact('Organization id', h('code', null, org.id)),
          fact('Kind', org.personal ? 'Personal' : 'Shared'),
          fact('Created', timeEl(org.created_at)),
          fact('Members', fmtNum(org.members)),
          fact('Enabled models', s.enabled_models.length ? s.enabled_models.join(', ') : 'All'),
          fact('Rate limit', s.rate_limit_rpm != null ? `${fmtNum(s.rate_limit_rpm)} requests a minute per key` : 'The service default'),
          fact('Two-factor authentication', s.require_2fa ? 'Required' : 'Not required')),
        h('p', null, h('a', { href: `/admin/audit?org=${enc(org.id)}` }, 'Events in this organization'))),
      section('Budget and provider keys', form),
      section('Members', table([
        { label: 'Name', cell: (m) => h('a', { href: `/admin/users/${enc(m.user_id)}` }, m.name || m.email) },
        { label: 'Email', cell: (m) => m.email },
        { label: 'Role', cell: (m) => badge(m.role) },
        { label: 'Joined', cell: (m) => timeEl(m.joined_at) },
      ], itemsOf(members), { caption: 'Members', empty: 'No members.' }),
      members.next_cursor ? h('p', { class: 'muted' }, 'The first 100 members.') : null));
  }
}

// ---------- usage ----------
function usage(root, { signal }) {
  usageSection(root, {
    path: '/api/admin/usage',
    groups: [['day', 'Day'], ['org', 'Organization'], ['model', 'Model']],
    signal,
  });
}

// ---------- audit log ----------
function userLink(id) {
  return h('a', { href: `/admin/users/${enc(id)}` }, id);
}

/** The actor, whom they acted on, in which organization, from where. */
function who(e) {
  return h('span', { class: 'audit-who' },
    e.actor_id ? userLink(e.actor_id) : h('span', { class: 'muted' }, 'anonymous'),
    e.subject_id && e.subject_id !== e.actor_id ? [' on ', userLink(e.subject_id)] : null,
    e.org_id ? [' in ', h('a', { href: `/admin/orgs/${enc(e.org_id)}` }, e.org_id)] : null,
    e.ip ? [' ', h('span', { class: 'muted' }, `from ${e.ip}`)] : null);
}

function details(d) {
  const text = JSON.stringify(d || {});
  return h('code', { class: 'details', title: text.length > 160 ? text : null }, text.length > 160 ? `${text.slice(0, 160)}…` : text);
}

function audit(root, { query, signal }) {
  const type = field({ label: 'Event', type: 'select', options: [['', 'Any'], ...EVENT_TYPES.map((t) => [t, t])] });
  const actor = field({ label: 'Actor (user id)', value: query.get('actor') || '', maxlength: 64 });
  const org = field({ label: 'Organization id', value: query.get('org') || '', maxlength: 64 });
  const from = field({ label: 'From', type: 'date' });
  const to = field({ label: 'To', type: 'date' });
  if (query.get('type')) type.input.value = query.get('type');
  const submit = h('button', { type: 'submit', class: 'btn' }, 'Filter');
  const form = h('form', { class: 'form form-row', 'aria-label': 'Audit log filters' }, type.wrap, actor.wrap, org.wrap, from.wrap, to.wrap, h('div', { class: 'actions' }, submit));
  const results = h('div', null);
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, 'Show more');
  let rows = [];
  let cursor = null;

  async function load(append) {
    if (!append) { rows = []; cursor = null; replace(results, spinner('Loading events…')); }
    const dayAfter = to.input.value ? new Date(Date.parse(`${to.input.value}T00:00:00Z`) + 86400e3).toISOString().slice(0, 10) : '';
    try {
      const res = await api.get('/api/admin/audit', {
        query: { type: type.input.value, actor: actor.input.value.trim(), org: org.input.value.trim(), from: from.input.value, to: dayAfter, limit: 50, cursor },
        signal,
      });
      rows = rows.concat(itemsOf(res));
      cursor = res.next_cursor;
      replace(results, table([
        { label: 'When', cell: (e) => timeEl(e.created_at) },
        { label: 'Event', cell: (e) => h('code', null, e.type) },
        { label: 'Who', cell: (e) => who(e) },
        { label: 'Details', cell: (e) => details(e.details) },
      ], rows, { caption: 'Audit events', empty: 'No event matches.' }));
      more.hidden = !cursor;
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(results, loadError(e, () => load(append)));
    }
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(false); });
  more.addEventListener('click', () => busy(more, () => load(true)));
  root.append(section('Audit log', form, results, h('div', { class: 'actions' }, more)));
  load(false);
}
