// api.js - the webmail's HTTP API (docs/webmail-api.md) as small async
// functions.  Every call but GET carries the session's CSRF token in
// X-CSRF-Token; the token comes from POST /api/login or GET /api/session.
// A 401 anywhere means the session ended: onLogout (set by app.js) runs.

let csrf = '';
export let onLogout = () => {};
export function setLogoutHandler(fn) { onLogout = fn; }
export function setCsrf(token) { csrf = token || ''; }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || ('HTTP ' + status));
    this.status = status;
    this.code = code || '';
  }
}

// Path segment: folder ids are on-disk names ("INBOX", "Lists.postern").
export const seg = (s) => encodeURIComponent(String(s));

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

async function request(method, path, { params, json, body, type } = {}) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  let payload;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (body !== undefined) {
    headers['Content-Type'] = type || 'application/octet-stream';
    payload = body;
  }
  let res;
  try {
    res = await fetch(path + query(params), {
      method, headers, body: payload, credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  if (res.status === 204) return null;
  let data = null;
  const ct = res.headers.get('Content-Type') || '';
  if (ct.includes('json')) {
    try { data = await res.json(); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401 && path !== '/api/login') onLogout(true);
    throw new ApiError(res.status, err.code, err.message);
  }
  return data;
}

export const api = {
  session: () => request('GET', '/api/session'),
  login: (address, password) =>
    request('POST', '/api/login', { json: { address, password } }),
  logout: () => request('POST', '/api/logout'),

  folders: () => request('GET', '/api/folders'),
  createFolder: (name) => request('POST', '/api/folders', { json: { name } }),
  renameFolder: (id, name) =>
    request('PATCH', '/api/folders/' + seg(id), { json: { name } }),
  deleteFolder: (id) => request('DELETE', '/api/folders/' + seg(id)),
  emptyFolder: (id) => request('POST', '/api/folders/' + seg(id) + '/empty'),

  messages: (folder, params) =>
    request('GET', '/api/folders/' + seg(folder) + '/messages', { params }),
  thread: (folder, uid) =>
    request('GET', '/api/folders/' + seg(folder) + '/threads/' + seg(uid)),
  message: (folder, uid, markSeen = true) =>
    request('GET', msgPath(folder, uid),
      { params: { mark_seen: markSeen ? 1 : 0 } }),
  actions: (folder, uids, action, target) =>
    request('POST', '/api/actions', { json: { folder, uids, action, target } }),
  search: (params) => request('GET', '/api/search', { params }),

  compose: (folder, uid, mode) =>
    request('GET', '/api/compose', { params: { folder, uid, mode } }),
  deleteUpload: (id) => request('DELETE', '/api/uploads/' + seg(id)),
  saveDraft: (body) => request('POST', '/api/drafts', { json: body }),
  send: (body) => request('POST', '/api/send', { json: body }),
};

export function msgPath(folder, uid) {
  return '/api/folders/' + seg(folder) + '/messages/' + seg(uid);
}

// Upload one file with progress (fetch has no upload progress):
// onProgress(fraction).  Resolves to the upload object.
export function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/uploads' + query({ filename: file.name }));
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status === 201 || xhr.status === 200) {
        onProgress(1);
        resolve(xhr.response);
        return;
      }
      const err = (xhr.response && xhr.response.error) || {};
      if (xhr.status === 401) onLogout(true);
      reject(new ApiError(xhr.status, err.code,
        xhr.status === 413 ? 'The file is too large.' : err.message));
    });
    xhr.addEventListener('error', () =>
      reject(new ApiError(0, 'network', 'The upload failed.')));
    xhr.send(file);
  });
}
