// Delivery-health charts, drawn as SVG with no library. Each chart has a
// text summary for screen readers and its figures as a table, one click
// away, for anyone who wants the numbers.

import { h, s, id, shortTime } from './dom.js';

const W = 720;
const H = 180;
const PAD = { l: 58, r: 8, t: 10, b: 24 };

// nice is the top of a scale of four steps that holds max, each step 1,
// 2 or 5 times a power of ten (whole numbers only).
function nice(max) {
  const need = Math.max(max, 1) / 4;
  const p = 10 ** Math.floor(Math.log10(need));
  for (const m of [1, 2, 5, 10]) if (m * p >= need) return 4 * Math.max(1, m * p);
  return 40 * p;
}

function frame(title, desc, maxY, unit, points) {
  const titleId = id('t');
  const descId = id('d');
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`, class: 'chart' },
    s('title', { id: titleId }, title), s('desc', { id: descId }, desc));
  const ih = H - PAD.t - PAD.b;
  for (let i = 0; i <= 4; i += 1) {
    const y = PAD.t + ih - (ih * i) / 4;
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
    const v = (maxY * i) / 4;
    svg.append(s('text', { x: PAD.l - 6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, `${Math.round(v)}${unit}`));
  }
  // An hour mark (or a quarter-hour on short windows) along the bottom.
  const n = points.length;
  const step = n > 180 ? 60 : n > 60 ? 30 : 15;
  points.forEach((p, i) => {
    const t = new Date(p.t);
    if (t.getMinutes() % step === 0) {
      const x = PAD.l + ((W - PAD.l - PAD.r) * (i + 0.5)) / n;
      const anchor = x > W - PAD.r - 30 ? 'end' : 'middle'; // the last label stays inside
      svg.append(s('text', { x, y: H - 6, class: 'axis', 'text-anchor': anchor }, shortTime(t)));
    }
  });
  return svg;
}

function dataTable(caption, points, cols) {
  const rows = points.filter((p) => p.attempts > 0);
  return h('details', { class: 'chart-data' },
    h('summary', null, `${caption}: the figures`),
    rows.length === 0 ? h('p', null, 'No attempts in this window.') :
      h('div', { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: '0' },
        h('table', null, h('caption', { class: 'visually-hidden' }, caption),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Minute'), cols.map((c) => h('th', { scope: 'col' }, c.label)))),
          h('tbody', null, rows.map((p) => h('tr', null, h('th', { scope: 'row' }, shortTime(new Date(p.t))),
            cols.map((c) => h('td', null, p[c.key] === null ? '—' : String(p[c.key])))))))));
}

// volumeChart stacks delivered and failed attempts per minute.
export function volumeChart(stats, label) {
  const pts = stats.points;
  const maxY = nice(Math.max(1, ...pts.map((p) => p.attempts)));
  const t = stats.totals;
  const title = `${label}: attempts per minute`;
  const desc = `${t.attempts} attempts over the window: ${t.delivered} delivered, ${t.failed} failed; at most ${Math.max(0, ...pts.map((p) => p.attempts))} in one minute.`;
  const svg = frame(title, desc, maxY, '', pts);
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  const bw = iw / pts.length;
  pts.forEach((p, i) => {
    if (p.attempts === 0) return;
    const x = PAD.l + i * bw;
    const hd = (ih * p.delivered) / maxY;
    const hf = (ih * p.failed) / maxY;
    const base = PAD.t + ih;
    if (p.delivered) svg.append(s('rect', { x, y: base - hd, width: Math.max(bw - 0.5, 0.8), height: hd, class: 'bar-ok' }));
    if (p.failed) svg.append(s('rect', { x, y: base - hd - hf, width: Math.max(bw - 0.5, 0.8), height: hf, class: 'bar-fail' }));
  });
  return h('figure', { class: 'chart-box' },
    h('figcaption', null, h('strong', null, 'Attempts per minute'), ' ',
      h('span', { class: 'legend' }, h('span', { class: 'key key-ok' }), 'delivered ', h('span', { class: 'key key-fail' }), 'failed')),
    svg, h('p', { class: 'chart-sum' }, desc),
    dataTable(title, pts, [{ key: 'attempts', label: 'Attempts' }, { key: 'delivered', label: 'Delivered' }, { key: 'failed', label: 'Failed' }]));
}

// latencyChart draws the p95 latency per minute as a line.
export function latencyChart(stats, label) {
  const pts = stats.points;
  const vals = pts.map((p) => p.p95_ms).filter((v) => v !== null);
  const maxY = nice(Math.max(1, ...vals));
  const title = `${label}: p95 latency per minute`;
  const desc = vals.length === 0 ? 'No timed attempts in this window.'
    : `p95 latency over the window: ${stats.totals.p95_ms} ms; the slowest minute's p95: ${Math.max(...vals)} ms.`;
  const svg = frame(title, desc, maxY, ' ms', pts);
  const iw = W - PAD.l - PAD.r;
  const ih = H - PAD.t - PAD.b;
  let d = '';
  let pen = false;
  pts.forEach((p, i) => {
    if (p.p95_ms === null) { pen = false; return; }
    const x = PAD.l + (iw * (i + 0.5)) / pts.length;
    const y = PAD.t + ih - (ih * p.p95_ms) / maxY;
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)} `;
    pen = true;
    svg.append(s('circle', { cx: x, cy: y, r: 1.8, class: 'dot' }));
  });
  if (d) svg.append(s('path', { d, class: 'line' }));
  return h('figure', { class: 'chart-box' },
    h('figcaption', null, h('strong', null, 'p95 latency'), ' ', h('span', { class: 'muted' }, '(per minute)')),
    svg, h('p', { class: 'chart-sum' }, desc),
    dataTable(title, pts, [{ key: 'attempts', label: 'Attempts' }, { key: 'p95_ms', label: 'p95 (ms)' }]));
}
