// Organizations: list + create, and for one org: members and roles,
// invitations, settings (enabled models, monthly token limit, custom
// instructions) and usage (table + chart by day).
import { h, replace, clear, timeEl, fmtNum, fmtMicros } from '../dom.js';
import { api, listAll, itemsOf, enc } from '../api.js';
import { navigate } from '../router.js';
import { state, loadMe, orgs, isAdmin, forgetModels } from '../state.js';
import {
  alertBox, announce, badge, busy, confirmDialog, copyButton, dialog, field, loadError, pageTitle, section, spinner, table, toast,
} from '../ui.js';
import { ssoField, ssoRequired } from './oauth.js';
import { oauthClients } from './openid.js';

const ROLES = ['member', 'admin', 'owner'];
const SUGGESTED_MODELS = ['demo/echo', 'openai/gpt-4o-mini', 'openai/gpt-4o', 'anthropic/claude-3-5-haiku-latest', 'anthropic/claude-sonnet-4-5', 'gemini/gemini-2.0-flash'];

export function orgsPage({ main }) {
  document.title = 'Organizations · chatgate';
  const alert = alertBox();
  const name = field({ label: 'Name', required: true, maxlength: 100 });
  const create = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create organization');
  const form = h('form', { class: 'form form-inline' }, alert.el, name.wrap, h('div', { class: 'actions' }, create));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    name.setError(null);
    if (!name.input.value.trim()) { name.setError('Enter a name.'); name.input.focus(); return; }
    busy(create, async () => {
      const org = await api.post('/api/orgs', { name: name.input.value.trim() });
      await loadMe();
      toast('Organization created');
      navigate(`/orgs/${enc(org.id)}`);
    }, alert);
  });
  const list = orgs();
  replace(main, h('div', { class: 'page' },
    pageTitle('Organizations'),
    section('Your organizations',
      list.length ? h('ul', { class: 'org-list' }, list.map((o) => h('li', null,
        h('a', { href: `/orgs/${enc(o.id)}`, class: 'org-link' }, h('span', { class: 'org-name' }, o.name), badge(o.role)))))
        : h('p', { class: 'empty' }, 'You are not in any organization.')),
    section('New organization', h('p', { class: 'muted' }, 'You become its owner and can invite others.'), form)));
}

const SECTIONS = [
  ['members', 'Members', false],
  ['invitations', 'Invitations', true],
  ['settings', 'Settings', true],
  ['usage', 'Usage', true],
  ['apps', 'OAuth apps', true],
];

export async function orgPage({ main, params, signal }) {
  const content = h('div', { class: 'subpage' });
  const nav = h('nav', { class: 'subnav', 'aria-label': 'Organization sections' });
  const title = pageTitle('Organization');
  replace(main, h('div', { class: 'page' }, h('p', { class: 'crumbs' }, h('a', { href: '/orgs' }, 'Organizations')), title, h('div', { class: 'with-subnav' }, nav, content)));
  replace(content, spinner('Loading organization…'));

  let org;
  let orgId = params.org;
  let ctrl = null;

  async function load(id) {
    orgId = id;
    replace(content, spinner('Loading organization…'));
    clear(nav);
    try {
      org = await api.get(`/api/orgs/${enc(id)}`, { signal });
    } catch (e) {
      if (e.name === 'AbortError') return false;
      title.querySelector('h1').textContent = e.status === 404 ? 'Organization not found' : 'Organization';
      replace(content, e.status === 404 ? h('p', null, 'It does not exist, or you are not a member. ', h('a', { href: '/orgs' }, 'See your organizations'))
        : e.code === 'sso_required' ? ssoRequired(e, `/orgs/${enc(id)}`) : loadError(e, () => show(params)));
      return false;
    }
    if (!org.role) org.role = (orgs().find((o) => o.id === id) || {}).role || 'member';
    title.querySelector('h1').textContent = org.name;
    return true;
  }

  async function show(p) {
    if (!org || org.id !== p.org) {
      if (!(await load(p.org))) return;
    }
    const admin = isAdmin(org.role);
    const visible = SECTIONS.filter(([, , adminOnly]) => !adminOnly || admin);
    const sec = visible.find(([k]) => k === p.section) ? p.section : 'members';
    replace(nav, visible.map(([k, label]) => h('a', { href: `/orgs/${enc(org.id)}/${k}`, class: 'subnav-link', 'aria-current': k === sec ? 'page' : null }, label)));
    document.title = `${visible.find(([k]) => k === sec)[1]} · ${org.name} · chatgate`;
    if (ctrl) ctrl.abort();
    ctrl = new AbortController();
    const render = { members, invitations, settings, usage, apps: oauthClients }[sec];
    replace(content);
    render(content, { org, admin, signal: ctrl.signal, reload: () => { org = null; return show(p); } });
  }

  signal.addEventListener('abort', () => ctrl && ctrl.abort());
  await show(params);
  void orgId;
  return {
    update(p) {
      show(p).then(() => {
        const h1 = main.querySelector('h1');
        if (h1 && !main.contains(document.activeElement)) h1.focus();
      });
    },
  };
}

