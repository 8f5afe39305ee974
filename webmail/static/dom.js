// dom.js - small DOM helpers.  Text from the server is only ever put in
// the page as text (textContent, attribute values), never as markup: the
// HTML of a message is shown in its sandboxed iframe alone.

export const $ = (id) => document.getElementById(id);

// h('li', {className: 'x', dataset: {uid: 1}, onclick: fn}, child...)
// Children: strings (text nodes), nodes, arrays, null/false (skipped).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'className' || k === 'textContent' || k === 'type' ||
             k === 'checked' || k === 'value' || k === 'hidden' ||
             k === 'disabled' || k === 'title' || k === 'href' ||
             k === 'tabIndex' || k === 'htmlFor') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

export function fmtSize(n) {
  n = Number(n) || 0;
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KB';
  if (n < 1024 * 1024 * 1024) return (n / 1048576).toFixed(1) + ' MB';
  return (n / 1073741824).toFixed(1) + ' GB';
}

export function fmtDate(iso, long) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '';
  if (long) return d.toLocaleString();
  const now = new Date();
  if (d.toDateString() === now.toDateString())
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const opts = { month: 'short', day: 'numeric' };
  if (d.getFullYear() !== now.getFullYear()) opts.year = 'numeric';
  return d.toLocaleDateString([], opts);
}

export function fmtAddr(a) {
  if (!a) return '';
  if (typeof a === 'string') return a;
  if (a.name && a.address) return a.name + ' <' + a.address + '>';
  return a.name || a.address || '';
}

export const fmtAddrs = (list) => (list || []).map(fmtAddr).join(', ');

// Split "a@b, Name <c@d>, \"Last, First\" <e@f>" at the commas that are
// not inside quotes or angle brackets.
export function splitAddrs(text) {
  const out = [];
  let cur = '', quote = false, angle = false;
  for (const ch of String(text || '')) {
    if (ch === '"' && !angle) quote = !quote;
    else if (ch === '<' && !quote) angle = true;
    else if (ch === '>' && !quote) angle = false;
    if ((ch === ',' || ch === ';') && !quote && !angle) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

// A button that asks for a second click within 4 s before acting
// (no window.confirm: native dialogs block and look like phishing).
export function confirmClick(button, label, fn) {
  button.addEventListener('click', () => {
    if (button.dataset.armed) {
      delete button.dataset.armed;
      button.textContent = button.dataset.label;
      fn();
      return;
    }
    button.dataset.label = button.textContent;
    button.dataset.armed = '1';
    button.textContent = label;
    setTimeout(() => {
      if (button.dataset.armed) {
        delete button.dataset.armed;
        button.textContent = button.dataset.label;
      }
    }, 4000);
  });
}
