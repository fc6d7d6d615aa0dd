// The conversation's Export action: downloads it as JSON (which Settings ›
// Import takes back) or Markdown.
import { h } from '../../dom.js';
import { request, enc } from '../../api.js';
import { dialog, toast } from '../../ui.js';

async function download(conv, format) {
  const blob = await request('GET', `/api/conversations/${enc(conv.id)}/export`, { query: { format }, blob: true });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: `chatgate-${conv.id}.${format === 'markdown' ? 'md' : 'json'}`, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function exportConversation(conv) {
  const format = await dialog({
    title: 'Export conversation',
    body: h('p', null, 'Download this conversation as JSON (to import it again, here or elsewhere) or as Markdown (to read). Images are not included.'),
    actions: [{ label: 'Cancel', value: null }, { label: 'Markdown', value: 'markdown' }, { label: 'JSON', kind: 'primary', value: 'json' }],
  });
  if (!format) return;
  try {
    await download(conv, format);
  } catch (e) {
    toast(e.detail, 'error');
  }
}
