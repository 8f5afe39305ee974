// app.js - the webmail UI: login, folders, message list, reading pane,
// search, bulk actions, live updates (EventSource) and keyboard
// shortcuts.  Compose is in compose.js, the API in api.js.  No framework:
// the state is one object, and each part of the page is redrawn from it
// by its render function.  See docs/webmail-ui.md.

import { api, ApiError, msgPath, setCsrf, setLogoutHandler } from './api.js';
import { $, h, clear, fmtSize, fmtDate, fmtAddr, fmtAddrs, confirmClick }
  from './dom.js';
import { initCompose, openCompose, composeOpen } from './compose.js';

const ROLE_NAMES = {
  inbox: 'Inbox', drafts: 'Drafts', sent: 'Sent', junk: 'Junk',
  trash: 'Trash', archive: 'Archive',
};
const PAGE = 50;

const state = {
  me: null,
  folders: [],
  folder: 'INBOX',          // folder id shown (mode 'folder')
  mode: 'folder',           // or 'search'
  search: null,             // search parameters (mode 'search')
  offset: 0,
  sort: 'date',
  order: 'desc',
  threads: false,
  items: [],                // summaries shown, each with .folder set
  total: 0,
  selected: new Set(),      // keys of checked items
  anchor: -1,               // index of the last checkbox clicked (shift)
  current: null,            // message shown in the reading pane
  images: false,            // remote images allowed for the current one
  events: null,             // EventSource
};

const key = (folder, uid) => folder + '\u0000' + uid;
const itemKey = (it) => key(it.folder, it.uid);
const folderById = (id) => state.folders.find((f) => f.id === id);
const folderRole = (id) => (folderById(id) || {}).role || null;

export function folderLabel(f) {
  if (!f) return '';
  if (f.role && ROLE_NAMES[f.role]) return ROLE_NAMES[f.role];
  if (f.id === 'INBOX') return 'Inbox';
  return f.name || f.id;
}
const labelOf = (id) => folderLabel(folderById(id)) || id;

// -- status line ------------------------------------------------------

let statusTimer = 0;
function status(text, error) {
  const el = $('status');
  el.textContent = text || '';
  el.classList.toggle('error', !!error);
  clearTimeout(statusTimer);
  if (text) statusTimer = setTimeout(() => { el.textContent = ''; }, 6000);
}
function fail(e) {
  if (e instanceof ApiError && e.status === 401) return;
  status((e && e.message) || String(e), true);
}

// -- login / logout ---------------------------------------------------

function showLogin(message) {
  state.me = null;
  if (state.events) { state.events.close(); state.events = null; }
  $('loading').hidden = true;
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('login-password').value = '';
  $('login-address').focus();
  document.title = 'Postern webmail';
}

async function startApp(session) {
  state.me = session;
  setCsrf(session.csrf);
  $('loading').hidden = true;
  $('login').hidden = true;
  $('app').hidden = false;
  $('user-address').textContent = session.name
    ? session.name + ' <' + session.address + '>' : session.address;
  if (session.quota_bytes) {
    $('quota').textContent = fmtSize(session.used_bytes) + ' of ' +
      fmtSize(session.quota_bytes);
  } else $('quota').textContent = '';
  state.folder = 'INBOX';
  state.mode = 'folder';
  state.offset = 0;
  closeMessage();
  await loadFolders();
  await loadList();
  listen();
}

async function onLogin(ev) {
  ev.preventDefault();
  const address = $('login-address').value.trim();
  const password = $('login-password').value;
  $('login-error').textContent = '';
  if (!address || !password) {
    $('login-error').textContent = 'Enter your address and password.';
    return;
  }
  $('login-submit').disabled = true;
  try {
    await api.login(address, password);
    // The session (with quota and csrf) in one shape for both paths.
    await startApp(await api.session());
  } catch (e) {
    $('login-error').textContent =
      e.status === 401 ? 'Wrong address or password.'
        : e.status === 429 ? 'Too many failed attempts; try again later.'
          : e.message;
  } finally {
    $('login-submit').disabled = false;
  }
}