// ---------- members ----------
function members(root, { org, admin, signal }) {
  const box = h('div', null, spinner('Loading members…'));
  const myId = state.me.id;
  const canManage = (m) => admin && (org.role === 'owner' || m.role !== 'owner');

  async function load() {
    try {
      const rows = await listAll(`/api/orgs/${enc(org.id)}/members`, { signal });
      const owners = rows.filter((m) => m.role === 'owner').length;
      replace(box, table([
        { label: 'Name', cell: (m) => h('span', null, m.name || '—', m.user_id === myId ? [' ', badge('You', 'info')] : null) },
        { label: 'Email', cell: (m) => m.email },
        {
          label: 'Role',
          cell: (m) => {
            if (!canManage(m) || (m.role === 'owner' && owners <= 1)) return badge(m.role);
            const options = org.role === 'owner' ? ROLES : ROLES.filter((r) => r !== 'owner');
            const sel = h('select', { class: 'input input-small', 'aria-label': `Role of ${m.name || m.email}` },
              options.map((r) => h('option', { value: r, selected: r === m.role }, r)));
            sel.addEventListener('change', async () => {
              sel.disabled = true;
              try {
                await api.patch(`/api/orgs/${enc(org.id)}/members/${enc(m.user_id)}`, { role: sel.value });
                toast(`${m.name || m.email} is now ${sel.value}`);
                if (m.user_id === myId) await loadMe();
                await load();
              } catch (e) {
                toast(e.detail, 'error');
                sel.value = m.role;
              } finally {
                sel.disabled = false;
              }
            });
            return sel;
          },
        },
        { label: 'Joined', cell: (m) => timeEl(m.joined_at) },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (m) => {
            const self = m.user_id === myId;
            if (!self && !canManage(m)) return '';
            if (m.role === 'owner' && owners <= 1) return h('span', { class: 'muted small' }, 'Last owner');
            const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text' }, self ? 'Leave' : 'Remove');
            if (!self) b.setAttribute('aria-label', `Remove ${m.name || m.email}`);
            b.addEventListener('click', async () => {
              const ok = await confirmDialog(self ? `Leave ${org.name}?` : 'Remove member?',
                self ? 'You will lose access to its conversations and settings.' : `${m.name || m.email} will lose access to ${org.name}.`,
                self ? 'Leave' : 'Remove');
              if (!ok) return;
              busy(b, async () => {
                await api.del(`/api/orgs/${enc(org.id)}/members/${enc(m.user_id)}`);
                if (self) {
                  await loadMe();
                  forgetModels();
                  navigate('/orgs');
                  return;
                }
                toast('Member removed');
                await load();
              }).catch((e) => toast(e.detail, 'error'));
            });
            return b;
          },
        },
      ], rows, { caption: 'Members' }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(box, loadError(e, load));
    }
  }
  load();
  root.append(section('Members', box),
    admin ? h('p', { class: 'muted small' }, 'Owners manage everything; admins manage settings, members and invitations; members chat and manage their own keys.') : null);
}

// ---------- invitations ----------
function invitations(root, { org, signal }) {
  const alert = alertBox();
  const email = field({ label: 'Email', type: 'email', required: true, autocomplete: 'off', spellcheck: 'false' });
  const role = field({ label: 'Role', type: 'select', options: org.role === 'owner' ? ROLES : ROLES.filter((r) => r !== 'owner') });
  const invite = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create invitation');
  const created = h('div', { class: 'reveal-box', hidden: true, tabindex: '-1' });
  const form = h('form', { class: 'form form-grid' }, alert.el, email.wrap, role.wrap, h('div', { class: 'actions' }, invite));
  const listBox = h('div', null, spinner('Loading invitations…'));
  const local = []; // invitations made here, in case the server does not list them

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    email.setError(null);
    if (!/^[^\s@]+@[^\s@]+$/.test(email.input.value.trim())) { email.setError('Enter a valid email address.'); email.input.focus(); return; }
    busy(invite, async () => {
      const to = email.input.value.trim();
      const inv = await api.post(`/api/orgs/${enc(org.id)}/invitations`, { email: to, role: role.input.value });
      const link = `${location.origin}/invite?token=${encodeURIComponent(inv.token)}`;
      local.unshift({ ...inv, email: inv.email || to, role: inv.role || role.input.value });
      form.reset();
      replace(created,
        h('h3', { class: 'reveal-title' }, `Invitation for ${to}`),
        h('p', null, 'Send this link to them. ', h('strong', null, 'It is shown only once'), `; it expires ${inv.expires_at ? new Date(inv.expires_at).toLocaleString() : 'soon'}.`),
        h('div', { class: 'secret-row' }, h('code', { class: 'secret', id: 'invite-link' }, link), copyButton(link, 'Copy link')));
      created.hidden = false;
      created.focus();
      announce('Invitation created. Copy the link now.');
      load();
    }, alert);
  });

  async function load() {
    let rows;
    let listed = true;
    try {
      rows = await listAll(`/api/orgs/${enc(org.id)}/invitations`, { signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.status === 404 || e.status === 405) { rows = local; listed = false; } else { replace(listBox, loadError(e, load)); return; }
    }
    replace(listBox,
      listed ? null : h('p', { class: 'muted small' }, 'Showing the invitations created on this page.'),
      table([
        { label: 'Email', cell: (i) => i.email || '—' },
        { label: 'Role', cell: (i) => badge(i.role || 'member') },
        { label: 'Expires', cell: (i) => timeEl(i.expires_at) },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (i) => {
            const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Revoke invitation for ${i.email}` }, 'Revoke');
            b.addEventListener('click', async () => {
              const ok = await confirmDialog('Revoke invitation?', `The link sent to ${i.email || 'them'} will stop working.`, 'Revoke');
              if (!ok) return;
              busy(b, async () => {
                await api.del(`/api/orgs/${enc(org.id)}/invitations/${enc(i.id)}`);
                const idx = local.findIndex((x) => x.id === i.id);
                if (idx >= 0) local.splice(idx, 1);
                toast('Invitation revoked');
                await load();
              }).catch((e) => toast(e.detail, 'error'));
            });
            return b;
          },
        },
      ], rows, { caption: 'Pending invitations', empty: 'No pending invitations.' }));
  }
  load();
  root.append(section('Invite someone', form, created), section('Pending invitations', listBox));
}

// ---------- settings ----------
function settings(root, { org, reload }) {
  const s = org.settings || {};
  const alert = alertBox();
  const name = field({ label: 'Name', value: org.name, required: true, maxlength: 100 });

  const enabled = new Set(Array.isArray(s.enabled_models) ? s.enabled_models : []);
  const modelList = h('ul', { class: 'chips', 'aria-label': 'Enabled models' });
  function renderModels() {
    replace(modelList, [...enabled].map((m) => h('li', { class: 'chip' },
      h('span', null, m),
      h('button', {
        type: 'button', class: 'chip-remove', 'aria-label': `Remove ${m}`,
        onclick: () => { enabled.delete(m); renderModels(); announce(`${m} removed`); addInput.focus(); },
      }, '×'))));
    if (!enabled.size) modelList.append(h('li', { class: 'muted small' }, 'None listed: members may use every configured model.'));
  }
  const addInput = h('input', { id: 'add-model', class: 'input', list: 'model-suggestions', placeholder: 'provider/model', autocomplete: 'off', spellcheck: 'false' });
  const datalist = h('datalist', { id: 'model-suggestions' }, SUGGESTED_MODELS.map((m) => h('option', { value: m })));
  const addErr = h('p', { class: 'field-error', hidden: true, id: 'add-model-err' });
  addInput.setAttribute('aria-describedby', 'add-model-hint add-model-err');
  const addBtn = h('button', { type: 'button', class: 'btn' }, 'Add');
  function addModel() {
    const v = addInput.value.trim();
    addErr.hidden = true;
    if (!v) return;
    if (!/^(openai|anthropic|gemini|demo)\/[\w.:@-]+$/.test(v)) {
      addErr.textContent = 'Use provider/model, with provider openai, anthropic, gemini or demo.';
      addErr.hidden = false;
      addInput.focus();
      return;
    }
    enabled.add(v);
    addInput.value = '';
    renderModels();
    announce(`${v} added`);
  }
  addBtn.addEventListener('click', addModel);
  addInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addModel(); } });
  renderModels();

  const limit = field({
    label: 'Monthly token limit', type: 'number', min: 1, step: 1, inputmode: 'numeric', optional: true,
    value: s.monthly_token_limit == null ? '' : String(s.monthly_token_limit),
    hint: 'Prompt and completion tokens per calendar month for the whole organization. Empty means no limit.',
  });
  const rpm = field({
    label: 'API key rate limit', type: 'number', min: 1, max: 100000, step: 1, inputmode: 'numeric', optional: true,
    value: s.rate_limit_rpm == null ? '' : String(s.rate_limit_rpm),
    hint: 'Requests per minute for each API key of this organization. Empty means the service default.',
  });
  const retention = field({
    label: 'Keep conversations for (days)', type: 'number', min: 1, max: 3650, step: 1, inputmode: 'numeric', optional: true,
    value: s.conversation_retention_days == null ? '' : String(s.conversation_retention_days),
    hint: 'Conversations with no activity for longer are deleted with their messages. Empty keeps them.',
  });
  const instructions = field({
    label: 'Custom instructions', type: 'textarea', rows: 5, maxlength: 8000, optional: true,
    value: s.custom_instructions || '', hint: 'Sent to the model with every conversation in this organization.',
  });
  const sso = ssoField(s.sso);
  const require2fa = h('input', { type: 'checkbox', id: 'require-2fa', 'aria-describedby': 'require-2fa-hint' });
  require2fa.checked = !!s.require_2fa;
  const require2faBox = h('div', { class: 'field' },
    h('div', { class: 'check' }, require2fa, h('label', { for: 'require-2fa' }, 'Require two-step verification')),
    h('p', { class: 'hint', id: 'require-2fa-hint' }, 'Members without two-step verification on cannot use this organization (its chats, keys and settings) until they turn it on. You need it on yourself to require it.'));
  const save = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save settings');
  const form = h('form', { class: 'form' }, alert.el, name.wrap,
    h('fieldset', { class: 'fieldset' }, h('legend', null, 'Enabled models'),
      h('p', { class: 'hint', id: 'add-model-hint' }, 'Members can choose these models. An empty list allows every configured model; demo/echo needs no provider key.'),
      modelList,
      h('div', { class: 'input-row' }, h('label', { for: 'add-model', class: 'sr-only' }, 'Add a model'), addInput, addBtn), datalist, addErr),
    limit.wrap, rpm.wrap, retention.wrap, instructions.wrap, sso.wrap, require2faBox, h('div', { class: 'actions' }, save));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    name.setError(null);
    limit.setError(null);
    rpm.setError(null);
    retention.setError(null);
    if (!name.input.value.trim()) { name.setError('Enter a name.'); name.input.focus(); return; }
    const raw = limit.input.value.trim();
    if (raw && !(/^[1-9]\d*$/.test(raw))) { limit.setError('Enter a whole number of at least 1, or leave it empty for no limit.'); limit.input.focus(); return; }
    const rawRpm = rpm.input.value.trim();
    if (rawRpm && !(/^[1-9]\d*$/.test(rawRpm) && Number(rawRpm) <= 100000)) { rpm.setError('Enter a whole number from 1 to 100000, or leave it empty.'); rpm.input.focus(); return; }
    const rawRetention = retention.input.value.trim();
    if (rawRetention && !(/^[1-9]\d*$/.test(rawRetention) && Number(rawRetention) <= 3650)) { retention.setError('Enter a whole number of days from 1 to 3650, or leave it empty.'); retention.input.focus(); return; }
    busy(save, async () => {
      const settingsBody = {
        ...s,
        enabled_models: [...enabled],
        monthly_token_limit: raw ? Number(raw) : null,
        rate_limit_rpm: rawRpm ? Number(rawRpm) : null,
        conversation_retention_days: rawRetention ? Number(rawRetention) : null,
        custom_instructions: instructions.input.value,
        require_2fa: require2fa.checked,
      };
      if (!settingsBody.features) settingsBody.features = {};
      settingsBody.sso = sso.value();
      if (!settingsBody.sso) delete settingsBody.sso;
      await api.patch(`/api/orgs/${enc(org.id)}`, { name: name.input.value.trim(), settings: settingsBody });
      forgetModels();
      await loadMe();
      toast('Settings saved');
      announce('Settings saved');
      await reload();
    }, alert);
  });

  const danger = org.role === 'owner' ? section('Delete organization',
    h('p', null, 'Deletes the organization with its settings, keys and conversations.'),
    h('button', {
      type: 'button',
      class: 'btn btn-danger',
      onclick: async () => {
        const confirmName = field({ label: `Type “${org.name}” to confirm`, required: true });
        const ok = await dialog({
          title: `Delete ${org.name}?`,
          body: [h('p', null, 'This cannot be undone.'), confirmName.wrap],
          actions: [{ label: 'Cancel', value: null }, { label: 'Delete organization', kind: 'danger', value: true }],
          onConfirm: async () => {
            if (confirmName.input.value.trim() !== org.name) { confirmName.setError('The name does not match.'); return false; }
            await api.del(`/api/orgs/${enc(org.id)}`);
            return true;
          },
        });
        if (ok) {
          await loadMe();
          toast('Organization deleted');
          navigate('/orgs');
        }
      },
    }, 'Delete organization')) : null;

  const exportAlert = alertBox();
  const exportBtn = h('button', { type: 'button', class: 'btn' }, 'Download export');
  exportBtn.addEventListener('click', () => busy(exportBtn, async () => {
    // The first file has everything; later ones (`next_cursor`) only more conversations.
    const file = await api.get(`/api/orgs/${enc(org.id)}/export`);
    for (let cursor = file.next_cursor; cursor;) {
      const more = await api.get(`/api/orgs/${enc(org.id)}/export`, { query: { cursor } });
      file.conversations.push(...more.conversations);
      cursor = more.next_cursor;
    }
    file.next_cursor = null;
    const url = URL.createObjectURL(new Blob([JSON.stringify(file, null, 2)], { type: 'application/json' }));
    const a = h('a', { href: url, download: `chatgate-${org.id}-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce('Export downloaded');
  }, exportAlert));
  const exporting = org.role === 'owner' ? section('Export data',
    exportAlert.el,
    h('p', null, 'A JSON file with the members, settings, usage, voice sessions, audit log and every conversation with its messages.'),
    exportBtn) : null;

  root.append(section('Settings', form), exporting, danger);
}

// ---------- usage ----------
function isoDay(d) { return d.toISOString().slice(0, 10); }

function usage(root, { org, signal }) {
  usageSection(root, {
    path: `/api/orgs/${enc(org.id)}/usage`,
    groups: [['day', 'Day'], ['model', 'Model'], ['user', 'User']],
    names: (by) => (by === 'user' ? listAll(`/api/orgs/${enc(org.id)}/members`, { signal }).catch(() => [])
      .then((people) => new Map(people.map((m) => [m.user_id, m.name ? `${m.name} (${m.email})` : m.email]))) : null),
    monthlyLimit: org.settings ? org.settings.monthly_token_limit : null,
    signal,
  });
}

/**
 * Usage from `path` (an org's, or the whole service's in the console): a period, a grouping
 * of `groups` ([value, label]; `day` draws the chart), totals and the table. `names(by)`
 * may give a Map from a row's key to what to show for it (a user's name).
 */
export function usageSection(root, { path, groups, names = () => null, monthlyLimit = null, signal }) {
  const today = new Date();
  const from = field({ label: 'From', type: 'date', value: isoDay(new Date(today.getTime() - 29 * 86400e3)), max: isoDay(today) });
  const to = field({ label: 'To', type: 'date', value: isoDay(today), max: isoDay(today) });
  const group = field({ label: 'Group by', type: 'select', options: groups });
  const apply = h('button', { type: 'submit', class: 'btn' }, 'Show');
  const form = h('form', { class: 'form form-row', 'aria-label': 'Usage period' }, from.wrap, to.wrap, group.wrap, h('div', { class: 'actions' }, apply));
  const totals = h('div', { class: 'stats' });
  const chartBox = h('figure', { class: 'chart', hidden: true });
  const tableBox = h('div', null);
  let chart = null;

  async function load() {
    if (chart) { chart.destroy(); chart = null; }
    replace(tableBox, spinner('Loading usage…'));
    clear(totals);
    chartBox.hidden = true;
    const by = group.input.value;
    if (from.input.value > to.input.value) { replace(tableBox, h('p', { class: 'alert alert-error', role: 'alert' }, 'The start date is after the end date.')); return; }
    try {
      // `from` inclusive, `to` exclusive: through the end of the chosen day.
      const dayAfter = new Date(Date.parse(`${to.input.value}T00:00:00Z`) + 86400e3).toISOString().slice(0, 10);
      const [res, labels] = await Promise.all([
        api.get(path, { query: { from: from.input.value, to: dayAfter, group_by: by }, signal }),
        names(by),
      ]);
      const who = labels || new Map();
      let rows = itemsOf(res).map((r) => ({
        key: r.key, name: r.name, requests: Number(r.requests) || 0, prompt_tokens: Number(r.prompt_tokens) || 0,
        completion_tokens: Number(r.completion_tokens) || 0, cost_micros: Number(r.cost_micros) || 0,
        voice_seconds: Number(r.voice_seconds) || 0,
      }));
      if (by === 'day') rows = fillDays(rows, from.input.value, to.input.value);
      else rows.sort((a, b) => (b.prompt_tokens + b.completion_tokens) - (a.prompt_tokens + a.completion_tokens));
      const sum = rows.reduce((acc, r) => ({
        requests: acc.requests + r.requests,
        tokens: acc.tokens + r.prompt_tokens + r.completion_tokens,
        cost: acc.cost + r.cost_micros,
        voice: acc.voice + r.voice_seconds,
      }), { requests: 0, tokens: 0, cost: 0, voice: 0 });
      replace(totals,
        stat('Requests', fmtNum(sum.requests)),
        stat('Tokens', fmtNum(sum.tokens)),
        stat('Cost', fmtMicros(sum.cost)),
        stat('Voice minutes', fmtMinutes(sum.voice)),
        monthlyLimit != null ? stat('Monthly limit', fmtNum(monthlyLimit)) : null);
      const keyLabel = (groups.find(([k]) => k === by) || [by, by])[1];
      const shown = by === 'day' ? rows.slice().reverse() : rows;
      replace(tableBox, table([
        {
          label: keyLabel,
          cell: (r) => {
            if (by === 'day') return h('time', { datetime: r.key }, r.key);
            if (by === 'user') return r.key === 'deleted' ? h('span', { class: 'muted' }, 'Deleted user') : who.get(r.key) || r.key;
            return who.get(r.key) || r.name || r.key || '—';
          },
        },
        { label: 'Requests', class: 'num', cell: (r) => fmtNum(r.requests) },
        { label: 'Prompt tokens', class: 'num', cell: (r) => fmtNum(r.prompt_tokens) },
        { label: 'Completion tokens', class: 'num', cell: (r) => fmtNum(r.completion_tokens) },
        { label: 'Cost', class: 'num', cell: (r) => fmtMicros(r.cost_micros) },
        { label: 'Voice minutes', class: 'num', cell: (r) => fmtMinutes(r.voice_seconds) },
      ], by === 'day' ? shown.filter((r) => r.requests || r.prompt_tokens || r.completion_tokens || r.voice_seconds) : shown,
      { caption: `Usage by ${by}`, empty: 'No usage in this period.' }));
      if (by === 'day' && rows.length) {
        chartBox.hidden = false;
        replace(chartBox, h('figcaption', { class: 'chart-caption' }, 'Tokens per day'), h('div', { class: 'chart-canvas', 'aria-hidden': 'true' }),
          h('p', { class: 'sr-only' }, 'The same numbers are in the table below.'));
        const { drawUsageChart } = await import('./usage-chart.js');
        if (signal.aborted) return;
        chart = drawUsageChart(chartBox.querySelector('.chart-canvas'), rows);
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(tableBox, loadError(e, load));
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  signal.addEventListener('abort', () => { if (chart) chart.destroy(); });
  root.append(section('Usage', form, totals, chartBox, tableBox));
  load();
}

// Voice seconds as minutes, to a tenth.
function fmtMinutes(seconds) { return (Math.round(seconds / 6) / 10).toLocaleString(); }

function stat(label, value) {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}

function fillDays(rows, fromDay, toDay) {
  const byKey = new Map(rows.map((r) => [String(r.key).slice(0, 10), r]));
  const out = [];
  for (let t = Date.parse(`${fromDay}T00:00:00Z`); t <= Date.parse(`${toDay}T00:00:00Z`); t += 86400e3) {
    const k = new Date(t).toISOString().slice(0, 10);
    out.push(byKey.get(k) ? { ...byKey.get(k), key: k } : { key: k, requests: 0, prompt_tokens: 0, completion_tokens: 0, cost_micros: 0, voice_seconds: 0 });
  }
  return out;
}
