// Shared UI pieces: form fields, alerts, buttons with a busy state, dialogs,
// copy buttons, tables, and the screen-reader announcer.
import { h, uid, replace, clear } from './dom.js';

export function announce(msg) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  // A tick later, so repeated messages are announced again.
  setTimeout(() => { el.textContent = msg; }, 30);
}

export function toast(msg, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  // The container is a polite live region; errors interrupt.
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : null }, msg);
  box.append(t);
  setTimeout(() => { t.classList.add('toast-out'); }, 3500);
  setTimeout(() => t.remove(), 4000);
}

export function spinner(label) {
  return h('span', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', label || 'Loading…');
}

/** A region showing an error (role=alert) or nothing. */
export function alertBox() {
  const el = h('div', { class: 'alert', role: 'alert', hidden: true });
  return {
    el,
    show(err, kind = 'error') {
      const msg = typeof err === 'string' ? err : (err && (err.detail || err.message)) || 'Something went wrong.';
      el.className = `alert alert-${kind}`;
      el.hidden = false;
      replace(el, msg);
    },
    showNode(...nodes) {
      el.className = 'alert alert-error';
      el.hidden = false;
      replace(el, ...nodes);
    },
    clear() { el.hidden = true; clear(el); },
  };
}

/** Inline error/loading placeholder for a section that failed to load. */
export function loadError(err, retry) {
  return h('div', { class: 'alert alert-error', role: 'alert' },
    h('span', null, (err && (err.detail || err.message)) || 'Could not load this.'),
    retry ? [' ', h('button', { type: 'button', class: 'btn btn-small', onclick: retry }, 'Try again')] : null);
}

/**
 * A labelled input. Returns {wrap, input, setError}.
 * opts: label, type, name, value, required, autocomplete, hint, minlength, ...
 */
export function field(opts) {
  const id = opts.id || uid('f');
  const hintId = opts.hint ? `${id}-hint` : null;
  const errId = `${id}-err`;
  const tag = opts.type === 'textarea' ? 'textarea' : opts.type === 'select' ? 'select' : 'input';
  const attrs = {
    id,
    name: opts.name,
    class: 'input',
    required: opts.required,
    autocomplete: opts.autocomplete,
    placeholder: opts.placeholder,
    minlength: opts.minlength,
    maxlength: opts.maxlength,
    min: opts.min,
    max: opts.max,
    step: opts.step,
    rows: opts.rows,
    inputmode: opts.inputmode,
    spellcheck: opts.spellcheck,
    autocapitalize: opts.autocapitalize,
    readonly: opts.readonly,
    'aria-describedby': [hintId, errId].filter(Boolean).join(' '),
  };
  if (tag === 'input') attrs.type = opts.type || 'text';
  const input = h(tag, attrs);
  if (tag === 'select') {
    for (const o of opts.options || []) {
      const [value, label] = Array.isArray(o) ? o : [o, o];
      input.append(h('option', { value }, label));
    }
  }
  if (opts.value != null) input.value = opts.value;
  const err = h('p', { class: 'field-error', id: errId, hidden: true });
  const wrap = h('div', { class: ['field', opts.class] },
    h('label', { for: id }, opts.label, opts.optional ? h('span', { class: 'muted' }, ' (optional)') : null),
    input,
    opts.hint ? h('p', { class: 'hint', id: hintId }, opts.hint) : null,
    err);
  return {
    wrap,
    input,
    setError(msg) {
      if (msg) {
        err.textContent = msg;
        err.hidden = false;
        input.setAttribute('aria-invalid', 'true');
      } else {
        err.textContent = '';
        err.hidden = true;
        input.removeAttribute('aria-invalid');
      }
    },
  };
}

/** Password input with a show/hide toggle. */
export function passwordField(opts) {
  const f = field({ ...opts, type: 'password' });
  const toggle = h('button', {
    type: 'button', class: 'btn btn-ghost btn-small reveal', 'aria-pressed': 'false', 'aria-controls': f.input.id,
    onclick: () => {
      const show = f.input.type === 'password';
      f.input.type = show ? 'text' : 'password';
      toggle.setAttribute('aria-pressed', String(show));
      toggle.textContent = show ? 'Hide' : 'Show';
    },
  }, 'Show');
  toggle.setAttribute('aria-label', `Show ${opts.label.toLowerCase()}`);
  const row = h('div', { class: 'input-row has-reveal' });
  f.input.replaceWith(row);
  row.append(f.input, toggle);
  return f;
}

/**
 * Runs an async action with a button in a busy state; errors go to `alert`
 * (an alertBox) and are rethrown only if no alert is given.
 */
export async function busy(button, fn, alert) {
  const label = button ? button.textContent : '';
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.classList.add('is-busy');
  }
  if (alert) alert.clear();
  try {
    return await fn();
  } catch (e) {
    if (e && e.name === 'AbortError') return undefined;
    if (alert) { alert.show(e); return undefined; }
    throw e;
  } finally {
    if (button && button.isConnected) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.classList.remove('is-busy');
      if (button.textContent !== label) button.textContent = label;
    }
  }
}