async function logout() {
  try { await api.logout(); } catch (e) { /* gone already */ }
  setCsrf('');
  showLogin('You have logged out.');
}

// -- folders ----------------------------------------------------------

async function loadFolders() {
  const data = await api.folders();
  state.folders = data.items || [];
  renderFolders();
}

function renderFolders() {
  const list = $('folder-list');
  clear(list);
  for (const f of state.folders) {
    const depth = f.role ? 0 : Math.max(0, (f.name || '').split('/').length - 1);
    const current = state.mode === 'folder' && f.id === state.folder;
    const label = f.role ? folderLabel(f) : (f.name || f.id).split('/').pop();
    const btn = h('button', {
      type: 'button', className: 'folder', dataset: { folder: f.id },
      'aria-current': current ? 'true' : null,
      title: folderLabel(f),
      onclick: () => selectFolder(f.id),
    }, h('span', { className: 'folder-name' }, label),
    f.unread ? h('span', { className: 'badge', 'aria-label': f.unread + ' unread' },
      String(f.unread)) : null);
    btn.style.paddingLeft = (0.6 + depth * 1.0) + 'em';
    list.append(h('li', { className: f.role ? 'role-' + f.role : '' }, btn));
  }
  // move targets
  const sel = $('bulk-move');
  const keep = sel.options[0];
  clear(sel);
  sel.append(keep);
  for (const f of state.folders) {
    sel.append(h('option', { value: f.id }, folderLabel(f)));
  }
  const own = state.mode === 'folder' && !folderRole(state.folder) &&
    state.folder !== 'INBOX';
  $('folder-rename').hidden = !own;
  $('folder-delete').hidden = !own;
  const role = state.mode === 'folder' ? folderRole(state.folder) : null;
  $('empty-folder').hidden = !(role === 'trash' || role === 'junk');
  if (!$('empty-folder').dataset.armed)
    $('empty-folder').textContent = role === 'junk' ? 'Empty Junk' : 'Empty Trash';
  $('bulk-junk').hidden = role === 'junk';
  $('bulk-notjunk').hidden = role !== 'junk';
  const inbox = state.folders.find((f) => f.role === 'inbox' || f.id === 'INBOX');
  document.title = (inbox && inbox.unread ? '(' + inbox.unread + ') ' : '') +
    (state.mode === 'folder' ? labelOf(state.folder) : 'Search') + ' - Postern';
}

function selectFolder(id) {
  state.mode = 'folder';
  state.folder = id;
  state.search = null;
  state.offset = 0;
  state.selected.clear();
  state.anchor = -1;
  $('search-q').value = '';
  renderFolders();
  loadList().catch(fail);
  setView('list');
}

let folderFormMode = 'new';
function openFolderForm(mode) {
  folderFormMode = mode;
  const f = folderById(state.folder);
  $('folder-form').hidden = false;
  $('folder-form-label').textContent = mode === 'new' ? 'New folder name' : 'Rename folder to';
  $('folder-form-ok').textContent = mode === 'new' ? 'Create' : 'Rename';
  $('folder-name').value = mode === 'rename' && f ? f.name : '';
  $('folder-name').focus();
}

async function submitFolderForm(ev) {
  ev.preventDefault();
  const name = $('folder-name').value.trim();
  if (!name) return;
  try {
    let f;
    if (folderFormMode === 'new') {
      f = await api.createFolder(name);
      status('Folder "' + name + '" created.');
    } else {
      f = await api.renameFolder(state.folder, name);
      status('Folder renamed to "' + name + '".');
    }
    $('folder-form').hidden = true;
    await loadFolders();
    if (f && f.id) selectFolder(f.id);
  } catch (e) {
    fail(e.code === 'exists' ? new Error('A folder of that name exists.')
      : e.code === 'invalid' ? new Error('That folder name is not allowed.') : e);
  }
}

async function deleteFolder() {
  const name = labelOf(state.folder);
  try {
    await api.deleteFolder(state.folder);
    status('Folder "' + name + '" deleted.');
    await loadFolders();
    selectFolder('INBOX');
  } catch (e) {
    fail(e.status === 409 ? new Error('Delete its subfolders first.') : e);
  }
}

