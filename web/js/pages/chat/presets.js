// Presets in the chat's composer: a picker beside the model's, listing the caller's presets
// and the organization's shared ones (GET /api/presets?org_id=). Choosing one applies its
// model, system prompt and settings to the conversation (or to the next one started).
import { h, replace } from '../../dom.js';
import { api, itemsOf } from '../../api.js';

/** The settings of a preset, as a conversation takes them. */
export function presetSettings(p) {
  return {
    model: p.model,
    system_prompt: p.system_prompt || '',
    temperature: p.temperature ?? null,
    max_tokens: p.max_tokens ?? null,
    reasoning_effort: p.reasoning_effort ?? null,
  };
}

/** `onPick(preset)` when one is chosen. Returns {el, select, load(orgId), reset()}. */
export function presetPicker(onPick) {
  let presets = [];
  const select = h('select', { id: 'preset-select', class: 'input input-small' });
  const el = h('div', { class: 'model-pick', hidden: true },
    h('label', { for: 'preset-select' }, 'Preset'), select);
  const reset = () => { select.value = ''; };
  select.addEventListener('change', () => {
    const p = presets.find((x) => x.id === select.value);
    if (p) onPick(p);
  });
  async function load(orgId) {
    try {
      presets = itemsOf(await api.get('/api/presets', { query: orgId ? { org_id: orgId } : {} }));
    } catch {
      presets = [];
    }
    const own = presets.filter((p) => !p.org_id);
    const shared = presets.filter((p) => p.org_id);
    const group = (label, list) => (list.length
      ? h('optgroup', { label }, list.map((p) => h('option', { value: p.id }, `${p.name} (${p.model})`)))
      : null);
    replace(select, h('option', { value: '' }, 'None'), group('Mine', own), group('Organization', shared));
    el.hidden = !presets.length;
  }
  return { el, select, load, reset };
}