/**
 * Modal dialog (native <dialog>: focus is trapped and restored, Esc closes).
 * body: nodes; actions: [{label, kind, value}]; resolves to the clicked value
 * or null. onConfirm(value) may return false (or throw) to keep it open.
 */
export function dialog({ title, body, actions = [{ label: 'Cancel', value: null }, { label: 'OK', kind: 'primary', value: true }], onConfirm, initialFocus }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const alert = alertBox();
    const prev = document.activeElement;
    let result = null;
    const form = h('form', { method: 'dialog', class: 'dialog-form' });
    const buttons = actions.map((a) => h('button', {
      type: a.value == null ? 'button' : 'submit',
      class: ['btn', a.kind ? `btn-${a.kind}` : ''],
      value: a.value == null ? '' : String(a.value),
      onclick: a.value == null ? () => dlg.close() : null,
    }, a.label));
    append2(form, h('h2', { id: titleId, class: 'dialog-title' }, title), h('div', { class: 'dialog-body' }, body), alert.el,
      h('div', { class: 'dialog-actions' }, buttons));
    const dlg = h('dialog', { class: 'dialog', 'aria-labelledby': titleId }, form);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const submitter = e.submitter || buttons.find((b) => b.type === 'submit');
      const action = actions.find((a) => String(a.value) === submitter.value) || actions[actions.length - 1];
      if (onConfirm) {
        const ok = await busy(submitter, async () => (await onConfirm(action.value)) !== false, alert);
        if (!ok) return;
      }
      result = action.value;
      dlg.close();
    });
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (prev && prev.isConnected && prev.focus) prev.focus();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    const focusEl = initialFocus || form.querySelector('input, textarea, select') || buttons[0];
    if (focusEl) focusEl.focus();
  });
}

function append2(parent, ...kids) { kids.forEach((k) => parent.append(k)); }

export function confirmDialog(title, message, confirmLabel = 'Delete', kind = 'danger') {
  return dialog({
    title,
    body: h('p', null, message),
    actions: [{ label: 'Cancel', value: null }, { label: confirmLabel, kind, value: true }],
  });
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Fallback: a temporary textarea and execCommand.
    const ta = h('textarea', { class: 'offscreen', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch { ok = false; }
    ta.remove();
    return ok;
  }
}

export function copyButton(getText, label = 'Copy') {
  const b = h('button', {
    type: 'button',
    class: 'btn btn-small',
    onclick: async () => {
      const ok = await copyText(typeof getText === 'function' ? getText() : getText);
      b.textContent = ok ? 'Copied' : 'Copy failed';
      announce(ok ? 'Copied to clipboard' : 'Could not copy; select the text and copy it by hand');
      setTimeout(() => { b.textContent = label; }, 2000);
    },
  }, label);
  return b;
}

/** A responsive table: columns [{label, cell: row => node|string, class}]. */
export function table(cols, rows, { caption, empty = 'Nothing here yet.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const columns = cols.filter(Boolean);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'table' },
      caption ? h('caption', { class: 'sr-only' }, caption) : null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)))),
      h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.cell(r))))))));
}

export function badge(text, kind = '') {
  return h('span', { class: ['badge', kind && `badge-${kind}`] }, text);
}

/** Page heading that receives focus after navigation. */
export function pageTitle(text, extra) {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', class: 'page-title' }, text), extra || null);
}

export function section(title, ...children) {
  const id = uid('sec');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, class: 'card-title' }, title), ...children);
}
