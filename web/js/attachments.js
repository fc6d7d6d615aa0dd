// Images attached to a chat message: read from a picked, pasted or dropped file
// into base64 (what the API takes), checked against the server's limits before
// anything is sent, and the images of sent messages fetched with the session's
// token (an <img src> cannot send it) and shown as data: URLs (the CSP allows
// those, not blob: ones).
import { request, enc } from './api.js';

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];
export const MAX_IMAGES = 4;
export const MAX_IMAGE_BYTES = 3 * 1024 * 1024;
export const ACCEPT = IMAGE_TYPES.join(',');

const TYPE_NAME = { 'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/gif': 'GIF', 'image/webp': 'WebP' };

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

export function typeName(mediaType) {
  return TYPE_NAME[mediaType] || mediaType;
}

/** The image type the bytes start with (as the server reads it), or null. */
export function sniff(b) {
  const at = (i, ...xs) => xs.every((x, k) => b[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38) && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return null;
}

function readAsDataURL(blob) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error || new Error('read failed'));
    r.readAsDataURL(blob);
  });
}

/**
 * A file as an attachment: {name, size, mediaType, data (base64), url (data: URL)}.
 * Throws an Error whose message says why it cannot be sent.
 */
export async function readImage(file) {
  const name = file.name || 'pasted image';
  if (file.size > MAX_IMAGE_BYTES) {
    throw new Error(`${name} is ${fmtBytes(file.size)}; an image may be at most ${fmtBytes(MAX_IMAGE_BYTES)}.`);
  }
  const head = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  const mediaType = sniff(head);
  if (!mediaType) throw new Error(`${name} is not a PNG, JPEG, GIF or WebP image.`);
  const url = await readAsDataURL(file);
  const data = url.slice(url.indexOf(',') + 1);
  return { name, size: file.size, mediaType, data, url: `data:${mediaType};base64,${data}` };
}

export function attachmentPath(convId, messageId, index) {
  return `/api/conversations/${enc(convId)}/messages/${enc(messageId)}/attachments/${index}`;
}

const loaded = new Map(); // path -> Promise<data: URL>

/** A sent image as a data: URL (fetched once per page). */
export function loadImage(path) {
  let p = loaded.get(path);
  if (!p) {
    p = request('GET', path, { blob: true }).then(readAsDataURL);
    p.catch(() => loaded.delete(path));
    loaded.set(path, p);
  }
  return p;
}
