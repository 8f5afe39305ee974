// compose.js - the compose window: new message, reply, reply all,
// forward, resume a draft; attachments uploaded as they are picked (with
// a progress bar each); save draft; send.  The message is built on the
// server (POST /api/send, /api/drafts: docs/webmail-api.md).

import { api, upload } from './api.js';
import { $, h, clear, fmtSize, fmtAddr, splitAddrs } from './dom.js';

let hooks = { status() {}, fail() {}, changed() {}, folderOf() {} };

const c = {
  mode: 'new',
  inReplyTo: null,     // {folder, uid}
  forward: null,       // {folder, uid, mode}
  draftUid: null,      // uid in Drafts of the saved copy
  uploads: [],         // {id, filename, size, li} done; pending have .pending
  dirty: false,
  busy: false,
};

export const composeOpen = () => $('compose').open;

export function initCompose(h0) {
  hooks = h0;
  $('c-send').addEventListener('click', send);
  $('c-save').addEventListener('click', () => saveDraft(false));
  $('c-close').addEventListener('click', close);
  $('c-files').addEventListener('change', (ev) => {
    for (const f of ev.currentTarget.files) addFile(f);
    ev.currentTarget.value = '';
  });
  $('compose-form').addEventListener('input', () => { c.dirty = true; });
  $('compose-form').addEventListener('submit', (ev) => ev.preventDefault());
  $('compose').addEventListener('cancel', (ev) => {
    // Escape: close, as the Close button (keeps nothing unsaved silently:
    // a changed message is saved as a draft first).
    ev.preventDefault();
    close();
  });
}

function reset(title) {
  c.inReplyTo = c.forward = c.draftUid = null;
  c.uploads = [];
  c.dirty = false;
  c.busy = false;
  clear($('c-uploads'));
  $('compose-error').textContent = '';
  $('compose-title').textContent = title;
  for (const id of ['c-to', 'c-cc', 'c-bcc', 'c-subject', 'c-text']) $(id).value = '';
}

const joinAddrs = (v) => (Array.isArray(v) ? v.map(fmtAddr).join(', ') : (v || ''));

export async function openCompose({ mode, message }) {
  const titles = { new: 'New message', reply: 'Reply', all: 'Reply all',
    forward: 'Forward', draft: 'Draft' };
  reset(titles[mode] || 'New message');
  c.mode = mode;
  if (!$('compose').open) $('compose').showModal();
  const m = message;
  try {
    if (mode === 'reply' || mode === 'all' || mode === 'forward') {
      const p = await api.compose(m.folder, m.uid, mode);
      $('c-to').value = joinAddrs(p.to);
      $('c-cc').value = joinAddrs(p.cc);
      $('c-subject').value = p.subject || '';
      $('c-text').value = p.text || '';
      if (mode === 'forward') c.forward = { folder: m.folder, uid: m.uid, mode: 'inline' };
      else c.inReplyTo = { folder: m.folder, uid: m.uid };
      for (const u of p.attachments || []) addDone(u);
    } else if (mode === 'draft') {
      $('c-to').value = joinAddrs(m.to);
      $('c-cc').value = joinAddrs(m.cc);
      $('c-bcc').value = joinAddrs(m.bcc);
      $('c-subject').value = m.subject || '';
      $('c-text').value = m.text || '';
      c.draftUid = m.uid;
      if ((m.attachments || []).some((a) => !a.inline)) {
        // The draft's files become uploads again: the forward prefill
        // hands back a message's attachments as uploads.
        const p = await api.compose(m.folder, m.uid, 'forward');
        for (const u of p.attachments || []) addDone(u);
      }
    }
  } catch (e) {
    $('compose-error').textContent = e.message;
  }
  const first = mode === 'reply' || mode === 'all' ? $('c-text') : $('c-to');
  first.focus();
  if (first === $('c-text')) first.setSelectionRange(0, 0);
}

