// Chat: conversation list (infinite scroll), a conversation's history, the
// streaming reply (fetch + SSE parser) with its reasoning, stop, resume after a
// reload, rename, delete, the model and reasoning pickers, the conversation's model
// settings (./chat/settings.js), and images attached to a message (picked, pasted
// or dropped).
import { h, replace, clear, fmtRelative } from '../dom.js';
import { api, request, itemsOf, enc } from '../api.js';
import { readSSE } from '../sse.js';
import { renderMarkdown } from '../markdown.js';
import { navigate, setUrl } from '../router.js';
import { orgs, currentOrgId, setCurrentOrg, modelsFor } from '../state.js';
import { alertBox, announce, badge, confirmDialog, dialog, field, loadError, spinner, toast, copyText } from '../ui.js';
import { ACCEPT, MAX_IMAGES, attachmentPath, fmtBytes, loadImage, readImage, typeName } from '../attachments.js';
import { FILE_ACCEPT, MAX_FILES, fileChip, isInlineImage, sentFiles, uploadFile } from './chat/files.js';
import { loadOlderOnScroll } from './chat/paging.js';
import { searchBox, jumpToMessage } from './chat/search.js';
import { shareConversation } from './chat/share.js';
import { exportConversation } from './chat/export.js';
import { branchControls, cutFrom } from './chat/branches.js';
import { presetPicker, presetSettings } from './chat/presets.js';
import { convSettings } from './chat/settings.js';

const PAGE = 20;
const HISTORY_PAGE = 50;
const RESUME_KEY = (id) => `chatgate.stream.${id}`;
const EFFORT_KEY = 'chatgate.reasoning_effort';
const EFFORTS = [['', 'Default'], ['low', 'Low'], ['medium', 'Medium'], ['high', 'High']];

function convTitle(c) {
  return (c && c.title && c.title.trim()) || 'Untitled conversation';
}

const STATUS_LABEL = { streaming: 'Replying…', aborted: 'Stopped', failed: 'Failed', pending: 'Sending…' };

/**
 * The chat page. `embed` (embed mode, see embed.js): {orgId, headEnd} — its
 * links stay under /embed, the organization is the one the embedding page
 * named (if any) and is not remembered, `headEnd` goes at the end of the
 * header (the sign-out button), and nothing takes focus by itself.
 */
