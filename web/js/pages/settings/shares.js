// Settings › Share links: the caller's links to read-only copies of their
// conversations, each with its page and a Revoke button.
import { h, replace, timeEl } from '../../dom.js';
import { api, listAll, enc } from '../../api.js';
import { announce, busy, loadError, section, spinner, table, toast } from '../../ui.js';

export function shareLinks(root, signal) {
  const listBox = h('div', null, spinner('Loading share links…'));
  async function load() {
    replace(listBox, spinner('Loading share links…'));
    try {
      const rows = await listAll('/api/me/shares', { signal });
      replace(listBox, table([
        { label: 'Conversation', cell: (s) => h('a', { href: `/chat/${enc(s.conversation_id)}` }, s.title) },
        { label: 'Messages', cell: (s) => (s.include_attachments ? `${s.message_count}, with attachments` : String(s.message_count)) },
        { label: 'Created', cell: (s) => timeEl(s.created_at) },
        { label: 'Link', cell: (s) => h('a', { href: s.url, target: '_blank', rel: 'noopener noreferrer' }, 'Open') },
        {
          label: 'Actions',
          class: 'cell-actions',
          cell: (s) => {
            const b = h('button', { type: 'button', class: 'btn btn-small btn-danger-text', 'aria-label': `Revoke the link to ${s.title}` }, 'Revoke');
            b.addEventListener('click', () => busy(b, async () => {
              await api.del(`/api/shares/${enc(s.id)}`);
              announce('Share link revoked');
              toast('Share link revoked');
              await load();
            }).catch((e) => toast(e.detail, 'error')));
            return b;
          },
        },
      ], rows, { caption: 'Share links', empty: 'You have not shared any conversation.' }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(listBox, loadError(e, load));
    }
  }
  load();
  root.append(section('Share links',
    h('p', { class: 'muted' }, 'Read-only copies of your conversations that anyone with the link can open. Revoking a link, or deleting its conversation, stops it working.'),
    listBox));
}
