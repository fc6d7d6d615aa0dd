// The conversation's Share action: makes a link to a read-only copy of the
// conversation as it is now, and shows it to copy. A conversation with images
// or files asks first whether the link shows them. Links are listed (and
// revoked) in Settings › Share links.
import { h } from '../../dom.js';
import { api, enc } from '../../api.js';
import { copyButton, dialog, toast } from '../../ui.js';

/** Whether the link should show attachments: asked only when there are some (null: cancelled). */
async function askAttachments() {
  const box = h('input', { type: 'checkbox', id: 'share-attachments' });
  const go = await dialog({
    title: 'Share this conversation',
    body: [
      h('p', null, 'Anyone with the link can read the conversation as it is now, without an account.'),
      h('div', { class: 'check' }, box, h('label', { for: 'share-attachments' }, 'Include images and files')),
      h('p', { class: 'hint' }, 'Without them, the link shows the text only.'),
    ],
    actions: [{ label: 'Cancel', value: null }, { label: 'Create link', kind: 'primary', value: true }],
    initialFocus: box,
  });
  return go ? box.checked : null;
}

export async function shareConversation(conv, { hasAttachments = false } = {}) {
  const include = hasAttachments ? await askAttachments() : false;
  if (include === null) return;
  let link;
  try {
    link = await api.post(`/api/conversations/${enc(conv.id)}/shares`, include ? { include_attachments: true } : {});
  } catch (e) {
    toast(e.detail, 'error');
    return;
  }
  const input = h('input', { class: 'input', id: 'share-url', readonly: true, value: link.url, 'aria-label': 'Share link' });
  await dialog({
    title: 'Share link created',
    body: [
      h('p', null, `Anyone with this link can read the conversation as it is now${include ? ', with its images and files,' : ''} without an account. Later messages are not shared. Revoke it in Settings › Share links.`),
      h('div', { class: 'share-link-row' }, input, copyButton(() => link.url, 'Copy link')),
    ],
    actions: [{ label: 'Done', kind: 'primary', value: true }],
    initialFocus: input,
  });
}
