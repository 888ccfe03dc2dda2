// Client keys: the list with scopes and limits, create (the key shown
// once, with a copy button), revoke and delete.

import { h, fill, field, errorBox, busy, announce, badge, when, secretPanel, confirmDialog, tableWrap, id } from '../dom.js';
import { api } from '../api.js';

const knownScopes = ['read:webhooks', 'write:webhooks', 'write:events', 'read:clientkeys', 'write:clientkeys', 'read:users', 'write:users', 'read:invitations', 'write:invitations'];

function keyState(k) {
  if (k.revoked_at) return badge('failed', 'Revoked');
  if (k.expires_at && new Date(k.expires_at) <= new Date()) return badge('retrying', 'Expired');
  return badge('delivered', 'Active');
}

function keyForm(onCreated, onCancel) {
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: '100' });
  const desc = h('input', { type: 'text', name: 'description' });
  const legendId = id('scopes');
  const boxes = knownScopes.map((sc) => {
    const cid = id('sc');
    return h('div', { class: 'check' }, h('input', { type: 'checkbox', id: cid, value: sc, checked: sc === 'write:events' }), h('label', { for: cid, class: 'mono' }, sc));
  });
  const other = h('input', { type: 'text', name: 'other', placeholder: 'read:orders, read:products', spellcheck: 'false' });
  const rate = h('input', { type: 'number', name: 'rate_limit_per_minute', min: '1', max: '100000', required: true, value: '60', inputmode: 'numeric' });
  const expires = h('input', { type: 'date', name: 'expires_at' });
  const err = errorBox();
  const submit = h('button', { type: 'submit' }, 'Create key');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', onCancel);
  const form = h('form', { class: 'card', 'aria-label': 'New client key' }, h('h2', null, 'New client key'), err,
    field('Name', name), field('Description (optional)', desc),
    h('fieldset', { 'aria-labelledby': legendId }, h('legend', { id: legendId }, 'Scopes'), h('div', { class: 'checks' }, boxes),
      field('Other scopes (optional)', other, 'Comma-separated, for your own services: action:resource.')),
    field('Requests per minute', rate), field('Expires on (optional)', expires, 'Leave empty for a key that does not expire.'),
    h('div', { class: 'actions' }, submit, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const scopes = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value)
      .concat(other.value.split(',').map((x) => x.trim()).filter(Boolean));
    const body = { name: name.value.trim(), scopes, rate_limit_per_minute: Number(rate.value) };
    if (desc.value.trim()) body.description = desc.value.trim();
    if (expires.value) body.expires_at = new Date(`${expires.value}T23:59:59`).toISOString();
    await busy(submit, async () => {
      try { onCreated(await api('POST', '/client-keys', body)); } catch (ex) { err.show(ex, form); }
    });
  });
  return form;
}

export async function keysPage(main) {
  const list = await api('GET', '/client-keys');
  const slot = h('div');
  const newBtn = h('button', { type: 'button', 'aria-expanded': 'false' }, 'New client key');
  const rerender = () => keysPage(main);
  newBtn.addEventListener('click', () => {
    if (slot.firstChild) { fill(slot); newBtn.setAttribute('aria-expanded', 'false'); return; }
    newBtn.setAttribute('aria-expanded', 'true');
    const form = keyForm(async (res) => {
      await rerender();
      const panel = secretPanel('Client key', res.key, `Copy the key for "${res.client_key.name}" now: it is shown only this once (only its hash is stored).`, 'key');
      main.querySelector('.page-head').after(panel);
      announce('Client key created. Copy it now: it is shown only once.');
      panel.focus();
    }, () => { fill(slot); newBtn.setAttribute('aria-expanded', 'false'); newBtn.focus(); });
    fill(slot, form);
    form.querySelector('input').focus();
  });
  const act = (label, cls, fn) => {
    const b = h('button', { type: 'button', class: cls }, label);
    b.addEventListener('click', () => fn(b));
    return b;
  };
  const table = list.client_keys.length === 0 ? h('p', null, 'No client keys yet. Services use them to publish events and manage webhooks.')
    : tableWrap('Client keys', h('table', null,
      h('thead', null, h('tr', null, ['Name', 'Key', 'Scopes', 'Limit', 'State', 'Last used', 'Expires', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, list.client_keys.map((k) => h('tr', null,
        h('th', { scope: 'row' }, k.name, k.description ? h('div', { class: 'hint' }, k.description) : null),
        h('td', { class: 'mono' }, `${k.key_prefix}…`),
        h('td', null, h('ul', { class: 'plain' }, k.scopes.map((sc) => h('li', { class: 'mono' }, sc)))),
        h('td', null, `${k.rate_limit_per_minute}/min`),
        h('td', null, keyState(k)),
        h('td', null, when(k.last_used_at)),
        h('td', null, k.expires_at ? when(k.expires_at) : 'never'),
        h('td', null, h('div', { class: 'actions tight' },
          k.revoked_at ? null : act('Revoke', 'secondary', async (b) => {
            if (!await confirmDialog(`Revoke "${k.name}"?`, 'The key stops working at once; it stays listed as revoked.', 'Revoke')) { b.focus(); return; }
            await busy(b, () => api('POST', `/client-keys/${k.id}/revoke`));
            announce(`Key ${k.name} revoked`);
            await rerender();
          }),
          act('Delete', 'danger', async (b) => {
            if (!await confirmDialog(`Delete "${k.name}"?`, 'The key stops working at once and is removed from the list.', 'Delete')) { b.focus(); return; }
            await busy(b, () => api('DELETE', `/client-keys/${k.id}`));
            announce(`Key ${k.name} deleted`);
            await rerender();
          }))))))));
  fill(main, h('div', { class: 'page-head' }, h('h1', null, 'Client keys'), newBtn), slot, table);
}