async function emptyFolder() {
  const id = state.folder;
  try {
    await api.emptyFolder(id);
    status(labelOf(id) + ' emptied.');
    closeMessage();
    await Promise.all([loadFolders(), loadList()]);
  } catch (e) { fail(e); }
}

// -- message list -----------------------------------------------------

async function loadList() {
  let data;
  if (state.mode === 'search') {
    data = await api.search({ ...state.search, offset: state.offset, limit: PAGE });
    data.items = (data.items || []).map((it) => ({ ...it, folder: it.folder }));
    $('list-title').textContent = 'Search results';
  } else {
    const folder = state.folder;
    data = await api.messages(folder, {
      offset: state.offset, limit: PAGE, sort: state.sort,
      order: state.order, threads: state.threads ? 1 : 0,
    });
    if (state.mode !== 'folder' || state.folder !== folder) return;
    data.items = (data.items || []).map((it) => ({ ...it, folder }));
    $('list-title').textContent = labelOf(folder);
    // the list answer has fresh counts: show them in the folder pane
    const f = folderById(folder);
    if (f && (f.total !== data.total || f.unread !== data.unread)) {
      f.total = data.total;
      f.unread = data.unread;
      renderFolders();
    }
  }
  state.items = data.items;
  state.total = data.total || 0;
  const keys = new Set(state.items.map(itemKey));
  for (const k of state.selected) if (!keys.has(k)) state.selected.delete(k);
  renderList();
}

function renderList() {
  const list = $('message-list');
  clear(list);
  const searching = state.mode === 'search';
  state.items.forEach((it, i) => {
    const k = itemKey(it);
    const from = state.folder && (folderRole(it.folder) === 'sent' ||
      folderRole(it.folder) === 'drafts')
      ? 'To: ' + ((it.to || []).map((a) => a.name || a.address).join(', ') || '')
      : ((it.from && (it.from.name || it.from.address)) || '(unknown sender)');
    const cb = h('input', {
      type: 'checkbox', className: 'pick', checked: state.selected.has(k),
      'aria-label': 'Select message ' + (it.subject || '(no subject)'),
      onclick: (ev) => pick(i, ev.currentTarget.checked, ev.shiftKey),
    });
    const flag = h('button', {
      type: 'button', className: 'flag-btn',
      'aria-pressed': it.flagged ? 'true' : 'false',
      'aria-label': it.flagged ? 'Unflag' : 'Flag',
      title: it.flagged ? 'Flagged' : 'Flag',
      onclick: () => act([it], it.flagged ? 'unflag' : 'flag'),
    }, it.flagged ? '★' : '☆');
    const open = h('button', {
      type: 'button', className: 'open', onclick: () => openMessage(it),
    },
    h('span', { className: 'from' }, from),
    it.thread_count > 1 && state.threads && !searching
      ? h('span', { className: 'thread-count', 'aria-label': it.thread_count + ' messages' },
        String(it.thread_count)) : null,
    h('span', { className: 'subject' }, it.subject || '(no subject)'),
    h('span', { className: 'date' }, fmtDate(it.date)),
    h('span', { className: 'preview' }, it.preview || ''),
    h('span', { className: 'meta' },
      it.has_attachments ? h('span', { className: 'clip', title: 'Has attachments' }, 'attachment') : null,
      it.answered ? h('span', { className: 'answered', title: 'Answered' }, 'answered') : null,
      searching ? h('span', { className: 'in-folder' }, labelOf(it.folder)) : null,
      h('span', { className: 'size' }, fmtSize(it.size))));
    const cur = state.current && itemKey(state.current) === k;
    list.append(h('li', {
      className: 'msg' + (it.seen ? '' : ' unread') + (it.flagged ? ' flagged' : '') +
        (state.selected.has(k) ? ' selected' : ''),
      dataset: { uid: String(it.uid), folder: it.folder },
      'aria-current': cur ? 'true' : null,
    }, cb, flag, open));
  });
  $('list-empty').hidden = state.items.length > 0;
  const end = Math.min(state.offset + state.items.length, state.total);
  $('page-info').textContent = state.total
    ? (state.offset + 1) + '–' + end + ' of ' + state.total : '';
  $('list-count').textContent = state.mode === 'folder'
    ? (folderById(state.folder) || {}).unread
      ? folderById(state.folder).unread + ' unread' : '' : state.total + ' found';
  $('page-prev').disabled = state.offset === 0;
  $('page-next').disabled = end >= state.total;
  const boxes = state.items.length;
  $('select-all').checked = boxes > 0 && state.selected.size === boxes;
  $('select-all').indeterminate = state.selected.size > 0 && state.selected.size < boxes;
}

