// The overview: delivery health across every webhook the user sees, and
// the webhooks that need attention.

import { h, fill, id, badge, ago, tableWrap } from '../dom.js';
import { api } from '../api.js';
import { volumeChart, latencyChart } from '../charts.js';
import { navigate } from '../router.js';

// healthCharts is the chart section for all webhooks or one; its hours
// choice lives in the URL.
export async function healthCharts(query, webhookId, label) {
  const hours = ['1', '3', '6', '12', '24'].includes(query.get('hours')) ? query.get('hours') : '6';
  const stats = await api('GET', '/stats/deliveries', undefined, { hours, webhook_id: webhookId });
  const sel = h('select', { id: id('hours') }, ['1', '3', '6', '12', '24'].map((v) => h('option', { value: v, selected: v === hours }, `last ${v} h`)));
  sel.addEventListener('change', () => {
    const q = new URLSearchParams(location.search);
    q.set('hours', sel.value);
    navigate(`${location.pathname}?${q}`, { replace: true });
  });
  const t = stats.totals;
  const ratio = t.attempts ? `${Math.round((100 * t.delivered) / t.attempts)} %` : '—';
  return h('section', { class: 'health', 'aria-labelledby': 'health-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'health-h' }, 'Delivery health'),
      h('div', { class: 'inline-field' }, h('label', { for: sel.id }, 'Window'), sel)),
    h('dl', { class: 'stats' },
      h('div', null, h('dt', null, 'Attempts'), h('dd', null, String(t.attempts))),
      h('div', null, h('dt', null, 'Delivered'), h('dd', null, String(t.delivered))),
      h('div', null, h('dt', null, 'Failed'), h('dd', { class: t.failed ? 'bad' : '' }, String(t.failed))),
      h('div', null, h('dt', null, 'Success'), h('dd', null, ratio)),
      h('div', null, h('dt', null, 'p95 latency'), h('dd', null, t.p95_ms === null ? '—' : `${t.p95_ms} ms`))),
    h('div', { class: 'charts' }, volumeChart(stats, label), latencyChart(stats, label)));
}

export async function overviewPage(main, params, query) {
  const [hooks, health, charts] = await Promise.all([
    api('GET', '/webhooks'), api('GET', '/stats/webhooks'), healthCharts(query, undefined, 'All webhooks'),
  ]);
  const byId = new Map(health.webhooks.map((w) => [w.webhook_id, w]));
  const attention = hooks.webhooks.filter((w) => {
    const hh = byId.get(w.id);
    return !w.is_active || (hh && (hh.failed > 0 || (hh.last_attempt && hh.last_attempt.status !== 'delivered')));
  });
  const list = attention.length === 0
    ? h('p', null, hooks.webhooks.length === 0 ? 'No webhooks yet. ' : 'Every webhook is healthy. ', h('a', { href: '/webhooks' }, 'See the webhooks'), '.')
    : tableWrap('Webhooks that need attention', h('table', null,
      h('thead', null, h('tr', null, ['Webhook', 'State', 'Failed (24 h)', 'Last attempt'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, attention.map((w) => {
        const hh = byId.get(w.id) || {};
        const last = hh.last_attempt;
        return h('tr', null,
          h('th', { scope: 'row' }, h('a', { href: `/webhooks/${w.id}` }, w.description || w.url)),
          h('td', null, w.is_active ? badge('delivered', 'Active') : badge('failed', 'Disabled'), w.disabled_reason ? h('div', { class: 'hint' }, w.disabled_reason) : null),
          h('td', null, `${hh.failed || 0} of ${hh.attempts || 0}`),
          h('td', null, last ? [badge(last.status), ' ', last.status_code ? `HTTP ${last.status_code} ` : '', ago(last.created_at)] : 'none'));
      }))));
  fill(main, h('h1', null, 'Overview'), charts,
    h('section', { 'aria-labelledby': 'attn-h' }, h('h2', { id: 'attn-h' }, 'Needs attention'), list));
}
