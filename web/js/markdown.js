// Model output is untrusted. It is rendered as Markdown with raw HTML shown as
// text (never parsed), then sanitised by DOMPurify as a second line of
// defence: no style attributes, no scripts/forms/frames, links only to
// http(s)/mailto/relative targets, opened in a new tab with
// rel="noopener noreferrer nofollow", and no javascript:/data: URLs anywhere.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import { enhanceCode } from './code.js';

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    // Raw HTML in the Markdown is displayed, not interpreted.
    html(token) {
      return escapeHtml(token.raw ?? token.text ?? '');
    },
  },
});

const SAFE_URL = /^(?:(?:https?|mailto):|[^a-z]|[a-z0-9+.-]+(?:[^a-z0-9+.\-:]|$))/i;
const BAD_SCHEME = /^\s*(?:javascript|data|vbscript|file|blob):/i;

const purify = DOMPurify(window);
purify.addHook('afterSanitizeAttributes', (node) => {
  for (const attr of ['href', 'src', 'xlink:href', 'action', 'formaction', 'srcset']) {
    if (node.hasAttribute && node.hasAttribute(attr)) {
      // Strip control characters and whitespace the way URL parsers do before testing.
      // eslint-disable-next-line no-control-regex
      const v = node.getAttribute(attr).replace(/[\u0000-\u0020\u007f-\u009f]/g, '');
      if (BAD_SCHEME.test(v) || !SAFE_URL.test(v)) node.removeAttribute(attr);
    }
  }
  if (node.tagName === 'A') {
    if (node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    } else {
      node.removeAttribute('target');
    }
  }
  if (node.tagName === 'IMG') {
    if (!node.getAttribute('src')) {
      node.remove();
    } else {
      node.setAttribute('loading', 'lazy');
      node.setAttribute('referrerpolicy', 'no-referrer');
      if (!node.hasAttribute('alt')) node.setAttribute('alt', '');
    }
  }
});

const CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ['style', 'script', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'frame',
    'object', 'embed', 'link', 'meta', 'base', 'svg', 'math', 'template', 'audio', 'video', 'source', 'picture', 'dialog'],
  FORBID_ATTR: ['style', 'class', 'id', 'srcset', 'action', 'formaction', 'background', 'ping'],
  ALLOWED_URI_REGEXP: SAFE_URL,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ADD_ATTR: ['target'],
  RETURN_DOM_FRAGMENT: true,
};

/** Markdown text -> a sanitised DocumentFragment, its code blocks highlighted (code.js). */
export function renderMarkdown(text) {
  let html;
  const langs = []; // each fenced block's language, in order (the sanitiser drops classes)
  try {
    const tokens = marked.lexer(text || '');
    marked.walkTokens(tokens, (t) => { if (t.type === 'code') langs.push(t.lang || ''); });
    html = marked.parser(tokens);
  } catch {
    html = `<p>${escapeHtml(text || '')}</p>`;
  }
  const frag = purify.sanitize(html, CONFIG);
  enhanceCode(frag, langs);
  return frag;
}

/** Sanitise arbitrary HTML with the same policy (used by tests). */
export function sanitize(html) {
  return purify.sanitize(html, CONFIG);
}
