// The conversation's Share action: makes a link to a read-only copy of the
// conversation as it is now, and shows it to copy. Links are listed (and
// revoked) in Settings › Share links.
import { h } from '../../dom.js';
import { api, enc } from '../../api.js';
import { copyButton, dialog, toast } from '../../ui.js';

export async function shareConversation(conv) {
  let link;
  try {
    link = await api.post(`/api/conversations/${enc(conv.id)}/shares`, {});
  } catch (e) {
    toast(e.detail, 'error');
    return;
  }
  const input = h('input', { class: 'input', id: 'share-url', readonly: true, value: link.url, 'aria-label': 'Share link' });
  await dialog({
    title: 'Share link created',
    body: [
      h('p', null, 'Anyone with this link can read the conversation as it is now, without an account. Later messages are not shared. Revoke it in Settings › Share links.'),
      h('div', { class: 'share-link-row' }, input, copyButton(() => link.url, 'Copy link')),
    ],
    actions: [{ label: 'Done', kind: 'primary', value: true }],
    initialFocus: input,
  });
}