function uploadRow(name, size) {
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'Uploading ' + name });
  const rm = h('button', { type: 'button', className: 'link', 'aria-label': 'Remove ' + name }, 'Remove');
  const li = h('li', { className: 'upload' },
    h('span', { className: 'upload-name' }, name), ' ',
    h('span', { className: 'att-meta' }, fmtSize(size)), ' ', bar, ' ', rm);
  $('c-uploads').append(li);
  return { li, bar, rm };
}

function addDone(u) {
  const row = uploadRow(u.filename, u.size);
  row.bar.value = 1;
  row.bar.hidden = true;
  const entry = { ...u, li: row.li };
  c.uploads.push(entry);
  row.rm.addEventListener('click', () => removeUpload(entry));
}

function addFile(file) {
  const row = uploadRow(file.name, file.size);
  const entry = { filename: file.name, size: file.size, li: row.li, pending: true };
  c.uploads.push(entry);
  c.dirty = true;
  row.rm.addEventListener('click', () => removeUpload(entry));
  entry.promise = upload(file, (f) => { row.bar.value = f; })
    .then((u) => {
      Object.assign(entry, u, { pending: false });
      row.bar.hidden = true;
      row.li.classList.add('done');
    })
    .catch((e) => {
      entry.failed = true;
      entry.pending = false;
      row.li.classList.add('failed');
      row.bar.hidden = true;
      row.li.append(h('span', { className: 'error' }, ' ' + e.message));
    });
}

function removeUpload(entry) {
  c.uploads = c.uploads.filter((u) => u !== entry);
  entry.li.remove();
  c.dirty = true;
  if (entry.id) api.deleteUpload(entry.id).catch(() => {});
}

async function body() {
  await Promise.all(c.uploads.filter((u) => u.pending).map((u) => u.promise));
  if (c.uploads.some((u) => u.failed)) throw new Error('An attachment failed to upload; remove it first.');
  const b = {
    to: splitAddrs($('c-to').value),
    cc: splitAddrs($('c-cc').value),
    bcc: splitAddrs($('c-bcc').value),
    subject: $('c-subject').value,
    text: $('c-text').value,
    attachments: c.uploads.map((u) => u.id),
  };
  if (c.inReplyTo) b.in_reply_to = c.inReplyTo;
  if (c.forward) b.forward = c.forward;
  if (c.draftUid) b.draft_uid = c.draftUid;
  return b;
}

async function saveDraft(quiet) {
  if (c.busy) return false;
  c.busy = true;
  $('compose-error').textContent = '';
  try {
    const r = await api.saveDraft(await body());
    c.draftUid = r.uid;
    c.dirty = false;
    if (!quiet) hooks.status('Draft saved.');
    hooks.changed();
    return true;
  } catch (e) {
    $('compose-error').textContent = e.message;
    return false;
  } finally {
    c.busy = false;
  }
}

async function send() {
  if (c.busy) return;
  $('compose-error').textContent = '';
  if (!splitAddrs($('c-to').value).length && !splitAddrs($('c-cc').value).length &&
      !splitAddrs($('c-bcc').value).length) {
    $('compose-error').textContent = 'Add at least one recipient.';
    $('c-to').focus();
    return;
  }
  c.busy = true;
  $('c-send').disabled = true;
  try {
    await api.send(await body());
    c.dirty = false;
    $('compose').close();
    hooks.status('Message sent.');
    hooks.changed();
  } catch (e) {
    $('compose-error').textContent = e.code === 'invalid'
      ? 'Check the addresses: ' + e.message : e.message;
  } finally {
    c.busy = false;
    $('c-send').disabled = false;
  }
}

async function close() {
  if (c.dirty && ($('c-text').value.trim() || $('c-subject').value.trim() ||
      c.uploads.length)) {
    if (!(await saveDraft(true))) return;   // the error is shown
    hooks.status('Saved to Drafts.');
  }
  $('compose').close();
}
