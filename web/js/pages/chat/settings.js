// The open conversation's model settings: temperature, most output tokens and reasoning
// effort (kept with the conversation, sent with each of its replies). A "Settings" button
// beside the model picker, with a summary of what is set, opens a small panel in the
// composer. Saving sends PATCH /api/conversations/{id} with only what changed (`null` clears
// one: the provider's default); a refusal is shown at the field the server names (`param`).
import { h, replace, fmtNum } from '../../dom.js';
import { api, enc } from '../../api.js';
import { alertBox, announce, field } from '../../ui.js';

const EFFORTS = [['', 'Default'], ['low', 'Low'], ['medium', 'Medium'], ['high', 'High']];
const FIELDS = ['temperature', 'max_tokens', 'reasoning_effort'];

/** What a conversation has set, briefly ("temp 0.3 · max 64 tokens · effort high"), or ''. */
export function settingsSummary(c) {
  if (!c) return '';
  return [
    c.temperature != null ? `temp ${c.temperature}` : null,
    c.max_tokens != null ? `max ${fmtNum(c.max_tokens)} tokens` : null,
    c.reasoning_effort ? `effort ${c.reasoning_effort}` : null,
  ].filter(Boolean).join(' · ');
}

/**
 * `getConv()`: the open conversation (or null); `onSaved(conv)`: the server's copy after a
 * change. Returns {button, panel, set(conv), refused(err, model), close()}: the button (and
 * its summary) goes in the composer's bar, the panel in the composer.
 */