function pick(i, on, shift) {
  if (shift && state.anchor >= 0 && state.anchor < state.items.length) {
    const [a, b] = state.anchor < i ? [state.anchor, i] : [i, state.anchor];
    for (let j = a; j <= b; j++) {
      const k = itemKey(state.items[j]);
      if (on) state.selected.add(k); else state.selected.delete(k);
    }
  } else {
    const k = itemKey(state.items[i]);
    if (on) state.selected.add(k); else state.selected.delete(k);
  }
  state.anchor = i;
  renderList();
}

function selectedItems() {
  const sel = state.items.filter((it) => state.selected.has(itemKey(it)));
  if (sel.length) return sel;
  return state.current ? [state.current] : [];
}

// Run action on items (grouped by folder: search results span folders).
async function act(items, action, target) {
  if (!items.length) { status('Select messages first.'); return; }
  const byFolder = new Map();
  for (const it of items) {
    if (!byFolder.has(it.folder)) byFolder.set(it.folder, []);
    byFolder.get(it.folder).push(it.uid);
  }
  let done = 0;
  try {
    for (const [folder, uids] of byFolder) {
      const r = await api.actions(folder, uids, action, target);
      done += (r && r.done) || 0;
    }
  } catch (e) { fail(e); }
  const gone = ['move', 'delete', 'junk', 'notjunk'].includes(action);
  const word = {
    seen: 'marked read', unseen: 'marked unread', flag: 'flagged',
    unflag: 'unflagged', move: 'moved to ' + labelOf(target),
    delete: 'deleted', junk: 'moved to Junk', notjunk: 'moved to Inbox',
  }[action];
  status(done + (done === 1 ? ' message ' : ' messages ') + word + '.');
  if (gone) {
    const keys = new Set(items.map(itemKey));
    if (state.current && keys.has(itemKey(state.current))) closeMessage();
    for (const k of keys) state.selected.delete(k);
  } else if (state.current && items.some((it) => itemKey(it) === itemKey(state.current))) {
    if (action === 'flag' || action === 'unflag') state.current.flagged = action === 'flag';
    if (action === 'seen' || action === 'unseen') state.current.seen = action === 'seen';
    renderMessageFlags();
  }
  await Promise.all([loadFolders(), loadList()]).catch(fail);
}

// -- reading pane -----------------------------------------------------

async function openMessage(it, markSeen = true) {
  let m;
  try {
    m = await api.message(it.folder, it.uid, markSeen);
  } catch (e) { fail(e); return; }
  m.folder = m.folder || it.folder;
  m.uid = m.uid || it.uid;
  state.current = m;
  state.images = false;
  renderMessage();
  setView('message');
  if (!it.seen && markSeen) {
    it.seen = true;
    const f = folderById(it.folder);
    if (f && f.unread > 0) f.unread--;
    renderFolders();
  }
  renderList();
  if (it.thread_count > 1 && state.threads) loadThread(it);
}

async function loadThread(it) {
  try {
    const data = await api.thread(it.folder, it.uid);
    const ol = $('msg-thread-list');
    clear(ol);
    for (const t of data.items || []) {
      const one = { ...t, folder: it.folder };
      ol.append(h('li', null, h('button', {
        type: 'button', className: 'link' + (t.seen ? '' : ' unread'),
        'aria-current': state.current && state.current.uid === t.uid ? 'true' : null,
        onclick: () => openMessage(one),
      }, fmtDate(t.date) + ' · ' +
        ((t.from && (t.from.name || t.from.address)) || '') + ' · ' +
        (t.subject || '(no subject)'))));
    }
    $('msg-thread').hidden = !(data.items && data.items.length > 1);
  } catch (e) { fail(e); }
}

