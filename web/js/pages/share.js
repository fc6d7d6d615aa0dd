// A share link's page (/s/:id): the snapshot read-only, for anyone who has the
// link, signed in or not. User messages are text; replies are the chat's
// sanitised Markdown. The page asks search engines not to index it (the API
// answers with `x-robots-tag: noindex` too).
import { h, replace } from '../dom.js';
import { request, enc } from '../api.js';
import { renderMarkdown } from '../markdown.js';
import { fmtDate } from '../dom.js';
import { loadError, spinner } from '../ui.js';
import { fmtBytes, typeName } from '../attachments.js';

/** A shared message's attachments: images shown, other files as links to their bytes. */
function sharedAttachments(list) {
  if (!list || !list.length) return null;
  return h('div', { class: 'msg-files' }, list.map((a, i) => {
    const what = `${a.name || `Attachment ${i + 1}`} (${typeName(a.media_type)}, ${fmtBytes(a.size)})`;
    if (a.type === 'image') return h('img', { class: 'msg-image', src: a.url, alt: what, loading: 'lazy' });
    return h('a', { class: 'file-chip', href: a.url, download: a.name || '' },
      h('span', { class: 'file-chip-icon', 'aria-hidden': 'true' }, a.media_type === 'application/pdf' ? 'PDF' : 'TXT'),
      h('span', { class: 'file-chip-name' }, what));
  }));
}

export function sharePage({ main, params, signal }) {
  const robots = h('meta', { name: 'robots', content: 'noindex, nofollow' });
  document.head.append(robots);
  const page = h('div', { class: 'page narrow share-page' });
  replace(main, page);

  async function load() {
    replace(page, spinner('Loading the conversation…'));
    try {
      const snap = await request('GET', `/api/shares/${enc(params.id)}`, { auth: false, signal });
      document.title = `${snap.title} · shared · chatgate`;
      replace(page,
        h('h1', { tabindex: '-1', class: 'page-title' }, snap.title),
        h('p', { class: 'muted small' }, `A read-only copy shared on ${fmtDate(snap.created_at)}.`),
        h('div', { class: 'messages share-messages' }, snap.messages.map((m) => {
          const isUser = m.role === 'user';
          const body = isUser ? (m.content ? h('div', { class: 'msg-body msg-text' }, m.content) : null)
            : h('div', { class: 'msg-body md' }, renderMarkdown(m.content));
          const attached = sharedAttachments(m.attachments);
          return h('article', { class: ['msg', isUser ? 'msg-user' : 'msg-assistant'], 'data-role': m.role },
            h('div', { class: 'msg-meta' },
              h('span', { class: 'msg-role' }, isUser ? 'User' : 'Assistant'),
              !isUser && m.model ? h('span', { class: 'msg-model' }, m.model) : null),
            attached, body);
        })));
    } catch (e) {
      if (e.name === 'AbortError') return;
      document.title = 'Shared conversation · chatgate';
      replace(page, e.status === 404
        ? [h('h1', { tabindex: '-1', class: 'page-title' }, 'This link does not work'),
          h('p', null, 'It may have been revoked, or its conversation deleted.')]
        : loadError(e, load));
    }
  }
  load();
  return { destroy() { robots.remove(); } };
}
