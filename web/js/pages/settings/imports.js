// Settings › Import: conversations from chatgate's own export (JSON) or from
// ChatGPT's data export (conversations.json), with what was left out listed.
import { h, replace } from '../../dom.js';
import { request } from '../../api.js';
import { alertBox, busy, section } from '../../ui.js';
import { currentOrgId } from '../../state.js';

const MAX_BYTES = 8 * 1024 * 1024;

export function imports(root) {
  const alert = alertBox();
  const input = h('input', { type: 'file', id: 'import-file', accept: 'application/json,.json', class: 'input' });
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Import');
  const report = h('div', { id: 'import-report' });
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'import-file' }, 'Export file (JSON, at most 8 MiB)'), input),
    alert.el, h('div', { class: 'form-actions' }, button));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    alert.clear();
    replace(report);
    const file = input.files && input.files[0];
    if (!file) { alert.show('Choose a file first.', 'error'); return; }
    if (file.size > MAX_BYTES) { alert.show('The file is over 8 MiB: split it, or import fewer conversations at a time.', 'error'); return; }
    busy(button, async () => {
      const text = await file.text();
      const res = await request('POST', '/api/imports', {
        query: { org_id: currentOrgId() }, raw: text, headers: { 'content-type': 'application/json' },
      });
      alert.show(`Imported ${res.imported} conversation${res.imported === 1 ? '' : 's'}.`, 'success');
      replace(report,
        res.conversations.length ? h('ul', null, res.conversations.map((c) => h('li', null, h('a', { href: `/chat/${encodeURIComponent(c.id)}` }, c.title), ` (${c.messages} messages)`))) : null,
        res.skipped.length ? [h('h3', null, 'Left out'), h('ul', { class: 'import-skipped' }, res.skipped.map((s) => h('li', null, s.conversation ? `${s.conversation}: ${s.reason}` : s.reason)))] : null);
    }, alert).catch(() => {});
  });
  root.append(section('Import conversations',
    h('p', { class: 'muted' }, 'From a conversation exported here (JSON), or from ChatGPT’s data export (the conversations.json file in it). Each conversation arrives as a new one in the organization you are in; of a branched ChatGPT conversation, the branch you last saw.'),
    form, report));
}