function closeMessage() {
  state.current = null;
  $('message').hidden = true;
  $('read-empty').hidden = false;
  $('msg-html').src = 'about:blank';
  $('msg-html').hidden = true;
  if ($('panes').dataset.view === 'message') setView('list');
  if (state.items.length) renderList();
}

function renderMessageFlags() {
  const m = state.current;
  if (!m) return;
  $('msg-flag').setAttribute('aria-pressed', m.flagged ? 'true' : 'false');
  $('msg-flag').textContent = m.flagged ? 'Unflag' : 'Flag';
}

function renderMessage() {
  const m = state.current;
  $('read-empty').hidden = true;
  $('message').hidden = false;
  $('msg-subject').textContent = m.subject || '(no subject)';
  $('msg-from').textContent = fmtAddr(m.from);
  $('msg-to').textContent = fmtAddrs(m.to);
  $('msg-cc').textContent = fmtAddrs(m.cc);
  $('msg-cc').hidden = $('msg-cc-label').hidden = !(m.cc && m.cc.length);
  $('msg-date').textContent = fmtDate(m.date, true);
  $('msg-folder').textContent = labelOf(m.folder);
  $('msg-thread').hidden = true;
  renderMessageFlags();
  const draft = folderRole(m.folder) === 'drafts' || m.draft;
  $('msg-edit-draft').hidden = !draft;
  const junk = folderRole(m.folder) === 'junk';
  $('msg-junk').textContent = junk ? 'Not junk' : 'Junk';
  $('msg-raw').href = msgPath(m.folder, m.uid) + '/raw';
  $('msg-text').textContent = m.text || '';
  $('msg-images').hidden = !(m.has_html && m.remote_images);
  $('msg-view-switch').hidden = !m.has_html;
  showBody(m.has_html ? 'html' : 'text');
  const ul = $('msg-attachment-list');
  clear(ul);
  const atts = (m.attachments || []).filter((a) => !(a.inline && a.content_id && m.has_html));
  for (const a of atts) {
    const href = msgPath(m.folder, m.uid) + '/parts/' + encodeURIComponent(a.part);
    ul.append(h('li', null,
      h('a', { href, download: a.filename || 'attachment', className: 'attachment',
        rel: 'noopener noreferrer' }, a.filename || 'attachment ' + a.part),
      ' ', h('span', { className: 'att-meta' },
        (a.content_type || '') + ', ' + fmtSize(a.size))));
  }
  $('msg-attachments').hidden = atts.length === 0;
  $('read-pane').scrollTop = 0;
}

function showBody(which) {
  const m = state.current;
  const html = which === 'html' && m && m.has_html;
  $('msg-show-html').setAttribute('aria-pressed', html ? 'true' : 'false');
  $('msg-show-text').setAttribute('aria-pressed', html ? 'false' : 'true');
  $('msg-text').hidden = html;
  const frame = $('msg-html');
  frame.hidden = !html;
  if (html) {
    frame.style.height = '12em';
    frame.src = msgPath(m.folder, m.uid) + '/html' + (state.images ? '?images=1' : '');
  } else frame.src = 'about:blank';
}

// Size the iframe to its content, so the pane scrolls, not the frame.
// The frame is same-origin (allow-same-origin) but runs no script.
function fitFrame() {
  const frame = $('msg-html');
  try {
    const doc = frame.contentDocument;
    if (!doc || !doc.documentElement || frame.src === 'about:blank') return;
    const hgt = Math.max(doc.documentElement.scrollHeight,
      doc.body ? doc.body.scrollHeight : 0);
    frame.style.height = Math.min(Math.max(hgt + 16, 80), 20000) + 'px';
  } catch (e) { /* not readable: keep the default height */ }
}

// -- search -----------------------------------------------------------

