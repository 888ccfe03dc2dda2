// DOM helpers. Everything on the page is built with createElement and
// textContent, never from HTML strings: the Content-Security-Policy
// enforces Trusted Types with no policy, so an HTML string could not be
// written anyway, and text from the API (response bodies, URLs, names)
// can never become markup.

const SVG = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'selected') {
      el[k] = !!v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

// fill replaces el's children, skipping null, undefined and false (which
// replaceChildren would write out as text).
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// h builds an HTML element: h('a', {href: '/x', class: 'link'}, 'text', child).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

// s builds an SVG element.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

let uid = 0;
// id returns a fresh element id, for labels and aria references.
export function id(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

// announce tells screen readers about something that happened.
export function announce(text) {
  const el = document.getElementById('announcer');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => { el.textContent = text; }, 50);
}

// field is a labelled form control with an optional hint.
export function field(label, control, hint) {
  const cid = control.id || id('f');
  control.id = cid;
  let hintEl = null;
  if (hint) {
    hintEl = h('p', { class: 'hint', id: `${cid}-hint` }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: cid }, label), control, hintEl);
}

// checkbox is a labelled checkbox.
export function checkbox(label, props) {
  const cid = id('c');
  return h('div', { class: 'check' }, h('input', { type: 'checkbox', id: cid, ...props }), h('label', { for: cid }, label));
}

// errorBox shows an error where the user is looking (role=alert).
// Given the form, it also marks the fields the API named in its details
// (aria-invalid, described by the box) and moves focus to the first.
export function errorBox() {
  const box = h('div', { class: 'error', role: 'alert', hidden: true, id: id('err') });
  let marked = [];
  box.clear = () => {
    box.hidden = true;
    fill(box);
    for (const el of marked) {
      el.removeAttribute('aria-invalid');
      const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== box.id);
      if (ids.length) el.setAttribute('aria-describedby', ids.join(' ')); else el.removeAttribute('aria-describedby');
    }
    marked = [];
  };
  box.show = (err, form) => {
    box.clear();
    fill(box, messageOf(err));
    box.hidden = false;
    const details = err && err.body && err.body.details;
    if (form && details && typeof details === 'object') {
      for (const key of Object.keys(details)) {
        const el = form.querySelector(`[name="${CSS.escape(key)}"]`);
        if (!el) continue;
        el.setAttribute('aria-invalid', 'true');
        el.setAttribute('aria-describedby', `${el.getAttribute('aria-describedby') || ''} ${box.id}`.trim());
        marked.push(el);
      }
      if (marked.length) marked[0].focus();
    }
  };
  return box;
}

// messageOf turns an API error into sentences, with its per-field details.
export function messageOf(err) {
  const body = err && err.body;
  const out = [h('p', null, (body && body.error) || (err && err.message) || 'Something went wrong.')];
  if (body && body.details && typeof body.details === 'object') {
    out.push(h('ul', null, Object.entries(body.details).map(([k, v]) => h('li', null, `${k}: ${v}`))));
  }
  if (body && body.request_id) out.push(h('p', { class: 'hint' }, `Request id: ${body.request_id}`));
  return out;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const shortFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

// when shows a time in the reader's zone, the exact instant in datetime.
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: d.toISOString() }, dateFmt.format(d));
}

export function shortTime(d) { return shortFmt.format(d); }

// ago says how long ago a time was, roughly.
export function ago(iso) {
  if (!iso) return 'never';
  const secs = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (secs < 5) return 'just now';
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

const statusText = { delivered: 'Delivered', failed: 'Failed', retrying: 'Retrying', pending: 'Pending' };

// badge shows a status in words and colour (never colour alone).
export function badge(status, text) {
  return h('span', { class: `badge badge-${status}` }, text || statusText[status] || status);
}

// copyButton copies text to the clipboard, or selects it where the
// browser does not allow that (plain http on another host than localhost).
export function copyButton(text, what, input) {
  const btn = h('button', { type: 'button', class: 'secondary' }, `Copy ${what}`);
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      btn.textContent = 'Copied';
      announce(`${what} copied to the clipboard`);
      setTimeout(() => { btn.textContent = `Copy ${what}`; }, 2000);
    } catch {
      if (input) { input.focus(); input.select(); }
      announce(`Press Control C to copy the ${what}`);
    }
  });
  return btn;
}

// secretPanel shows a value that is shown only once, with a copy button.
export function secretPanel(title, value, note, what = 'value') {
  const input = h('input', { type: 'text', readonly: true, value, class: 'mono', 'aria-label': title, spellcheck: 'false' });
  const panel = h('section', { class: 'once', tabindex: '-1', 'aria-label': title },
    h('h3', null, title), note ? h('p', null, note) : null,
    h('div', { class: 'copyrow' }, input, copyButton(value, what, input)));
  return panel;
}

// confirm asks a yes/no question in a modal dialog.
export function confirmDialog(title, text, action, danger = true) {
  return new Promise((resolve) => {
    const titleId = id('d');
    const yes = h('button', { type: 'button', class: danger ? 'danger' : '' }, action);
    const no = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const dlg = h('dialog', { 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title), h('p', null, text), h('div', { class: 'actions' }, no, yes));
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    yes.addEventListener('click', () => done(true));
    no.addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    no.focus();
  });
}

// tableWrap makes a wide table scroll on its own on a narrow screen, and
// reachable by keyboard.
export function tableWrap(label, table) {
  return h('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

// pretty formats JSON for reading; other text stays as it is.
export function pretty(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') return JSON.stringify(v, null, 2);
  try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return v; }
}

// busy disables a button while work runs.
export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { return await fn(); } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}
