// Webhooks: the list with each one's health at a glance, create, and one
// webhook's page (edit, test, rotate the secret, replay what it missed,
// retry its failed deliveries, delete, its health and its deliveries).

import { h, fill, field, checkbox, errorBox, busy, announce, badge, ago, when, secretPanel, confirmDialog, tableWrap, pretty } from '../dom.js';
import { api } from '../api.js';
import { navigate } from '../router.js';
import { healthCharts } from './overview.js';
import { deliveryTable } from './deliveries.js';

function healthCell(hh) {
  if (!hh || hh.attempts === 0) return h('span', { class: 'muted' }, 'no attempts in 24 h');
  const pct = Math.round(100 * hh.success_ratio);
  return h('span', null, h('strong', { class: pct < 90 ? 'bad' : '' }, `${pct} %`), ` of ${hh.attempts}`);
}

function lastCell(hh) {
  const last = hh && hh.last_attempt;
  if (!last) return h('span', { class: 'muted' }, 'never');
  return h('span', null, badge(last.status), ' ', last.status_code ? `HTTP ${last.status_code}, ` : (last.error ? `${last.error}, ` : ''),
    h('a', { href: `/deliveries/${last.delivery_id}` }, ago(last.created_at)));
}

function stateCell(w) {
  if (w.is_active) return badge('delivered', 'Active');
  return h('span', null, badge('failed', 'Disabled'), w.disabled_reason ? h('div', { class: 'hint' }, w.disabled_reason) : null);
}

// parseHeaders reads "Name: value" lines.
function parseHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`The header line "${line.trim()}" has no "Name: value" form.`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