function runSearch(params) {
  const clean = {};
  for (const [k, v] of Object.entries(params)) if (v) clean[k] = v;
  if (!Object.keys(clean).some((k) => k !== 'folder')) {
    selectFolder(state.folder);
    return;
  }
  if (state.mode === 'folder' && clean.folder === undefined) {
    // keep where we are for "this folder" searches
  }
  state.mode = 'search';
  state.search = clean;
  state.offset = 0;
  state.selected.clear();
  renderFolders();
  setView('list');
  loadList().catch(fail);
}

function onQuickSearch(ev) {
  ev.preventDefault();
  const q = $('search-q').value.trim();
  if (!q) { selectFolder(state.folder); return; }
  runSearch({ q });
}

function onAdvancedSearch(ev) {
  ev.preventDefault();
  const f = new FormData($('adv-search'));
  const p = {};
  for (const k of ['from', 'to', 'subject', 'body', 'since', 'before'])
    p[k] = String(f.get(k) || '').trim();
  const q = $('search-q').value.trim();
  if (q) p.q = q;
  if (f.get('scope') === 'folder') p.folder = state.folder;
  runSearch(p);
}

function toggleAdvanced(show) {
  const form = $('adv-search');
  form.hidden = show === undefined ? !form.hidden : !show;
  $('adv-toggle').setAttribute('aria-expanded', form.hidden ? 'false' : 'true');
  if (!form.hidden) form.elements.from.focus();
}

// -- live updates -----------------------------------------------------

let reloadTimer = 0;
function listen() {
  if (state.events) state.events.close();
  if (typeof EventSource === 'undefined') return;
  const es = new EventSource('/api/events');
  state.events = es;
  es.addEventListener('folder', (ev) => {
    let d;
    try { d = JSON.parse(ev.data); } catch (e) { return; }
    const f = folderById(d.folder);
    if (f) {
      f.total = d.total;
      f.unread = d.unread;
      renderFolders();
    } else {
      loadFolders().catch(fail);
    }
    if (state.mode === 'folder' && d.folder === state.folder) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => loadList().catch(fail), 250);
    }
  });
  es.addEventListener('error', () => {
    // EventSource retries by itself; a closed one means the server said
    // no (the session ended): check, which shows the login when so.
    if (es.readyState === EventSource.CLOSED && state.events === es) {
      state.events = null;
      api.session().then(() => setTimeout(listen, 5000), () => {});
    }
  });
}

// -- views (phone width shows one pane at a time) ----------------------

function setView(v) {
  $('panes').dataset.view = v;
}

// -- keyboard ---------------------------------------------------------

function moveCursor(delta) {
  if (!state.items.length) return;
  let i = state.current
    ? state.items.findIndex((it) => itemKey(it) === itemKey(state.current)) : -1;
  i = i < 0 ? (delta > 0 ? 0 : state.items.length - 1) : i + delta;
  if (i < 0 || i >= state.items.length) return;
  openMessage(state.items[i]);
  const li = $('message-list').children[i];
  if (li) li.scrollIntoView({ block: 'nearest' });
}

function onKey(ev) {
  if (!state.me || composeOpen()) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName));
  if (ev.key === 'Escape') {
    if (typing) t.blur();
    if (!$('adv-search').hidden) toggleAdvanced(false);
    else if (!$('folder-form').hidden) $('folder-form').hidden = true;
    else if (state.current) closeMessage();
    return;
  }
  if (typing) return;
  const m = state.current;
  const run = {
    j: () => moveCursor(1),
    k: () => moveCursor(-1),
    c: () => openCompose({ mode: 'new' }),
    r: () => m && openCompose({ mode: 'reply', message: m }),
    a: () => m && openCompose({ mode: 'all', message: m }),
    f: () => m && openCompose({ mode: 'forward', message: m }),
    '#': () => act(selectedItems(), 'delete'),
    Delete: () => act(selectedItems(), 'delete'),
    s: () => { const its = selectedItems(); if (its.length) act(its, its[0].flagged ? 'unflag' : 'flag'); },
    u: () => act(selectedItems(), 'unseen'),
    '/': () => $('search-q').focus(),
  }[ev.key];
  if (run) {
    ev.preventDefault();
    run();
  }
}

// -- wiring -----------------------------------------------------------