export function convSettings({ getConv, onSaved }) {
  const summary = h('span', { class: 'conv-settings-summary', id: 'conv-settings-summary' });
  const toggle = h('button', {
    type: 'button', class: 'btn btn-ghost btn-small', id: 'conv-settings',
    'aria-expanded': 'false', 'aria-controls': 'conv-settings-panel', 'aria-describedby': 'conv-settings-summary',
    onclick: () => (panel.hidden ? open() : close()),
  }, 'Settings');
  const button = h('div', { class: 'conv-settings', hidden: true }, toggle, summary);
  const panel = h('div', {
    class: 'conv-settings-panel', id: 'conv-settings-panel', role: 'group', 'aria-labelledby': 'conv-settings-title', hidden: true,
  });
  let fields = null; // {temperature, max_tokens, reasoning_effort}: field()s, while open
  let alert = null;

  function set(c) {
    button.hidden = !c;
    summary.textContent = settingsSummary(c);
    summary.hidden = !summary.textContent;
    // Another conversation (or none): what was being edited goes.
    if (!c || (panel.dataset.conv && panel.dataset.conv !== c.id)) close(false);
  }

  function open() {
    const c = getConv();
    if (!c) return;
    const temperature = field({
      id: 'conv-temperature', label: 'Temperature', type: 'number', min: 0, max: 2, step: 0.1, inputmode: 'decimal',
      placeholder: 'Default', value: c.temperature ?? '', class: 'field-compact', hint: 'Lower is more focused, higher more varied. Empty: the model’s default.',
    });
    const maxTokens = field({
      id: 'conv-max-tokens', label: 'Max output tokens', type: 'number', min: 1, max: 200000, step: 1, inputmode: 'numeric',
      placeholder: 'Default', value: c.max_tokens ?? '', class: 'field-compact', hint: 'The longest reply. Empty: the model’s default.',
    });
    const effort = field({
      id: 'conv-effort', label: 'Reasoning effort', type: 'select', options: EFFORTS, value: c.reasoning_effort || '',
      class: 'field-compact', hint: 'For reasoning models; a message’s own Reasoning choice wins for its reply.',
    });
    fields = { temperature, max_tokens: maxTokens, reasoning_effort: effort };
    alert = alertBox();
    const save = h('button', { type: 'button', class: 'btn btn-primary btn-small', id: 'conv-settings-save', onclick: () => submit(save) }, 'Save');
    replace(panel,
      h('p', { class: 'conv-settings-title', id: 'conv-settings-title' }, 'Model settings of this conversation'),
      alert.el,
      h('div', { class: 'conv-settings-fields' }, temperature.wrap, maxTokens.wrap, effort.wrap),
      h('div', { class: 'actions' }, save,
        h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => close() }, 'Cancel')));
    panel.dataset.conv = c.id;
    panel.hidden = false;
    toggle.setAttribute('aria-expanded', 'true');
    temperature.input.focus();
  }

  /** Closes the panel, dropping what was not saved; focus back on the button if it was inside. */
  function close(refocus = true) {
    const inside = panel.contains(document.activeElement);
    panel.hidden = true;
    replace(panel);
    delete panel.dataset.conv;
    fields = null;
    alert = null;
    toggle.setAttribute('aria-expanded', 'false');
    if (refocus && inside && !button.hidden) toggle.focus();
  }

  // Inside the composer's form: Enter saves (rather than sending the message), Escape closes.
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); } else if (e.key === 'Enter' && e.target.tagName === 'INPUT') {
      e.preventDefault();
      submit(panel.querySelector('#conv-settings-save'));
    }
  });

  /** The fields' values as the API takes them, or null after marking the unreadable ones. */
  function read() {
    const num = (f, whole) => {
      const raw = f.input.value.trim();
      if (f.input.validity.badInput) return { bad: 'Enter a number, or leave it empty for the default.' };
      if (!raw) return { value: null };
      const n = Number(raw);
      if (!Number.isFinite(n)) return { bad: 'Enter a number, or leave it empty for the default.' };
      if (whole && !Number.isInteger(n)) return { bad: 'Enter a whole number, or leave it empty for the default.' };
      return { value: n };
    };
    const got = {
      temperature: num(fields.temperature, false),
      max_tokens: num(fields.max_tokens, true),
      reasoning_effort: { value: fields.reasoning_effort.input.value || null },
    };
    let ok = true;
    for (const k of FIELDS) {
      fields[k].setError(got[k].bad || '');
      if (got[k].bad && ok) { ok = false; fields[k].input.focus(); }
    }
    return ok ? Object.fromEntries(FIELDS.map((k) => [k, got[k].value])) : null;
  }

  /** Marks the field the server refused (or says it above them); true if it named one. */
  function showError(err) {
    const f = fields && fields[err.param];
    if (f) {
      f.setError(err.detail);
      f.input.focus();
      return true;
    }
    if (alert) alert.show(err);
    return false;
  }

  let saving = false;
  async function submit(saveBtn) {
    const c = getConv();
    if (!c || !fields || saving) return;
    alert.clear();
    const want = read();
    if (!want) return;
    // Only what changed: a PATCH of the others would check them again for nothing.
    const body = {};
    for (const k of FIELDS) if (want[k] !== (c[k] ?? null)) body[k] = want[k];
    if (!Object.keys(body).length) { close(); return; }
    saving = true;
    saveBtn.disabled = true;
    saveBtn.classList.add('is-busy');
    try {
      const updated = await api.patch(`/api/conversations/${enc(c.id)}`, body);
      // The conversation may have changed meanwhile (another one opened).
      if (getConv() && getConv().id === updated.id) {
        onSaved(updated);
        set(updated);
        close();
        announce(`Settings saved${summary.textContent ? `: ${summary.textContent}` : ': the model’s defaults'}`);
      }
    } catch (e) {
      if (fields) showError(e);
    } finally {
      saving = false;
      saveBtn.disabled = false;
      saveBtn.classList.remove('is-busy');
    }
  }

  /**
   * A model change refused because a setting does not fit the new model: the panel opens at
   * that setting with the server's reason. False (nothing shown) for any other refusal.
   */
  function refused(err, model) {
    if (!FIELDS.includes(err.param) || !getConv()) return false;
    if (panel.hidden) open();
    showError(err);
    alert.show(`The model stays as it was: change or clear this setting to use ${model}.`, 'info');
    return true;
  }

  return { button, panel, set, refused, close: () => close(false) };
}
