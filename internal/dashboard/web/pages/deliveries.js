// Deliveries: the log across webhooks (filtered, newest first, paged) and
// one delivery with its payload, headers and every attempt, and a retry.

import { h, fill, field, errorBox, busy, announce, badge, when, tableWrap, pretty, confirmDialog } from '../dom.js';
import { api } from '../api.js';
import { navigate } from '../router.js';

function codeOrError(d) {
  if (d.status_code) return `HTTP ${d.status_code}`;
  return d.error || '—';
}

// retryOne queues one more attempt of a failed delivery.
function retryOne(d) {
  return api('POST', `/webhooks/${d.webhook_id}/deliveries/${d.delivery_id}/retry`);
}

// deliveryTable lists deliveries; hooks maps webhook ids to webhooks. A
// failed delivery of a webhook that still exists can be retried from
// its row.
export function deliveryTable(list, hooks, withWebhook = true) {
  if (list.length === 0) return h('p', null, 'No deliveries match.');
  const retryCell = (d) => {
    if (d.status !== 'failed' || !hooks.get(d.webhook_id)) return h('td', null);
    const cell = h('td');
    const b = h('button', { type: 'button', class: 'secondary', 'aria-label': `Retry the delivery of ${d.event} from ${new Date(d.created_at).toLocaleString()}` }, 'Retry');
    b.addEventListener('click', () => busy(b, async () => {
      try {
        const q = await retryOne(d);
        fill(cell, badge('pending', `Attempt ${q.attempt} queued`));
        announce(`Retry queued: attempt ${q.attempt} of ${d.event}`);
      } catch (ex) {
        fill(cell, h('span', { class: 'bad' }, ex.message));
      }
    }));
    cell.append(b);
    return cell;
  };
  return tableWrap('Deliveries', h('table', null,
    h('thead', null, h('tr', null, ['Last attempt', 'Event', withWebhook ? 'Webhook' : null, 'Status', 'Attempts', 'Answer', 'Duration', 'Actions']
      .filter(Boolean).map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, list.map((d) => {
      const hook = hooks.get(d.webhook_id);
      return h('tr', null,
        h('th', { scope: 'row' }, h('a', { href: `/deliveries/${d.delivery_id}` }, when(d.created_at))),
        h('td', { class: 'mono' }, d.event),
        withWebhook ? h('td', null, hook ? h('a', { href: `/webhooks/${hook.id}` }, hook.description || hook.url) : h('span', { class: 'muted' }, 'deleted webhook')) : null,
        h('td', null, badge(d.status)),
        h('td', null, String(d.attempt)),
        h('td', null, codeOrError(d)),
        h('td', null, d.duration_ms === undefined ? '—' : `${d.duration_ms} ms`),
        retryCell(d));
    }))));
}

// retryAll retries every failed delivery listed, one after the other.
function retryAllButton(list, hooks) {
  const failed = list.filter((d) => d.status === 'failed' && hooks.get(d.webhook_id));
  if (failed.length < 2) return null;
  const out = h('span', { role: 'status' });
  const b = h('button', { type: 'button', class: 'secondary' }, `Retry the ${failed.length} failed deliveries shown`);
  b.addEventListener('click', async () => {
    if (!await confirmDialog(`Retry ${failed.length} deliveries?`, 'Each gets one more attempt now, with the retries its schedule still has after it.', 'Retry them', false)) { b.focus(); return; }
    await busy(b, async () => {
      let ok = 0;
      const errors = [];
      for (const d of failed) {
        try { await retryOne(d); ok += 1; } catch (ex) { errors.push(`${d.event}: ${ex.message}`); }
      }
      out.textContent = `${ok} retries queued${errors.length ? `; ${errors.length} refused (${errors.join('; ')})` : ''}. Reload the list to see them land.`;
    });
  });
  return h('div', { class: 'actions' }, b, out);
}

// localInput turns an RFC 3339 time into a datetime-local value, and back.
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function fromLocalInput(v) { return v ? new Date(v).toISOString() : ''; }

const statusChoices = [['', 'Any status'], ['failed', 'Failed'], ['retrying', 'Retrying'], ['failed,retrying', 'Failed or retrying'], ['delivered', 'Delivered'], ['pending', 'Pending']];

export async function deliveriesPage(main, params, query) {
  const filter = {
    webhook_id: query.get('webhook_id') || '', status: query.get('status') || '', event: query.get('event') || '',
    since: query.get('since') || '', until: query.get('until') || '', cursor: query.get('cursor') || '',
  };
  const hooks = await api('GET', '/webhooks');
  const byId = new Map(hooks.webhooks.map((w) => [w.id, w]));
  const err = errorBox();
  let page = null;
  let loadErr = null;
  try {
    page = await api('GET', '/deliveries', undefined, { ...filter, limit: 25 });
  } catch (ex) {
    loadErr = ex;
  }
  const hookSel = h('select', { name: 'webhook_id' }, h('option', { value: '' }, 'All webhooks'),
    hooks.webhooks.map((w) => h('option', { value: w.id, selected: w.id === filter.webhook_id }, w.description || w.url)));
  const statusSel = h('select', { name: 'status' }, statusChoices.map(([v, l]) => h('option', { value: v, selected: v === filter.status }, l)));
  const event = h('input', { type: 'text', name: 'event', value: filter.event, placeholder: 'user.created or user.*', spellcheck: 'false' });
  const since = h('input', { type: 'datetime-local', name: 'since', value: toLocalInput(filter.since) });
  const until = h('input', { type: 'datetime-local', name: 'until', value: toLocalInput(filter.until) });
  const apply = h('button', { type: 'submit' }, 'Show');
  const reset = h('a', { href: '/deliveries', class: 'button secondary' }, 'Clear filters');
  const form = h('form', { class: 'filters card', role: 'search', 'aria-label': 'Filter deliveries' },
    field('Webhook', hookSel), field('Status', statusSel), field('Event', event), field('From', since), field('To', until),
    h('div', { class: 'actions' }, apply, reset));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    const set = (k, v) => { if (v) q.set(k, v); };
    set('webhook_id', hookSel.value);
    set('status', statusSel.value);
    set('event', event.value.trim());
    set('since', fromLocalInput(since.value));
    set('until', fromLocalInput(until.value));
    navigate(`/deliveries${q.toString() ? `?${q}` : ''}`);
  });
  if (loadErr) err.show(loadErr, form); // the filter the server refused is marked
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  if (filter.cursor) {
    const q = new URLSearchParams(location.search);
    q.delete('cursor');
    pager.append(h('a', { href: `/deliveries${q.toString() ? `?${q}` : ''}` }, '« Newest'));
  }
  if (page && page.next_cursor) {
    const q = new URLSearchParams(location.search);
    q.set('cursor', page.next_cursor);
    pager.append(h('a', { href: `/deliveries?${q}`, rel: 'next' }, 'Older »'));
  }
  fill(main, h('h1', null, 'Deliveries'),
    h('p', { class: 'muted' }, 'One row per delivery, at its latest attempt; newest first.'),
    form, err, page ? retryAllButton(page.deliveries, byId) : null, page ? deliveryTable(page.deliveries, byId) : null, pager);
}