export function chatPage({ main, params, embed = null }) {
  let orgId = (embed && embed.orgId) || currentOrgId();
  const home = embed ? '/embed' : '/chat';
  const convHref = (id) => `${embed ? '/embed' : ''}/chat/${enc(id)}`;
  let conv = null; // current conversation
  let loadToken = 0; // guards against out-of-order loads
  let active = null; // the stream in progress: {ctrl, convId, assistant, lastId, done, stopping}
  let olderCursor = null;
  const msgs = new Map(); // message id -> view model

  // ---------- sidebar ----------
  let listCursor = null;
  let listDone = false;
  let listLoading = false;
  const convItems = new Map(); // id -> {li, a, time, conv}
  const list = h('ul', { class: 'conv-list' });
  const listStatus = h('div', { class: 'list-status' });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const search = searchBox({
    orgId: () => orgId, convHref, onOpen: () => closeSidebar(),
    onSearching: (on) => { list.hidden = on; listStatus.hidden = on; },
  });
  const listScroll = h('nav', { class: 'conv-scroll', 'aria-label': 'Conversations' },
    h('h2', { class: 'sr-only' }, 'Conversations'), search.panel, list, listStatus, sentinel);

  const orgList = orgs();
  const orgSelect = orgList.length > 1 && !(embed && embed.orgId) ? h('select', {
    id: 'org-select',
    class: 'input input-small',
    onchange: () => {
      orgId = orgSelect.value;
      if (!embed) setCurrentOrg(orgId);
      search.reset();
      resetList();
      navigate(home);
    },
  }, orgList.map((o) => h('option', { value: o.id, selected: o.id === orgId }, o.name))) : null;

  const sidebar = h('aside', { class: 'sidebar', id: 'chat-sidebar', 'aria-label': 'Conversation list' },
    h('div', { class: 'sidebar-top' },
      h('a', { href: home, class: 'btn btn-primary btn-block', id: 'new-chat' }, h('span', { 'aria-hidden': 'true' }, '+ '), 'New chat'),
      orgSelect ? h('div', { class: 'field field-compact' }, h('label', { for: 'org-select' }, 'Organization'), orgSelect) : null,
      search.form),
    listScroll);

  function setListStatus(kind, err) {
    if (kind === 'loading') replace(listStatus, spinner('Loading conversations…'));
    else if (kind === 'error') replace(listStatus, loadError(err, () => loadMoreConvs()));
    else if (kind === 'more') {
      replace(listStatus, h('button', { type: 'button', class: 'btn btn-ghost btn-small btn-block', onclick: () => loadMoreConvs() }, 'Load more'));
    } else if (kind === 'empty') replace(listStatus, h('p', { class: 'muted small' }, 'No conversations yet.'));
    else clear(listStatus);
  }

  function convItem(c) {
    const a = h('a', { href: convHref(c.id), class: 'conv-link' });
    const titleEl = h('span', { class: 'conv-title' }, convTitle(c));
    const time = h('span', { class: 'conv-time' }, fmtRelative(c.updated_at || c.last_message_at || c.created_at));
    a.append(titleEl, time);
    a.addEventListener('click', () => closeSidebar());
    const li = h('li', null, a);
    const item = { li, a, titleEl, time, conv: c };
    convItems.set(c.id, item);
    markCurrent(item);
    return li;
  }

  function markCurrent(item) {
    if (conv && item.conv.id === conv.id) item.a.setAttribute('aria-current', 'page');
    else item.a.removeAttribute('aria-current');
  }

  function upsertConv(c, { toTop = false } = {}) {
    const existing = convItems.get(c.id);
    if (existing) {
      existing.conv = { ...existing.conv, ...c };
      existing.titleEl.textContent = convTitle(existing.conv);
      existing.time.textContent = fmtRelative(existing.conv.updated_at || existing.conv.created_at);
      if (toTop && list.firstChild !== existing.li) list.prepend(existing.li);
      return;
    }
    const li = convItem(c);
    if (toTop) list.prepend(li);
    else list.append(li);
    if (listStatus.querySelector('.muted')) setListStatus(listDone ? null : 'more');
  }

  function removeConv(id) {
    const it = convItems.get(id);
    if (it) { it.li.remove(); convItems.delete(id); }
    if (!convItems.size && listDone) setListStatus('empty');
  }

  async function loadMoreConvs() {
    if (listLoading || listDone) return;
    listLoading = true;
    setListStatus('loading');
    const forOrg = orgId;
    try {
      const res = await api.get('/api/conversations', { query: { org_id: orgId, limit: PAGE, cursor: listCursor } });
      if (forOrg !== orgId) return;
      for (const c of itemsOf(res)) upsertConv(c);
      listCursor = res && res.next_cursor;
      listDone = !listCursor;
      setListStatus(listDone ? (convItems.size ? null : 'empty') : 'more');
    } catch (e) {
      setListStatus('error', e);
    } finally {
      listLoading = false;
    }
    // Keep filling while the end of the list is still in view (tall screens).
    if (!listDone && listScroll.isConnected && listScroll.clientHeight > 0
      && sentinel.getBoundingClientRect().top < listScroll.getBoundingClientRect().bottom + 200) {
      requestAnimationFrame(() => loadMoreConvs());
    }
  }

  function resetList() {
    listCursor = null;
    listDone = false;
    convItems.clear();
    clear(list);
    loadMoreConvs();
  }

  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMoreConvs();
  }, { root: listScroll, rootMargin: '200px' });
  io.observe(sentinel);

  // ---------- main panel ----------
  const sidebarToggle = h('button', {
    type: 'button', class: 'btn btn-ghost btn-icon sidebar-toggle', 'aria-controls': 'chat-sidebar', 'aria-expanded': 'false',
    onclick: () => (layout.classList.contains('sidebar-open') ? closeSidebar() : openSidebar()),
  }, h('span', { class: 'icon-menu', 'aria-hidden': 'true' }), h('span', { class: 'sr-only' }, 'Conversations'));
  const titleH = h('h1', { tabindex: '-1', class: 'chat-title', id: 'chat-title' }, 'New conversation');
  const renameBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => rename() }, 'Rename');
  const deleteBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small btn-danger-text', onclick: () => remove() }, 'Delete');
  const shareBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => conv && shareConversation(conv, { hasAttachments: !!log.querySelector('.msg-images, .msg-files') }) }, 'Share');
  const exportBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', onclick: () => conv && exportConversation(conv) }, 'Export');
  const headActions = h('div', { class: 'chat-actions', hidden: true }, shareBtn, exportBtn, renameBtn, deleteBtn);
  const head = h('header', { class: 'chat-head' }, sidebarToggle, titleH, headActions, embed && embed.headEnd);

  const olderBox = h('div', { class: 'older' });
  const log = h('div', { class: 'messages', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions text', 'aria-labelledby': 'chat-title', id: 'messages' });
  const emptyState = h('div', { class: 'chat-empty' },
    h('p', { class: 'chat-empty-title' }, 'Start a new conversation'),
    h('p', { class: 'muted' }, 'Pick a model below and send a message. Replies stream in as they are written.'));
  const scroller = h('div', { class: 'messages-scroll' }, olderBox, emptyState, log);
  // Sent images are fetched when they come near the view.
  const imageIO = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      const img = e.target;
      imageIO.unobserve(img);
      loadImage(img.dataset.path).then((url) => { img.src = url; }).catch(() => {
        img.alt = `${img.alt} (could not be loaded)`;
        img.classList.add('msg-image-failed');
      });
    }
  }, { root: scroller, rootMargin: '400px' });
  const stopPaging = loadOlderOnScroll(scroller, olderBox);

  const composerAlert = alertBox();
  const textarea = h('textarea', {
    id: 'composer-input', class: 'composer-input', rows: 1, required: true, placeholder: 'Write a message…',
    'aria-describedby': 'composer-hint', maxlength: 100000,
  });
  const modelSelect = h('select', { id: 'model-select', class: 'input input-small' }, h('option', { value: 'demo/echo' }, 'demo/echo'));
  let pendingPreset = null; // a preset chosen before the conversation exists: its settings
  const presets = presetPicker((p) => applyPreset(p));
  const modelSettings = convSettings({ getConv: () => conv, onSaved: (c) => { conv = c; } });
  let storedEffort = '';
  try { storedEffort = localStorage.getItem(EFFORT_KEY) || ''; } catch { /* storage blocked */ }
  const effortSelect = h('select', {
    id: 'effort-select', class: 'input input-small',
    onchange: () => { try { localStorage.setItem(EFFORT_KEY, effortSelect.value); } catch { /* storage blocked */ } },
  }, EFFORTS.map(([value, label]) => h('option', { value, selected: value === storedEffort }, label)));
  let pending = []; // images for the next message: {name, size, mediaType, data, url}
  let attachAlert = false; // the composer's alert is about them
  const fileInput = h('input', {
    type: 'file', id: 'attach-input', class: 'sr-only', accept: `${ACCEPT},${FILE_ACCEPT}`, multiple: true, tabindex: '-1', 'aria-hidden': 'true',
  });
  const attachBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-small', id: 'attach', onclick: () => fileInput.click() },
    h('span', { class: 'icon-image', 'aria-hidden': 'true' }), 'Attach file');
  const pendingList = h('ul', { class: 'pending-images', 'aria-label': 'Images to send', hidden: true });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn-primary', id: 'send' }, 'Send');
  const stopBtn = h('button', { type: 'button', class: 'btn btn-danger', id: 'stop', hidden: true, onclick: () => stop() },
    h('span', { class: 'icon-stop', 'aria-hidden': 'true' }), 'Stop');
  const composer = h('form', { class: 'composer', 'aria-label': 'Send a message' },
    composerAlert.el,
    h('label', { for: 'composer-input', class: 'sr-only' }, 'Message'),
    pendingList,
    textarea,
    fileInput,
    modelSettings.panel,
    h('div', { class: 'composer-bar' },
      h('div', { class: 'model-pick' }, h('label', { for: 'model-select' }, 'Model'), modelSelect),
      modelSettings.button,
      presets.el,
      h('div', { class: 'model-pick' }, h('label', { for: 'effort-select' }, 'Reasoning'), effortSelect),
      attachBtn,
      h('span', { class: 'hint composer-hint', id: 'composer-hint' }, 'Enter to send · Shift+Enter for a new line · paste or drop an image, a PDF or a text file to attach it · Esc stops a reply'),
      h('div', { class: 'composer-buttons' }, stopBtn, sendBtn)));

  const chatMain = h('section', { class: 'chat-main', 'aria-labelledby': 'chat-title' }, head, scroller, composer);
  const backdrop = h('div', { class: 'sidebar-backdrop', onclick: () => closeSidebar() });
  const layout = h('div', { class: 'chat-layout' }, sidebar, backdrop, chatMain);
  replace(main, layout);

  function openSidebar() {
    layout.classList.add('sidebar-open');
    sidebarToggle.setAttribute('aria-expanded', 'true');
    const first = sidebar.querySelector('a, button, select');
    if (first) first.focus();
  }
  function closeSidebar() {
    if (!layout.classList.contains('sidebar-open')) return;
    layout.classList.remove('sidebar-open');
    sidebarToggle.setAttribute('aria-expanded', 'false');
  }
  layout.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && layout.classList.contains('sidebar-open')) { closeSidebar(); sidebarToggle.focus(); }
  });

  // ---------- composer ----------
  function autosize() {
    textarea.style.height = 'auto';
    textarea.style.height = `${Math.min(textarea.scrollHeight, 240)}px`;
  }
  textarea.addEventListener('input', autosize);
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && active) {
      e.preventDefault();
      stop();
      return;
    }
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = textarea.value;
    if (!text.trim() && !pending.length) { textarea.focus(); return; }
    if (active) return;
    send(text);
  });

  // ---------- images to send ----------
  function renderPending() {
    const removeFile = (a) => () => { pending = pending.filter((x) => x !== a); renderPending(); announce(`${a.name} removed`); textarea.focus(); };
    replace(pendingList, pending.map((a) => a.fileId ? fileChip(a, { onRemove: removeFile(a) }) : h('li', { class: 'pending-image' },
      h('img', { src: a.url, alt: '', class: 'thumb' }),
      h('span', { class: 'pending-name' }, a.name, h('span', { class: 'muted' }, ` ${typeName(a.mediaType)}, ${fmtBytes(a.size)}`)),
      h('button', {
        type: 'button', class: 'btn btn-ghost btn-tiny', 'aria-label': `Remove ${a.name}`,
        onclick: () => {
          pending = pending.filter((x) => x !== a);
          renderPending();
          announce(`${a.name} removed`);
          textarea.focus();
        },
      }, '×'))));
    pendingList.hidden = !pending.length;
    // With an image, the text may be empty.
    textarea.required = !pending.length;
  }

  /** Adds picked, pasted or dropped files; what cannot be sent is said before sending. */
  async function addFiles(files) {
    const errors = [];
    const count = (uploaded) => pending.filter((a) => !!a.fileId === uploaded).length;
    for (const file of files) {
      // PDFs and text files are uploaded (POST /api/files) and sent by id.
      if (!isInlineImage(file)) {
        if (count(true) >= MAX_FILES) { errors.push(`A message may carry at most ${MAX_FILES} files.`); break; }
        try { pending.push(await uploadFile(file, conv ? conv.org_id : orgId)); } catch (e) { errors.push(`${file.name}: ${e.detail || e.message}`); }
        continue;
      }
      if (count(false) >= MAX_IMAGES) { errors.push(`A message may carry at most ${MAX_IMAGES} images.`); break; }
      try {
        const image = await readImage(file);
        if (count(false) < MAX_IMAGES) pending.push(image);
      } catch (e) {
        errors.push(e.message);
      }
    }
    renderPending();
    if (errors.length) {
      composerAlert.show(errors.join(' '));
      attachAlert = true;
    } else if (attachAlert) {
      composerAlert.clear();
      attachAlert = false;
    }
    if (pending.length) announce(`${pending.length} attachment${pending.length === 1 ? '' : 's'} ready`);
  }

  fileInput.addEventListener('change', () => {
    const files = [...fileInput.files];
    fileInput.value = '';
    addFiles(files);
  });
  textarea.addEventListener('paste', (e) => {
    const files = [...((e.clipboardData && e.clipboardData.files) || [])];
    if (!files.length) return;
    // An image alone is attached; text pasted with it still goes into the message.
    if (!e.clipboardData.getData('text/plain')) e.preventDefault();
    addFiles(files);
  });
  composer.addEventListener('dragover', (e) => {
    if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) e.preventDefault();
  });
  composer.addEventListener('drop', (e) => {
    const files = [...((e.dataTransfer && e.dataTransfer.files) || [])];
    if (!files.length) return;
    e.preventDefault();
    addFiles(files);
  });

  modelSelect.addEventListener('change', async () => {
    pendingPreset = null;
    if (!conv || conv.model === modelSelect.value) return;
    const model = modelSelect.value;
    try {
      conv = await api.patch(`/api/conversations/${enc(conv.id)}`, { model });
      modelSettings.set(conv);
      announce(`Model changed to ${model}`);
    } catch (e) {
      // A setting the new model does not take is shown at that setting.
      if (!modelSettings.refused(e, model)) toast(e.detail, 'error');
      modelSelect.value = conv.model;
    }
  });

  async function applyPreset(p) {
    const settings = presetSettings(p);
    if (![...modelSelect.options].some((o) => o.value === p.model)) modelSelect.append(h('option', { value: p.model }, p.model));
    modelSelect.value = p.model;
    if (!conv) { pendingPreset = settings; announce(`Preset ${p.name} chosen`); return; }
    try {
      conv = await api.patch(`/api/conversations/${enc(conv.id)}`, settings);
      modelSettings.set(conv);
      announce(`Preset ${p.name} applied`);
    } catch (e) {
      toast(e.detail, 'error');
      modelSelect.value = conv.model;
      presets.reset();
    }
  }

  async function loadModels(selected) {
    presets.reset();
    presets.load(orgId);
    let ids;
    try {
      ids = await modelsFor(orgId);
    } catch (e) {
      ids = ['demo/echo'];
      composerAlert.show(`Could not load the model list (${e.detail}). Only demo/echo is offered.`, 'info');
    }
    let stored = null;
    try { stored = localStorage.getItem('chatgate.model'); } catch { /* storage blocked (e.g. a third-party iframe) */ }
    const want = selected || (ids.includes(stored) ? stored : null) || (ids.includes('demo/echo') ? 'demo/echo' : ids[0]);
    const all = want && !ids.includes(want) ? [...ids, want] : ids;
    replace(modelSelect, all.map((id) => h('option', { value: id }, id)));
    modelSelect.value = all.includes(want) ? want : all[0];
  }
  modelSelect.addEventListener('change', () => {
    try { localStorage.setItem('chatgate.model', modelSelect.value); } catch { /* storage blocked */ }
  });

  function setStreaming(on) {
    stopBtn.hidden = !on;
    stopBtn.disabled = false;
    sendBtn.hidden = on;
    modelSelect.disabled = on;
    if (on && document.activeElement === sendBtn) stopBtn.focus();
    if (!on && document.activeElement === stopBtn) textarea.focus();
  }

  // ---------- messages ----------
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  const toBottom = () => { scroller.scrollTop = scroller.scrollHeight; };

  /** The images of a user message: local ones (just sent) shown at once, stored ones fetched. */
  function messageImages(m) {
    // Inline images come first in `attachments`; uploaded files (with a file_id) after.
    const list = m.images || (m.attachments || []).filter((a) => !a.file_id).map((a, i) => ({
      mediaType: a.media_type, size: a.size, path: conv ? attachmentPath(conv.id, m.id, i) : null,
    }));
    const files = sentFiles(m.files || m.attachments);
    if (!list.length) return files;
    const images = h('div', { class: 'msg-images' }, list.map((a, i) => {
      const img = h('img', { class: 'msg-image', alt: `Image ${i + 1} of ${list.length} (${typeName(a.mediaType)}, ${fmtBytes(a.size)})` });
      if (a.url) img.src = a.url;
      else if (a.path) { img.dataset.path = a.path; imageIO.observe(img); }
      return img;
    }));
    return files ? h('div', { class: 'msg-attachments' }, images, files) : images;
  }

  /** The collapsible reasoning of a reply: open while it streams, closed once the answer starts. */
  function reasoningView(v) {
    const label = h('span', { class: 'reasoning-label' }, 'Reasoning');
    const summary = h('summary', null, label, h('span', { class: 'reasoning-live', 'aria-hidden': 'true' }));
    // Once the reader opens or closes it, it stays as they left it.
    summary.addEventListener('click', () => { v.reasoningTouched = true; });
    const body = h('div', { class: 'reasoning-body md' });
    const box = h('details', { class: 'msg-reasoning', hidden: true }, summary, body);
    return { box, label, body };
  }

  function messageView(m) {
    const isUser = m.role === 'user';
    const body = h('div', { class: isUser ? 'msg-body msg-text' : 'msg-body md' });
    const statusEl = h('span', { class: 'msg-status' });
    const copyBtn = isUser ? null : h('button', {
      type: 'button', class: 'btn btn-ghost btn-tiny msg-copy',
      onclick: async () => { const ok = await copyText(v.text); announce(ok ? 'Reply copied' : 'Could not copy'); },
    }, 'Copy');
    const v = {
      id: m.id, role: m.role, model: m.model, text: m.content || '', reasoning: m.reasoning || '', reasoningTouched: false,
      status: m.status || 'complete', body, statusEl, raf: 0, error: null,
    };
    v.images = isUser ? messageImages(m) : null;
    v.branch = h('span', { class: 'msg-branch-slot' });
    setBranch(v, m);
    v.thoughts = isUser ? null : reasoningView(v);
    v.el = h('article', { class: ['msg', isUser ? 'msg-user' : 'msg-assistant'], 'data-id': m.id, 'data-role': m.role },
      h('div', { class: 'msg-meta' },
        h('span', { class: 'msg-role' }, isUser ? 'You' : 'Assistant'),
        !isUser && m.model ? h('span', { class: 'msg-model' }, m.model) : null,
        statusEl,
        v.branch,
        copyBtn),
      v.images,
      v.thoughts && v.thoughts.box,
      body);
    paint(v);
    return v;
  }

  // Edits, regenerations and switching between versions (./chat/branches.js).
  const branchCtx = {
    convId: () => conv && conv.id,
    busy: () => !!active,
    reload: () => conv && open(conv.id),
    send: (text, branch) => send(text, branch),
    regenerate: (id, from) => regenerate(id, from),
  };
  function setBranch(v, m) {
    replace(v.branch, branchControls(m, v, branchCtx) || '');
  }

  function paintReasoning(v) {
    const { box, label, body } = v.thoughts;
    box.hidden = !v.reasoning;
    if (!v.reasoning) return;
    const thinking = v.status === 'streaming' && !v.text;
    replace(body, renderMarkdown(v.reasoning));
    label.textContent = thinking ? 'Reasoning…' : 'Reasoning';
    box.classList.toggle('is-thinking', thinking);
    if (!v.reasoningTouched) box.open = thinking;
  }

  function paint(v) {
    if (v.role === 'user') {
      v.body.textContent = v.text;
      v.body.hidden = !v.text && !!v.images;
    } else {
      paintReasoning(v);
      const frag = renderMarkdown(v.text);
      replace(v.body, frag);
      if (!v.text && !v.reasoning && v.status === 'streaming') v.body.append(h('span', { class: 'typing', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')));
      if (v.error) v.body.append(h('p', { class: 'msg-error', role: 'alert' }, v.error));
    }
    const label = STATUS_LABEL[v.status];
    replace(v.statusEl, label ? badge(label, v.status === 'failed' ? 'error' : v.status === 'aborted' ? 'warn' : 'info') : '');
    v.el.classList.toggle('is-streaming', v.status === 'streaming');
    if (v.status === 'streaming') v.el.setAttribute('aria-busy', 'true');
    else v.el.removeAttribute('aria-busy');
  }

  function schedulePaint(v, act) {
    if (v.raf) return;
    v.raf = requestAnimationFrame(() => {
      v.raf = 0;
      const stick = nearBottom();
      paint(v);
      if (stick) toBottom();
      if (act && act.lastId && v.status === 'streaming') {
        try { sessionStorage.setItem(RESUME_KEY(v.id), JSON.stringify({ id: act.lastId, text: v.text, reasoning: v.reasoning })); } catch { /* full */ }
      }
    });
  }

  function addMessage(m, { prepend = false } = {}) {
    const v = messageView(m);
    msgs.set(m.id, v);
    if (prepend) log.prepend(v.el);
    else log.append(v.el);
    emptyState.hidden = true;
    return v;
  }

  function rekey(v, id) {
    msgs.delete(v.id);
    v.id = id;
    v.el.dataset.id = id;
    msgs.set(id, v);
  }

  function resetMessages() {
    msgs.clear();
    clear(log);
    clear(olderBox);
    olderCursor = null;
  }

  function renderOlderButton() {
    clear(olderBox);
    if (!olderCursor) return;
    const b = h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-older': '' }, 'Load earlier messages');
    b.addEventListener('click', async () => {
      b.disabled = true;
      b.textContent = 'Loading…';
      const before = scroller.scrollHeight;
      try {
        const res = await api.get(`/api/conversations/${enc(conv.id)}/messages`, { query: { limit: HISTORY_PAGE, cursor: olderCursor } });
        for (const m of itemsOf(res)) if (!msgs.has(m.id)) addMessage(m, { prepend: true });
        olderCursor = res.next_cursor || null;
        scroller.scrollTop += scroller.scrollHeight - before;
        renderOlderButton();
        const firstMsg = log.querySelector('.msg');
        if (firstMsg && !('auto' in b.dataset)) { firstMsg.setAttribute('tabindex', '-1'); firstMsg.focus({ preventScroll: true }); }
      } catch (e) {
        replace(olderBox, loadError(e, () => renderOlderButton()));
      }
    });
    olderBox.append(b);
  }

  // ---------- streaming ----------
  function ensureAssistant(id, model) {
    let v = msgs.get(id);
    if (!v) v = addMessage({ id, role: 'assistant', content: '', status: 'streaming', model });
    return v;
  }

  /**
   * Reads one reply stream into the view. Returns 'done' (terminal event),
   * 'aborted' (we cut it) or 'eof' (the connection ended without a terminal event).
   */
  async function pump(res, act, { userView, model, fresh }) {
    let firstDelta = true;
    const events = readSSE(res);
    try {
      for (;;) {
        const { value: ev, done } = await events.next();
        if (done) break;
        if (ev.id) act.lastId = ev.id;
        let data = {};
        try { data = ev.data ? JSON.parse(ev.data) : {}; } catch { continue; }
        if (ev.event === 'message.created') {
          if (userView && data.user_message) {
            if (data.user_message.id) rekey(userView, data.user_message.id);
            setBranch(userView, data.user_message);
            userView.status = 'complete';
            paint(userView);
          }
          if (data.assistant_message_id) {
            act.assistant = ensureAssistant(data.assistant_message_id, model);
            announce('Assistant is replying');
          }
        } else if (ev.event === 'delta' || ev.event === 'reasoning') {
          if (!act.assistant) act.assistant = ensureAssistant(`pending-${Date.now()}`, model);
          const v = act.assistant;
          // A replay from the start replaces the stored text and reasoning.
          if (firstDelta && fresh) { v.text = ''; v.reasoning = ''; }
          firstDelta = false;
          v.status = 'streaming';
          const piece = typeof data.text === 'string' ? data.text : '';
          if (ev.event === 'delta') v.text += piece;
          else v.reasoning += piece;
          schedulePaint(v, act);
        } else if (ev.event === 'message.completed') {
          const v = act.assistant || (data.message && ensureAssistant(data.message.id, model));
          if (v) {
            const msg = data.message || {};
            if (msg.id && msg.id !== v.id) rekey(v, msg.id);
            if (typeof msg.content === 'string') v.text = msg.content;
            if ('reasoning' in msg) v.reasoning = msg.reasoning || '';
            v.status = msg.status && msg.status !== 'streaming' ? msg.status : 'complete';
            if (msg.id) setBranch(v, msg);
            finish(v);
          }
          announce(v && v.status === 'aborted' ? 'Reply stopped' : 'Reply complete');
          // The conversation's title may follow: read on without holding the composer.
          readTitle(events, act.convId);
          return 'done';
        } else if (ev.event === 'error') {
          const v = act.assistant;
          if (v) {
            v.status = 'failed';
            v.error = data.message || 'The reply failed.';
            finish(v);
          } else {
            composerAlert.show(data.message || 'The reply failed.');
          }
          announce(`Reply failed: ${data.message || ''}`);
          return 'done';
        }
      }
      return act.ctrl.signal.aborted ? 'aborted' : 'eof';
    } catch (e) {
      if (e && e.name === 'AbortError') return 'aborted';
      if (act.ctrl.signal.aborted) return 'aborted';
      return 'eof';
    }
  }

  /** The rest of a reply stream: the title generated for the conversation (`event: title`). */
  async function readTitle(events, convId) {
    try {
      for (;;) {
        const { value: ev, done } = await events.next();
        if (done) return;
        if (ev.event !== 'title') continue;
        let data = {};
        try { data = JSON.parse(ev.data || '{}'); } catch { continue; }
        // A title set by hand meanwhile wins (the server keeps it too).
        if (conv && conv.id === convId && typeof data.title === 'string' && conv.title_source !== 'user') {
          conv = { ...conv, title: data.title, title_source: 'generated' };
          showConvHeader();
          upsertConv(conv);
        }
      }
    } catch { /* the stream was cut: the title is the conversation's anyway */ }
  }

  function finish(v) {
    if (v.raf) { cancelAnimationFrame(v.raf); v.raf = 0; }
    const stick = nearBottom();
    paint(v);
    if (stick) toBottom();
    try { sessionStorage.removeItem(RESUME_KEY(v.id)); } catch { /* ignore */ }
  }

  /** The server's word on one message (after a stop or a lost connection). */
  async function syncMessage(convId, id) {
    try {
      const res = await api.get(`/api/conversations/${enc(convId)}/messages`, { query: { limit: 10 } });
      const m = itemsOf(res).find((x) => x.id === id);
      const v = msgs.get(id);
      if (m && v && conv && conv.id === convId) {
        v.text = m.content || '';
        v.reasoning = m.reasoning || '';
        v.status = m.status || v.status;
        paint(v);
        if (v.status !== 'streaming') sessionStorage.removeItem(RESUME_KEY(id));
      }
      return m || null;
    } catch {
      return null;
    }
  }

  async function runStream(act, open, opts) {
    setStreaming(true);
    let outcome = 'eof';
    let tries = 0;
    try {
      let res = await open();
      for (;;) {
        outcome = await pump(res, act, opts);
        if (outcome !== 'eof' || act.stopping || !act.assistant || tries >= 2) break;
        // The connection dropped mid-reply: resume from the last event seen.
        tries += 1;
        await new Promise((r) => setTimeout(r, 500 * tries));
        try {
          res = await request('GET', `/api/conversations/${enc(act.convId)}/messages/${enc(act.assistant.id)}/stream`, {
            stream: true, signal: act.ctrl.signal, headers: act.lastId ? { 'last-event-id': act.lastId } : {},
          });
        } catch (e) {
          if (e && e.name === 'AbortError') throw e;
          break; // the stored message is fetched below
        }
        opts = { ...opts, userView: null, fresh: !act.lastId };
      }
    } catch (e) {
      if (!(e && e.name === 'AbortError')) throw e;
      outcome = 'aborted';
    } finally {
      if (active === act) { active = null; setStreaming(false); }
    }
    const v = act.assistant;
    if (v && v.status === 'streaming' && (outcome !== 'aborted' || act.stopping)) {
      if (act.stopping) v.status = 'aborted';
      paint(v);
      if (conv && conv.id === act.convId) await syncMessage(act.convId, v.id);
      if (v.status === 'streaming' && !act.stopping && active === null) {
        v.error = 'The connection was lost while the reply was being written. Reload the page to continue it.';
        paint(v);
      }
    }
    return outcome;
  }

  /** Sends `text`; `branch` ({parentId, from}): as an edit under `parentId`, replacing `from` on. */
  async function send(text, branch = null) {
    composerAlert.clear();
    attachAlert = false;
    const model = modelSelect.value;
    const effort = effortSelect.value;
    const attached = pending;
    const images = attached.filter((a) => !a.fileId);
    const uploads = attached.filter((a) => a.fileId);
    const act = { ctrl: new AbortController(), convId: null, assistant: null, lastId: '', stopping: false, done: null };
    active = act;
    setStreaming(true);
    const token = loadToken;
    if (!conv) {
      try {
        // No title: the server names the conversation after its first reply (`event: title`).
        const c = await api.post('/api/conversations', { org_id: orgId || undefined, ...(pendingPreset || {}), model });
        pendingPreset = null;
        if (token !== loadToken) { active = null; setStreaming(false); return; }
        conv = c;
        modelSettings.set(c);
        setUrl(convHref(c.id));
        upsertConv(c, { toTop: true });
        for (const it of convItems.values()) markCurrent(it);
        showConvHeader();
      } catch (e) {
        active = null;
        setStreaming(false);
        composerAlert.show(e);
        return;
      }
    }
    act.convId = conv.id;
    if (branch) cutFrom(branch.from, msgs);
    const userView = addMessage({
      id: `local-${Date.now()}`, role: 'user', content: text, status: 'pending',
      images: images.map((a) => ({ url: a.url, mediaType: a.mediaType, size: a.size })), files: uploads,
    });
    textarea.value = '';
    autosize();
    pending = [];
    renderPending();
    toBottom();
    const body = { content: text, model };
    if (attached.length) body.attachments = [...images.map((a) => ({ type: 'image', media_type: a.mediaType, data: a.data })), ...uploads.map((a) => a.fileId)];
    if (effort) body.reasoning_effort = effort;
    if (branch) body.parent_id = branch.parentId;
    const open = () => request('POST', `/api/conversations/${enc(conv.id)}/messages`, {
      body, stream: true, signal: act.ctrl.signal,
    });
    act.done = runStream(act, open, { userView, model, fresh: false }).catch((e) => {
      // The message was not accepted: take it back into the composer.
      userView.el.remove();
      msgs.delete(userView.id);
      if (!msgs.size) emptyState.hidden = false;
      if (!textarea.value) { textarea.value = text; autosize(); }
      if (!pending.length && attached.length) { pending = attached; renderPending(); }
      if (e.code === 'no_provider_key') {
        // (Embedded: the settings open in a tab of their own, outside the embedding page.)
        const link = h('a', { href: '/settings/provider-keys', target: embed ? '_blank' : null, rel: embed ? 'noopener' : null }, 'Add a provider key');
        composerAlert.showNode(h('span', null, e.detail, ' ', link, ' or pick demo/echo.'));
      } else {
        composerAlert.show(e.status === 409 ? (e.detail || 'A reply is still being written in this conversation. Wait for it or stop it.') : e);
      }
      return 'error';
    });
    const outcome = await act.done;
    if (outcome !== 'error' && conv && conv.id === act.convId) {
      upsertConv({ ...conv, updated_at: new Date().toISOString() }, { toTop: true });
    }
    // The versions around the edit are counted again.
    if (branch && conv && conv.id === act.convId) await branchCtx.reload();
  }

  /** A new reply beside reply `id` (with the picked model), replacing it and what followed. */
  async function regenerate(id, from) {
    if (!conv || active) return;
    composerAlert.clear();
    const model = modelSelect.value;
    const act = { ctrl: new AbortController(), convId: conv.id, assistant: null, lastId: '', stopping: false, done: null };
    active = act;
    cutFrom(from, msgs);
    const open = () => request('POST', `/api/conversations/${enc(conv.id)}/messages/${enc(id)}/regenerate`, {
      body: { model }, stream: true, signal: act.ctrl.signal,
    });
    act.done = runStream(act, open, { userView: null, model, fresh: false }).catch((e) => {
      composerAlert.show(e.status === 409 ? (e.detail || 'A reply is still being written in this conversation.') : e);
      return 'error';
    });
    await act.done;
    if (conv && conv.id === act.convId) await branchCtx.reload();
  }

  async function stop() {
    const act = active;
    if (!act || act.stopping) return;
    act.stopping = true;
    stopBtn.disabled = true;
    try {
      if (act.convId) await api.post(`/api/conversations/${enc(act.convId)}/abort`);
    } catch (e) {
      if (e.status !== 404 && e.status !== 409) toast(e.detail, 'error');
    }
    // Let the server end the stream with its final event; cut it if it does not.
    const cut = setTimeout(() => act.ctrl.abort(), 1500);
    try { await act.done; } finally { clearTimeout(cut); }
    announce('Reply stopped');
  }

  async function resume(m) {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(RESUME_KEY(m.id)) || 'null'); } catch { saved = null; }
    const v = msgs.get(m.id);
    if (!v) return;
    v.status = 'streaming';
    if (saved && typeof saved.text === 'string' && saved.id) {
      v.text = saved.text;
      v.reasoning = typeof saved.reasoning === 'string' ? saved.reasoning : '';
    }
    paint(v);
    const act = { ctrl: new AbortController(), convId: conv.id, assistant: v, lastId: saved ? saved.id : '', stopping: false, done: null };
    active = act;
    const open = () => request('GET', `/api/conversations/${enc(conv.id)}/messages/${enc(m.id)}/stream`, {
      stream: true, signal: act.ctrl.signal, headers: saved && saved.id ? { 'last-event-id': saved.id } : {},
    });
    act.done = runStream(act, open, { model: m.model, fresh: !(saved && saved.id) }).catch(async () => {
      // Could not resume (it may have just finished): show the stored state.
      await syncMessage(act.convId, m.id);
      return 'error';
    });
    await act.done;
  }

  // ---------- header actions ----------
  function showConvHeader() {
    titleH.textContent = convTitle(conv);
    document.title = `${convTitle(conv)} · chatgate`;
    headActions.hidden = !conv;
  }

  async function rename() {
    if (!conv) return;
    const f = field({ label: 'Title', value: conv.title || '', required: true, maxlength: 200 });
    await dialog({
      title: 'Rename conversation',
      body: f.wrap,
      actions: [{ label: 'Cancel', value: null }, { label: 'Save', kind: 'primary', value: true }],
      initialFocus: f.input,
      onConfirm: async () => {
        const title = f.input.value.trim();
        if (!title) { f.setError('Enter a title.'); return false; }
        conv = await api.patch(`/api/conversations/${enc(conv.id)}`, { title });
        if (!conv.title) conv.title = title;
        showConvHeader();
        upsertConv(conv);
        announce('Conversation renamed');
        return true;
      },
    });
  }

  async function remove() {
    if (!conv) return;
    const ok = await confirmDialog('Delete conversation?', `“${convTitle(conv)}” and all its messages will be deleted. This cannot be undone.`);
    if (!ok) return;
    try {
      if (active && active.convId === conv.id) await stop();
      await api.del(`/api/conversations/${enc(conv.id)}`);
      removeConv(conv.id);
      toast('Conversation deleted');
      navigate(home);
    } catch (e) {
      toast(e.detail, 'error');
    }
  }

  // ---------- opening a conversation ----------
  function detach() {
    // Leaving a conversation whose reply is streaming: stop reading (the
    // server keeps writing it; coming back resumes it).
    if (active) {
      const act = active;
      active = null;
      act.ctrl.abort();
      setStreaming(false);
    }
  }

  async function open(id) {
    const token = ++loadToken;
    if (active && active.convId !== id) detach();
    composerAlert.clear();
    closeSidebar();
    if (!id) {
      conv = null;
      resetMessages();
      emptyState.hidden = false;
      titleH.textContent = 'New conversation';
      document.title = 'New conversation · chatgate';
      headActions.hidden = true;
      modelSettings.set(null);
      for (const it of convItems.values()) markCurrent(it);
      await loadModels();
      // Not when embedded: focus in an iframe would scroll the embedding page to it.
      if (token === loadToken && !embed && !matchMedia('(max-width: 760px)').matches) textarea.focus();
      return;
    }
    if (conv && conv.id === id && active) return; // already showing it
    resetMessages();
    emptyState.hidden = true;
    headActions.hidden = true;
    modelSettings.set(null);
    titleH.textContent = 'Loading…';
    const loading = h('div', { class: 'center-pad' }, spinner('Loading conversation…'));
    log.append(loading);
    try {
      const [c, res] = await Promise.all([
        api.get(`/api/conversations/${enc(id)}`),
        api.get(`/api/conversations/${enc(id)}/messages`, { query: { limit: HISTORY_PAGE } }),
      ]);
      if (token !== loadToken) return;
      conv = c;
      modelSettings.set(c);
      loading.remove();
      showConvHeader();
      for (const it of convItems.values()) markCurrent(it);
      if (!convItems.has(c.id)) upsertConv(c);
      // Newest first from the server; shown oldest first.
      const raw = itemsOf(res);
      const items = raw.every((m) => typeof m.seq === 'number') ? raw.slice().sort((a, b) => a.seq - b.seq) : raw.slice().reverse();
      for (const m of items) addMessage(m);
      if (!items.length) emptyState.hidden = false;
      olderCursor = res.next_cursor || null;
      renderOlderButton();
      toBottom();
      await jumpToMessage(log, async () => {
        if (!olderCursor || token !== loadToken) return false;
        const older = await api.get(`/api/conversations/${enc(id)}/messages`, { query: { limit: HISTORY_PAGE, cursor: olderCursor } });
        for (const m of itemsOf(older)) if (!msgs.has(m.id)) addMessage(m, { prepend: true });
        olderCursor = older.next_cursor || null;
        renderOlderButton();
        return true;
      });
      await loadModels(c.model);
      const last = items.filter((m) => m.role === 'assistant').pop();
      if (last && last.status === 'streaming' && token === loadToken) resume(last);
    } catch (e) {
      if (token !== loadToken) return;
      loading.remove();
      conv = null;
      titleH.textContent = e.status === 404 ? 'Conversation not found' : 'Could not open the conversation';
      document.title = 'Chat · chatgate';
      log.append(e.status === 404
        ? h('div', { class: 'center-pad' }, h('p', null, 'It may have been deleted. '), h('a', { href: home, class: 'btn btn-primary' }, 'Start a new conversation'))
        : loadError(e, () => open(id)));
    }
  }

  loadMoreConvs();
  open(params.id || null);

  return {
    update(p) { open(p.id || null); },
    destroy() {
      io.disconnect();
      imageIO.disconnect();
      stopPaging();
      detach();
    },
  };
}
