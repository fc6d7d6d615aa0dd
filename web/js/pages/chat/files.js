// Files sent with a chat message through POST /api/files: PDFs and text or code
// files (images stay inline, see ../../attachments.js). Picked, pasted or dropped,
// a file is uploaded at once and shown as a chip before sending; sent, it is listed
// with the message, and opened or shown by fetching its bytes with the session's
// token (an <a href> or <img src> cannot send it).
import { h } from '../../dom.js';
import { request, enc } from '../../api.js';
import { fmtBytes, loadImage, typeName } from '../../attachments.js';

export const MAX_FILES = 10;
/** What the picker offers besides images. */
export const FILE_ACCEPT = [
  'application/pdf', '.pdf', 'text/*', '.txt', '.md', '.csv', '.json', '.yaml', '.yml', '.toml', '.xml', '.log',
  '.js', '.mjs', '.ts', '.tsx', '.jsx', '.py', '.rs', '.go', '.java', '.kt', '.c', '.h', '.cpp', '.hpp', '.cs',
  '.rb', '.php', '.swift', '.sh', '.sql', '.html', '.css',
].join(',');

/** Whether a file goes inline as an image (else it is uploaded). */
export function isInlineImage(file) {
  return (file.type || '').startsWith('image/');
}

const KIND = { 'application/pdf': 'PDF', 'text/plain': 'Text' };

function label(a) {
  return `${KIND[a.mediaType] || typeName(a.mediaType)}, ${fmtBytes(a.size)}`;
}

/** Uploads a file for the org (null: the personal one): {fileId, name, mediaType, size}. */
export async function uploadFile(file, orgId) {
  const query = { name: file.name || 'pasted file' };
  if (orgId) query.org_id = orgId;
  const f = await request('POST', '/api/files', {
    query, raw: file, headers: { 'content-type': file.type || 'application/octet-stream' },
  });
  return { fileId: f.id, name: f.name, mediaType: f.media_type, size: f.size };
}

/** Opens a stored file: its bytes fetched with the token, then saved under its name. */
async function download(a) {
  const blob = await request('GET', `/api/files/${enc(a.fileId)}`, { blob: true });
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: a.name || 'file', hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file's chip: its name and kind; a button that saves it once it is stored. */
export function fileChip(a, { onRemove } = {}) {
  const name = h('span', { class: 'file-chip-name' }, a.name);
  const chip = h(onRemove ? 'li' : 'span', { class: 'file-chip', 'data-file-id': a.fileId },
    h('span', { class: 'file-chip-icon', 'aria-hidden': 'true' }, a.mediaType === 'application/pdf' ? 'PDF' : 'TXT'),
    a.fileId && !onRemove
      ? h('button', { type: 'button', class: 'btn btn-link file-chip-open', onclick: () => download(a).catch(() => {}) }, name)
      : name,
    h('span', { class: 'muted' }, ` ${label(a)}`));
  if (onRemove) {
    chip.append(h('button', { type: 'button', class: 'btn btn-ghost btn-tiny', 'aria-label': `Remove ${a.name}`, onclick: onRemove }, '×'));
  }
  return chip;
}

/** The uploaded files of a sent message: images shown, documents and text as chips. */
export function sentFiles(attachments) {
  const files = (attachments || []).filter((a) => a.file_id || a.fileId).map((a) => ({
    fileId: a.file_id || a.fileId, name: a.name, mediaType: a.media_type || a.mediaType, size: a.size,
  }));
  if (!files.length) return null;
  return h('div', { class: 'msg-files' }, files.map((a) => {
    if (!a.mediaType.startsWith('image/')) return fileChip(a);
    const img = h('img', { class: 'msg-image', alt: `${a.name} (${label(a)})` });
    loadImage(`/api/files/${enc(a.fileId)}`).then((url) => { img.src = url; }).catch(() => {
      img.replaceWith(h('span', { class: 'msg-image-failed' }, `${a.name} could not be loaded`));
    });
    return img;
  }));
}