function wire() {
  $('login-form').addEventListener('submit', onLogin);
  $('logout-btn').addEventListener('click', logout);
  $('compose-btn').addEventListener('click', () => openCompose({ mode: 'new' }));
  $('search-form').addEventListener('submit', onQuickSearch);
  $('adv-toggle').addEventListener('click', () => toggleAdvanced());
  $('adv-search').addEventListener('submit', onAdvancedSearch);
  $('folder-new').addEventListener('click', () => openFolderForm('new'));
  $('folder-rename').addEventListener('click', () => openFolderForm('rename'));
  $('folder-form').addEventListener('submit', submitFolderForm);
  $('folder-form-cancel').addEventListener('click', () => { $('folder-form').hidden = true; });
  confirmClick($('folder-delete'), 'Click again to delete', deleteFolder);
  confirmClick($('empty-folder'), 'Click again: erase all', emptyFolder);

  for (const b of document.querySelectorAll('[data-bulk]')) {
    b.addEventListener('click', () => act(selectedItems(), b.dataset.bulk));
  }
  $('bulk-move').addEventListener('change', (ev) => {
    const target = ev.currentTarget.value;
    ev.currentTarget.value = '';
    if (target) act(selectedItems(), 'move', target);
  });
  $('select-all').addEventListener('change', (ev) => {
    state.selected.clear();
    if (ev.currentTarget.checked) for (const it of state.items) state.selected.add(itemKey(it));
    renderList();
  });
  const relist = () => { state.offset = 0; loadList().catch(fail); };
  $('sort').addEventListener('change', (ev) => { state.sort = ev.currentTarget.value; relist(); });
  $('order').addEventListener('change', (ev) => { state.order = ev.currentTarget.value; relist(); });
  $('threads').addEventListener('change', (ev) => { state.threads = ev.currentTarget.checked; relist(); });
  $('page-prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - PAGE);
    loadList().catch(fail);
  });
  $('page-next').addEventListener('click', () => {
    if (state.offset + PAGE < state.total) state.offset += PAGE;
    loadList().catch(fail);
  });
  $('back-to-folders').addEventListener('click', () => setView('folders'));
  $('back-to-list').addEventListener('click', () => setView('list'));

  const cur = () => state.current;
  $('msg-reply').addEventListener('click', () => cur() && openCompose({ mode: 'reply', message: cur() }));
  $('msg-reply-all').addEventListener('click', () => cur() && openCompose({ mode: 'all', message: cur() }));
  $('msg-forward').addEventListener('click', () => cur() && openCompose({ mode: 'forward', message: cur() }));
  $('msg-edit-draft').addEventListener('click', () => cur() && openCompose({ mode: 'draft', message: cur() }));
  $('msg-flag').addEventListener('click', () => cur() && act([cur()], cur().flagged ? 'unflag' : 'flag'));
  $('msg-unread').addEventListener('click', () => cur() && act([cur()], 'unseen'));
  $('msg-delete').addEventListener('click', () => cur() && act([cur()], 'delete'));
  $('msg-junk').addEventListener('click', () =>
    cur() && act([cur()], folderRole(cur().folder) === 'junk' ? 'notjunk' : 'junk'));
  $('msg-show-images').addEventListener('click', () => {
    state.images = true;
    $('msg-images').hidden = true;
    showBody('html');
  });
  $('msg-show-html').addEventListener('click', () => showBody('html'));
  $('msg-show-text').addEventListener('click', () => showBody('text'));
  $('msg-html').addEventListener('load', fitFrame);
  document.addEventListener('keydown', onKey);

  initCompose({
    status, fail,
    folderOf: (role) => (state.folders.find((f) => f.role === role) || {}).id,
    changed: () => Promise.all([loadFolders(), loadList()]).catch(fail),
  });
  setLogoutHandler(() => {
    if (state.me) showLogin('Your session has ended. Please log in again.');
  });
}

async function boot() {
  wire();
  try {
    const s = await api.session();
    await startApp(s);
  } catch (e) {
    if (e.status === 401 || e.status === 403) showLogin('');
    else if (e.status) showLogin(e.message);
    else showLogin('The server cannot be reached.');
  }
}

boot();
