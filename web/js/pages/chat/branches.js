// Branches in the chat: on a message with siblings (edits, regenerations) "2 / 3" with
// arrows that switch the conversation's current branch (PUT …/leaf); Edit on a user
// message (an inline editor that sends the new text beside the old, with parent_id);
// Regenerate on an assistant reply (a new reply beside it, with the picked model).
import { h } from '../../dom.js';
import { api, enc } from '../../api.js';
import { announce, toast } from '../../ui.js';

/**
 * The branch controls of one message, for the message's meta line. `ctx`:
 * {convId(), busy(), reload(), send(text, {parentId, from}), regenerate(messageId, from)}.
 * `v` is the message's view ({el, body}); `m` the message as the API gives it.
 */
export function branchControls(m, v, ctx) {
  if (!m || !m.id || String(m.id).startsWith('local-')) return null;
  const wrap = h('span', { class: 'msg-branch' });
  const count = m.sibling_count || 1;
  if (count > 1) {
    const go = (id, label) => h('button', {
      type: 'button', class: 'btn btn-ghost btn-tiny branch-arrow', 'aria-label': label, disabled: !id,
      onclick: () => switchTo(id, ctx),
    }, label === 'Previous version' ? '‹' : '›');
    wrap.append(
      go(m.previous_sibling_id, 'Previous version'),
      h('span', { class: 'branch-pos', 'aria-label': `Version ${(m.sibling_index || 0) + 1} of ${count}` },
        `${(m.sibling_index || 0) + 1} / ${count}`),
      go(m.next_sibling_id, 'Next version'));
  }
  if (m.role === 'user') {
    wrap.append(h('button', {
      type: 'button', class: 'btn btn-ghost btn-tiny msg-edit',
      onclick: () => edit(m, v, ctx),
    }, 'Edit'));
  } else if (m.status !== 'streaming') {
    wrap.append(h('button', {
      type: 'button', class: 'btn btn-ghost btn-tiny msg-regenerate',
      onclick: () => {
        if (ctx.busy()) { toast('Wait for the reply in progress, or stop it.', 'info'); return; }
        ctx.regenerate(m.id, v.el);
      },
    }, 'Regenerate'));
  }
  return wrap;
}

async function switchTo(id, ctx) {
  if (!id) return;
  if (ctx.busy()) { toast('Wait for the reply in progress, or stop it.', 'info'); return; }
  try {
    await api.put(`/api/conversations/${enc(ctx.convId())}/leaf`, { message_id: id });
    await ctx.reload();
    announce('Switched to another version');
  } catch (e) {
    toast(e.detail || 'Could not switch versions.', 'error');
  }
}

/** Replaces a user message's text with an editor; Save sends the new text beside it. */
function edit(m, v, ctx) {
  if (v.el.querySelector('.msg-editor')) return;
  const input = h('textarea', { class: 'input msg-editor-input', rows: 3, 'aria-label': 'Edit message' });
  input.value = m.content || '';
  const close = () => { editor.remove(); v.body.hidden = false; };
  const save = () => {
    const text = input.value.trim();
    if (!text) { input.focus(); return; }
    if (ctx.busy()) { toast('Wait for the reply in progress, or stop it.', 'info'); return; }
    close();
    ctx.send(text, { parentId: m.parent_id ?? null, from: v.el });
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); close(); }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); save(); }
  });
  const editor = h('div', { class: 'msg-editor' }, input,
    h('div', { class: 'msg-editor-actions' },
      h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: close }, 'Cancel'),
      h('button', { type: 'button', class: 'btn btn-primary btn-small msg-editor-save', onclick: save }, 'Save and send')));
  v.body.hidden = true;
  v.body.after(editor);
  input.focus();
}

/** Removes `from` and every message after it from the log (a new branch replaces them). */
export function cutFrom(from, msgs) {
  if (!from) return;
  let el = from;
  while (el) {
    const next = el.nextElementSibling;
    if (el.dataset && el.dataset.id) msgs.delete(el.dataset.id);
    el.remove();
    el = next;
  }
}
