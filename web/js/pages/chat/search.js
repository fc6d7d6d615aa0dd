// Search in the chat's sidebar: GET /api/search as one types, the matches with
// their snippets (matched words between U+0002 and U+0003, shown as <mark>,
// everything else as text), each a link to its conversation that scrolls to
// the message (`#msg-<id>`, read by jumpToMessage).
import { h, replace, clear } from '../../dom.js';
import { api, itemsOf, enc } from '../../api.js';
import { navigate } from '../../router.js';
import { loadError, spinner } from '../../ui.js';

const START = '\u0002';
const END = '\u0003';
const DEBOUNCE_MS = 250;

/** A snippet as nodes: text, and the marked matches as <mark> (never HTML). */
export function snippetNodes(snippet) {
  const out = [];
  let rest = String(snippet || '');
  while (rest) {
    const s = rest.indexOf(START);
    if (s < 0) { out.push(rest); break; }
    if (s > 0) out.push(rest.slice(0, s));
    const e = rest.indexOf(END, s + 1);
    const word = e < 0 ? rest.slice(s + 1) : rest.slice(s + 1, e);
    out.push(h('mark', null, word));
    rest = e < 0 ? '' : rest.slice(e + 1);
  }
  return out;
}

/**
 * The search box and its results. `orgId()` is the organization shown,
 * `convHref(id)` a conversation's link, `onSearching(bool)` says whether the
 * results are showing (the conversation list hides meanwhile), `onOpen()` runs
 * when a match is opened.
 */
export function searchBox({ orgId, convHref, onSearching, onOpen }) {
  const input = h('input', {
    type: 'search', id: 'conv-search', class: 'input input-small', placeholder: 'Search conversations',
    autocomplete: 'off', maxlength: 200, 'aria-controls': 'search-results',
  });
  const results = h('ul', { class: 'conv-list search-results', id: 'search-results', 'aria-label': 'Search results' });
  const status = h('div', { class: 'list-status', role: 'status' });
  const panel = h('div', { class: 'search-panel', hidden: true }, results, status);
  let timer = 0;
  let seq = 0;

  function close() {
    panel.hidden = true;
    clear(results);
    clear(status);
    onSearching(false);
  }

  function hit(item) {
    const href = convHref(item.conversation_id) + (item.message_id ? `#msg-${enc(item.message_id)}` : '');
    const a = h('a', { href, class: 'conv-link search-hit' },
      h('span', { class: 'conv-title' }, item.title || 'Untitled conversation'),
      h('span', { class: 'search-snippet' }, snippetNodes(item.snippet)));
    a.addEventListener('click', (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(href);
      if (onOpen) onOpen();
    });
    return h('li', null, a);
  }

  async function run(cursor = null) {
    const q = input.value.trim();
    if (!q) { close(); return; }
    const mine = ++seq;
    panel.hidden = false;
    onSearching(true);
    if (!cursor) clear(results);
    replace(status, spinner('Searching…'));
    try {
      const res = await api.get('/api/search', { query: { q, org_id: orgId(), limit: 20, cursor } });
      if (mine !== seq) return;
      const items = itemsOf(res);
      for (const item of items) results.append(hit(item));
      if (res.next_cursor) {
        replace(status, h('button', {
          type: 'button', class: 'btn btn-ghost btn-small btn-block', onclick: () => run(res.next_cursor),
        }, 'More matches'));
      } else if (!results.childElementCount) {
        replace(status, h('p', { class: 'muted small' }, 'No matches.'));
      } else clear(status);
    } catch (e) {
      if (mine !== seq) return;
      replace(status, e.status === 400 ? h('p', { class: 'muted small' }, e.detail) : loadError(e, () => run(cursor)));
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => run(), DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); clearTimeout(timer); run(); }
    if (e.key === 'Escape' && input.value) { e.preventDefault(); input.value = ''; close(); }
  });
  input.addEventListener('search', () => { if (!input.value) close(); });

  const form = h('div', { role: 'search', class: 'field field-compact' },
    h('label', { for: 'conv-search', class: 'sr-only' }, 'Search conversations'), input);
  return { form, panel, reset: () => { input.value = ''; close(); } };
}

/**
 * Scrolls to the message a link's `#msg-<id>` names, loading earlier pages
 * (`loadOlder()`, false when there are none) until it is there; marks it.
 */
export async function jumpToMessage(log, loadOlder) {
  const m = /^#msg-(.+)$/.exec(location.hash);
  if (!m) return;
  const id = decodeURIComponent(m[1]);
  const find = () => [...log.querySelectorAll('.msg')].find((el) => el.dataset.id === id);
  let el = find();
  for (let pages = 0; !el && pages < 20; pages += 1) {
    if (!(await loadOlder())) break;
    el = find();
  }
  if (!el) return;
  for (const old of log.querySelectorAll('.msg-found')) old.classList.remove('msg-found');
  el.classList.add('msg-found');
  el.setAttribute('tabindex', '-1');
  el.scrollIntoView({ block: 'center' });
  el.focus({ preventScroll: true });
}
