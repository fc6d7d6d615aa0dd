// Tiny DOM helpers. Everything is built with createElement/textContent, so
// user data never goes through an HTML parser (the one exception is the
// sanitised Markdown in markdown.js). No inline styles: the CSP forbids them.

const PROPS = new Set(['value', 'checked', 'selected', 'indeterminate']);

/**
 * h('button', {class: 'btn', onclick: fn, disabled: true}, 'Label', child, [more])
 * Attribute values: string/number -> attribute, true -> empty attribute,
 * false/null/undefined -> omitted; on* functions -> listeners.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs != null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'style') throw new Error('inline styles are not allowed (CSP)');
      if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'ref') v(el);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (PROPS.has(k)) el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false || c === true) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let idSeq = 0;
export function uid(prefix = 'id') {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });

export function fmtDate(s) {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : dateFmt.format(d);
}

export function fmtDay(s) {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : dayFmt.format(d);
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
export function fmtRelative(s) {
  if (!s) return '';
  const t = new Date(s).getTime();
  if (Number.isNaN(t)) return '';
  const diff = (t - Date.now()) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return 'just now';
  if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  if (abs < 86400 * 7) return rtf.format(Math.round(diff / 86400), 'day');
  return dayFmt.format(new Date(t));
}

/** <time> element with a machine-readable datetime and a readable label. */
export function timeEl(s, relative = false) {
  if (!s) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: s, title: fmtDate(s) }, relative ? fmtRelative(s) : fmtDate(s));
}

const numFmt = new Intl.NumberFormat();
export function fmtNum(n) {
  return n == null ? '—' : numFmt.format(n);
}

export function fmtMicros(m) {
  if (m == null) return '—';
  const dollars = Number(m) / 1e6;
  return new Intl.NumberFormat(undefined, {
    style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: dollars < 1 && dollars > 0 ? 4 : 2,
  }).format(dollars);
}