// localInput formats a Date for an <input type="datetime-local">.
function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// replayProgress shows a replay and follows it until it ends, with a
// button to cancel it meanwhile.
function replayProgress(out, hook, first) {
  const state = h('dd');
  const counts = h('dd');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel the replay');
  const panel = h('section', { class: 'card result', tabindex: '-1', 'aria-label': 'Replay' },
    h('h2', null, first.kind === 'retry_failed' ? 'Retry of the failed deliveries' : 'Replay'),
    first.note ? h('p', { class: 'hint' }, first.note) : null,
    h('dl', { class: 'kv' }, h('dt', null, 'State'), state, h('dt', null, 'Progress'), counts),
    h('div', { class: 'actions' }, cancel));
  let stopped = false;
  const show = (r) => {
    fill(state, badge(r.state === 'done' ? 'delivered' : (r.state === 'failed' ? 'failed' : 'pending'), r.state), r.error ? ` ${r.error}` : '');
    fill(counts, `${r.events_scanned} read, ${r.events_matched} for this webhook, ${r.deliveries_queued} queued`);
    if (r.state !== 'pending' && r.state !== 'running') { stopped = true; cancel.remove(); }
  };
  show(first);
  cancel.addEventListener('click', () => busy(cancel, async () => {
    try { show(await api('POST', `/webhooks/${hook.id}/replays/${first.id}/cancel`)); announce('Replay cancelled'); } catch (ex) { const e = errorBox(); e.show(ex); panel.append(e); }
  }));
  const poll = async () => {
    if (stopped || !panel.isConnected) return;
    try { show(await api('GET', `/webhooks/${hook.id}/replays/${first.id}`)); } catch { /* shown again at the next poll */ }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
  fill(out, panel);
  panel.focus();
}

// replayForm asks for a replay's window and status option.
function replayForm(out, hook, onCancel) {
  const now = new Date();
  const since = h('input', { type: 'datetime-local', name: 'since', required: true, value: localInput(new Date(now.getTime() - 3600e3)) });
  const until = h('input', { type: 'datetime-local', name: 'until', value: '' });
  const status = h('select', { name: 'status' },
    h('option', { value: '' }, 'every event'),
    h('option', { value: 'missed' }, 'only events never attempted (missed)'),
    h('option', { value: 'failed' }, 'only events whose delivery failed'),
    h('option', { value: 'delivered' }, 'only events already delivered'));
  const err = errorBox();
  const submit = h('button', { type: 'submit' }, 'Replay');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', onCancel);
  const form = h('form', { class: 'card', 'aria-label': 'Replay events' },
    h('h2', null, 'Replay events'),
    h('p', { class: 'hint' }, 'Sends again every kept event of the window that this webhook is subscribed to now (its events and filter), including the ones it missed while disabled or before it subscribed. An event the receiver already had comes with the same webhook-id.'),
    err,
    field('From', since), field('Until (optional)', until, 'Empty: now.'), field('Which events', status),
    h('div', { class: 'actions' }, submit, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const body = { since: new Date(since.value).toISOString() };
    if (until.value) body.until = new Date(until.value).toISOString();
    if (status.value) body.status = status.value;
    await busy(submit, async () => {
      try { replayProgress(out, hook, await api('POST', `/webhooks/${hook.id}/replay`, body)); announce('Replay started'); } catch (ex) { err.show(ex, form); }
    });
  });
  return form;
}

// webhookForm is the create and edit form; onSave gets the request body.
function webhookForm(hook, onSave, onCancel) {
  const editing = !!hook;
  const url = h('input', { type: 'url', name: 'url', required: true, value: hook ? hook.url : '', placeholder: 'https://example.com/webhooks', spellcheck: 'false' });
  const events = h('input', { type: 'text', name: 'events', required: true, value: hook ? hook.events.join(', ') : '*', spellcheck: 'false' });
  const desc = h('input', { type: 'text', name: 'description', maxlength: '1000', value: hook && hook.description ? hook.description : '' });
  const secret = h('input', { type: 'text', name: 'secret', autocomplete: 'off', spellcheck: 'false' });
  const rate = h('input', { type: 'number', name: 'rate_limit_per_second', min: '1', max: '10000', inputmode: 'numeric', value: hook && hook.rate_limit_per_second ? String(hook.rate_limit_per_second) : '' });
  const headers = h('textarea', { name: 'headers', rows: '3', spellcheck: 'false' },
    hook && hook.headers ? Object.entries(hook.headers).map(([k, v]) => `${k}: ${v}`).join('\n') : '');
  const filterIn = h('textarea', { name: 'filter', rows: '2', maxlength: '1000', spellcheck: 'false' }, hook && hook.filter ? hook.filter : '');
  const fifo = hook && hook.ordering === 'fifo';
  const ordering = h('select', { name: 'ordering' },
    h('option', { value: 'none', selected: !fifo }, 'Unordered (fastest: events in parallel)'),
    h('option', { value: 'fifo', selected: fifo }, 'In order (FIFO per ordering key)'));
  const active = checkbox('Active (deliveries are sent)', { name: 'is_active', checked: hook ? hook.is_active : true });
  const err = errorBox();
  const submit = h('button', { type: 'submit' }, editing ? 'Save changes' : 'Create webhook');
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  cancel.addEventListener('click', onCancel);
  const form = h('form', { class: 'card', 'aria-label': editing ? 'Edit the webhook' : 'New webhook' },
    h('h2', null, editing ? 'Edit the webhook' : 'New webhook'), err,
    field('Endpoint URL', url, 'Where the events are POSTed.'),
    field('Events', events, 'Comma-separated: names like user.created, prefixes like user.*, or * for every event.'),
    field('Description (optional)', desc),
    editing ? null : field('Secret (optional)', secret, 'Leave empty to have one generated (whsec_…). It is shown once.'),
    field('Rate limit per second (optional)', rate),
    field('Extra headers (optional)', headers, 'One "Name: value" per line, sent with every delivery.'),
    field('Filter (optional)', filterIn, 'A CEL expression over the event (event, data, id, timestamp, user_id), like data.amount > 100 && data.currency == "EUR": only the events it holds true for are sent. Empty: every subscribed event.'),
    field('Delivery order', ordering, 'In order: one event at a time per ordering_key, in the order they were accepted; a failing delivery holds only its own key.'),
    active, h('div', { class: 'actions' }, submit, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    let body;
    try {
      body = {
        url: url.value.trim(),
        events: events.value.split(',').map((x) => x.trim()).filter(Boolean),
        description: desc.value.trim(),
        is_active: active.querySelector('input').checked,
        headers: parseHeaders(headers.value),
      };
      if (!editing && secret.value.trim()) body.secret = secret.value.trim();
      if (rate.value) body.rate_limit_per_second = Number(rate.value);
      const filterText = filterIn.value.trim();
      if (filterText) body.filter = filterText;
      else if (editing) body.filter = null; // removes it
      if (ordering.value === 'fifo') body.ordering = 'fifo';
      else if (editing) body.ordering = 'none';
    } catch (ex) {
      err.show(ex);
      return;
    }
    await busy(submit, async () => {
      try { await onSave(body); } catch (ex) { err.show(ex, form); err.scrollIntoView({ block: 'nearest' }); }
    });
  });
  return form;
}

export async function webhooksPage(main) {
  const [hooks, health] = await Promise.all([api('GET', '/webhooks'), api('GET', '/stats/webhooks')]);
  const byId = new Map(health.webhooks.map((w) => [w.webhook_id, w]));
  const slot = h('div');
  const newBtn = h('button', { type: 'button', 'aria-expanded': 'false' }, 'New webhook');
  newBtn.addEventListener('click', () => {
    if (slot.firstChild) { fill(slot); newBtn.setAttribute('aria-expanded', 'false'); return; }
    newBtn.setAttribute('aria-expanded', 'true');
    const form = webhookForm(null, async (body) => {
      const created = await api('POST', '/webhooks', body);
      const panel = secretPanel('Signing secret', created.secret,
        'Copy the secret now: it is shown only this once. Receivers verify signatures with it.', 'secret');
      fill(slot, panel,
        h('p', null, h('a', { href: `/webhooks/${created.id}` }, 'Open the new webhook'), ' · ', h('a', { href: '/webhooks' }, 'Back to the list')));
      announce('Webhook created. Copy its secret now: it is shown only once.');
      panel.focus();
    }, () => { fill(slot); newBtn.setAttribute('aria-expanded', 'false'); newBtn.focus(); });
    fill(slot, form);
    form.querySelector('input').focus();
  });
  const table = hooks.webhooks.length === 0 ? h('p', null, 'No webhooks yet: create one to receive events.')
    : tableWrap('Webhooks', h('table', null,
      h('thead', null, h('tr', null, ['Endpoint', 'Events', 'State', 'Success (24 h)', 'Last attempt'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, hooks.webhooks.map((w) => h('tr', null,
        h('th', { scope: 'row' }, h('a', { href: `/webhooks/${w.id}` }, w.description || w.url), w.description ? h('div', { class: 'hint mono' }, w.url) : null),
        h('td', null, h('span', { class: 'mono' }, w.events.join(', ')), w.ordering === 'fifo' ? h('div', { class: 'hint' }, 'in order (FIFO)') : null),
        h('td', null, stateCell(w)),
        h('td', null, healthCell(byId.get(w.id))),
        h('td', null, lastCell(byId.get(w.id))))))));
  fill(main, h('div', { class: 'page-head' }, h('h1', null, 'Webhooks'), newBtn), slot, table);
}

export async function webhookPage(main, [hookId], query) {
  const [hook, health] = await Promise.all([api('GET', `/webhooks/${encodeURIComponent(hookId)}`), api('GET', '/stats/webhooks')]);
  const hh = health.webhooks.find((w) => w.webhook_id === hook.id);
  const [charts, recent] = await Promise.all([
    healthCharts(query, hook.id, hook.description || hook.url),
    api('GET', '/deliveries', undefined, { webhook_id: hook.id, limit: 10 }),
  ]);
  const out = h('div', { class: 'results', 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions wrap' });
  const edit = h('button', { type: 'button', class: 'secondary' }, 'Edit');
  const test = h('button', { type: 'button', class: 'secondary' }, 'Send a test event');
  const rotate = h('button', { type: 'button', class: 'secondary' }, 'Rotate the secret');
  const replayBtn = h('button', { type: 'button', class: 'secondary' }, 'Replay…');
  const retryFailed = h('button', { type: 'button', class: 'secondary' }, 'Retry failed deliveries');
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete');
  if (!hook.is_active) {
    const enable = h('button', { type: 'button' }, 'Turn back on');
    enable.addEventListener('click', () => busy(enable, async () => {
      await api('PATCH', `/webhooks/${hook.id}`, { is_active: true });
      announce('Webhook turned back on');
      await rerender();
    }));
    actions.append(enable);
  }
  actions.append(edit, test, rotate);
  if (hook.is_active) actions.append(replayBtn, retryFailed);
  actions.append(del);
  const rerender = () => webhookPage(main, [hookId], new URLSearchParams(location.search));

  edit.addEventListener('click', () => {
    const form = webhookForm(hook, async (body) => {
      await api('PATCH', `/webhooks/${hook.id}`, body);
      announce('Webhook saved');
      await rerender();
    }, () => { fill(out); edit.focus(); });
    fill(out, form);
    form.querySelector('input').focus();
  });
  test.addEventListener('click', () => busy(test, async () => {
    fill(out, h('p', null, 'Sending a webhook.test event…'));
    try {
      const r = await api('POST', `/webhooks/${hook.id}/test`);
      const panel = h('section', { class: `card result ${r.success ? 'ok' : 'fail'}`, tabindex: '-1', 'aria-label': 'Test result' },
        h('h2', null, r.success ? 'The test was delivered' : 'The test failed'),
        h('dl', { class: 'kv' },
          h('dt', null, 'Status'), h('dd', null, r.status_code ? `HTTP ${r.status_code}` : 'no answer'),
          r.error ? [h('dt', null, 'Error'), h('dd', null, r.error)] : null,
          h('dt', null, 'Response body'), h('dd', null, r.response_body ? h('pre', null, pretty(r.response_body)) : h('span', { class: 'muted' }, 'empty'))));
      fill(out, panel);
      announce(r.success ? 'The test was delivered' : 'The test failed');
      panel.focus();
    } catch (ex) {
      const e = errorBox();
      e.show(ex);
      fill(out, e);
    }
  }));
  rotate.addEventListener('click', async () => {
    if (!await confirmDialog('Rotate the signing secret?', 'A new secret signs from now on; the old one keeps signing beside it for 24 hours, so receivers can switch over without losing a delivery.', 'Rotate', false)) { rotate.focus(); return; }
    await busy(rotate, async () => {
      try {
        const r = await api('POST', `/webhooks/${hook.id}/rotate-secret`);
        const until = r.previous_secret_expires_at ? new Date(r.previous_secret_expires_at).toLocaleString() : 'in 24 hours';
        const panel = secretPanel('New signing secret', r.secret, `Copy it now: it is shown only this once. The old secret keeps signing until ${until}.`, 'secret');
        fill(out, panel);
        announce('Secret rotated. Copy the new secret now: it is shown only once.');
        panel.focus();
      } catch (ex) {
        const e = errorBox();
        e.show(ex);
        fill(out, e);
      }
    });
  });
  replayBtn.addEventListener('click', () => {
    const form = replayForm(out, hook, () => { fill(out); replayBtn.focus(); });
    fill(out, form);
    form.querySelector('input').focus();
  });
  retryFailed.addEventListener('click', async () => {
    if (!await confirmDialog('Retry every failed delivery?', 'Each delivery of this webhook that failed for good is attempted once more, with the payload it had.', 'Retry', false)) { retryFailed.focus(); return; }
    await busy(retryFailed, async () => {
      try { replayProgress(out, hook, await api('POST', `/webhooks/${hook.id}/retry-failed`)); announce('Retry started'); } catch (ex) { const e = errorBox(); e.show(ex); fill(out, e); }
    });
  });
  del.addEventListener('click', async () => {
    if (!await confirmDialog('Delete this webhook?', `No more events go to ${hook.url}. Its delivery log stays readable to admins.`, 'Delete')) { del.focus(); return; }
    await api('DELETE', `/webhooks/${hook.id}`);
    announce('Webhook deleted');
    navigate('/webhooks');
  });

  fill(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/webhooks' }, 'Webhooks'), ' › '),
    h('h1', null, hook.description || hook.url),
    h('dl', { class: 'kv card' },
      h('dt', null, 'Endpoint'), h('dd', { class: 'mono' }, hook.url),
      h('dt', null, 'Events'), h('dd', { class: 'mono' }, hook.events.join(', ')),
      h('dt', null, 'State'), h('dd', null, stateCell(hook)),
      h('dt', null, 'Success (24 h)'), h('dd', null, healthCell(hh)),
      h('dt', null, 'Last attempt'), h('dd', null, lastCell(hh)),
      hook.rate_limit_per_second ? [h('dt', null, 'Rate limit'), h('dd', null, `${hook.rate_limit_per_second} per second`)] : null,
      hook.filter ? [h('dt', null, 'Filter'), h('dd', { class: 'mono' }, hook.filter)] : null,
      h('dt', null, 'Delivery order'), h('dd', null, hook.ordering === 'fifo' ? 'In order (FIFO per ordering key)' : 'Unordered'),
      hook.headers ? [h('dt', null, 'Extra headers'), h('dd', { class: 'mono' }, Object.entries(hook.headers).map(([k, v]) => h('div', null, `${k}: ${v}`)))] : null,
      h('dt', null, 'Created'), h('dd', null, when(hook.created_at)),
      h('dt', null, 'Id'), h('dd', { class: 'mono' }, hook.id)),
    actions, out, charts,
    h('section', { 'aria-labelledby': 'recent-h' },
      h('div', { class: 'section-head' }, h('h2', { id: 'recent-h' }, 'Recent deliveries'),
        h('a', { href: `/deliveries?webhook_id=${hook.id}` }, 'All deliveries of this webhook')),
      deliveryTable(recent.deliveries, new Map([[hook.id, hook]]), false)));
}