export async function deliveryPage(main, [deliveryId]) {
  const load = () => api('GET', `/deliveries/${encodeURIComponent(deliveryId)}`);
  const detail = await load();
  const d = detail.delivery;
  const hook = detail.webhook;
  const out = h('div', { class: 'results', 'aria-live': 'polite' });
  let retry = null;
  if (d.status === 'failed' && hook) {
    retry = h('button', { type: 'button' }, 'Retry this delivery');
    retry.addEventListener('click', () => busy(retry, async () => {
      try {
        const queued = await api('POST', `/webhooks/${hook.id}/deliveries/${d.delivery_id}/retry`);
        fill(out, h('p', { class: 'note' }, `Attempt ${queued.attempt} is queued; this page shows it when it has been made.`));
        announce(`Retry queued: attempt ${queued.attempt}`);
        // Watch for the new attempt for up to a minute.
        for (let i = 0; i < 60; i += 1) {
          await new Promise((r) => setTimeout(r, 1000));
          const now = await load();
          if (now.delivery.attempt >= queued.attempt) {
            await deliveryPage(main, [deliveryId]);
            announce(`Attempt ${queued.attempt}: ${now.delivery.status}`);
            return;
          }
        }
      } catch (ex) {
        const e = errorBox();
        e.show(ex);
        fill(out, e);
      }
    }));
  }
  const attempts = detail.attempts.slice().reverse();
  fill(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/deliveries' }, 'Deliveries'), ' › '),
    h('h1', null, `Delivery of ${d.event}`),
    h('dl', { class: 'kv card' },
      h('dt', null, 'Status'), h('dd', null, badge(d.status), d.next_attempt_at ? [' · next attempt ', when(d.next_attempt_at)] : null),
      h('dt', null, 'Webhook'), h('dd', null, hook ? h('a', { href: `/webhooks/${hook.id}` }, hook.description || hook.url) : h('span', { class: 'muted' }, 'deleted')),
      hook ? [h('dt', null, 'Endpoint'), h('dd', { class: 'mono' }, hook.url)] : null,
      h('dt', null, 'Attempts'), h('dd', null, String(detail.attempts.length)),
      h('dt', null, 'First attempt'), h('dd', null, when(detail.attempts[0].created_at)),
      h('dt', null, 'Delivery id'), h('dd', { class: 'mono' }, d.delivery_id),
      h('dt', null, 'Event id'), h('dd', { class: 'mono' }, d.event_id)),
    retry ? h('div', { class: 'actions' }, retry) : null, out,
    h('section', { 'aria-labelledby': 'att-h' }, h('h2', { id: 'att-h' }, 'Attempts, newest first'),
      h('ol', { class: 'attempts', reversed: true }, attempts.map((a) => h('li', { class: 'card' },
        h('h3', null, `Attempt ${a.attempt}: `, badge(a.status), ' ', when(a.created_at)),
        h('dl', { class: 'kv' },
          h('dt', null, 'Answer'), h('dd', null, a.status_code ? `HTTP ${a.status_code}` : 'none'),
          h('dt', null, 'Duration'), h('dd', null, a.duration_ms === undefined ? '—' : `${a.duration_ms} ms`),
          a.error ? [h('dt', null, 'Error'), h('dd', null, a.error)] : null,
          a.next_attempt_at ? [h('dt', null, 'Next attempt'), h('dd', null, when(a.next_attempt_at))] : null,
          h('dt', null, 'Response body'), h('dd', null, a.response_body ? h('pre', { tabindex: '0' }, pretty(a.response_body)) : h('span', { class: 'muted' }, 'empty'))))))),
    h('section', { 'aria-labelledby': 'pl-h' }, h('h2', { id: 'pl-h' }, 'Payload'),
      h('pre', { class: 'card', tabindex: '0', 'aria-label': 'Payload' }, pretty(d.payload))),
    h('section', { 'aria-labelledby': 'hd-h' }, h('h2', { id: 'hd-h' }, 'Headers sent'),
      tableWrap('Headers sent', h('table', null,
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Header'), h('th', { scope: 'col' }, 'Value'))),
        h('tbody', null, detail.request_headers.map((x) => h('tr', null, h('th', { scope: 'row', class: 'mono' }, x.name),
          h('td', null, x.value ? h('span', { class: 'mono' }, x.value) : null, x.note ? h('span', { class: 'hint' }, x.value ? ` (${x.note})` : x.note) : null))))))));
}
