// `tollgate report --html FILE`: one self-contained page (no network: uPlot and the data are
// inlined) with spend over time by team, spend by model, top users, cache hit rate per user,
// and seat-vs-metered per user.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { formatUsd, formatUsdAmount, nanoToUsd } from '../metering/prices.js';
import type { ReportRow } from '../store/types.js';
import type { SeatAdvice } from './advisors.js';
import { escapeHtml } from '../util/html.js';

export interface HtmlData {
  title: string;
  range: string;
  byTeamDay: ReportRow[];
  byTeam: ReportRow[];
  byModel: ReportRow[];
  byRoute: ReportRow[];
  byUser: ReportRow[];
  seats: SeatAdvice[];
  total: number;
}

function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('uplot/package.json'));
  return { js: readFileSync(join(dir, 'dist', 'uPlot.iife.min.js'), 'utf8'), css: readFileSync(join(dir, 'dist', 'uPlot.min.css'), 'utf8') };
}

const esc = escapeHtml;

/** A totals table: what finance reads first. Amounts by the one rounding rule; each row and
 * the total carry their exact nano-USD for checking. */
function totalsTable(id: string, title: string, dim: string, rows: ReportRow[], total: number): string {
  const body = rows
    .map((r) => {
      const nano = Number(r.cost_nanousd);
      const share = total > 0 ? `${((nano / total) * 100).toFixed(1)} %` : '—';
      return `<tr data-nano="${nano}"><td>${esc(String(r[dim] ?? '(none)'))}</td><td class="n">${Number(r.requests)}</td><td class="n">$${formatUsd(nano, 2)}</td><td class="n">${share}</td></tr>`;
    })
    .join('');
  return `<div class="card"><h2>${esc(title)}</h2><table id="${id}" class="totals"><thead><tr><th>${esc(dim)}</th><th class="n">requests</th><th class="n">cost</th><th class="n">share</th></tr></thead>
<tbody>${body}</tbody><tfoot><tr data-nano="${total}"><th>TOTAL</th><th class="n">${rows.reduce((a, r) => a + Number(r.requests), 0)}</th><th class="n">$${formatUsd(total, 2)}</th><th class="n">${total > 0 ? '100.0 %' : '—'}</th></tr></tfoot></table></div>`;
}

export function renderHtml(d: HtmlData): string {
  const days = [...new Set(d.byTeamDay.map((r) => String(r.day)))].sort();
  const teams = [...new Set(d.byTeamDay.map((r) => String(r.team ?? '(none)')))].sort();
  const series = teams.map((t) =>
    days.map((day) => nanoToUsd(Number(d.byTeamDay.find((r) => String(r.day) === day && String(r.team ?? '(none)') === t)?.cost_nanousd ?? 0))),
  );
  // Cache hit rate of the same top users, from their totals.
  const cache = new Map<string, { read: number; all: number }>();
  for (const r of d.byUser.slice(0, 15)) {
    const n = (f: string) => Number(r[f] ?? 0);
    cache.set(String(r.user ?? '(none)'), {
      read: n('cache_read_input_tokens'),
      all: n('input_tokens') + n('cache_read_input_tokens') + n('cache_creation_5m_input_tokens') + n('cache_creation_1h_input_tokens'),
    });
  }
  const requests = d.byUser.reduce((a, r) => a + Number(r.requests ?? 0), 0);
  const data = {
    days: days.map((x) => Date.parse(`${x}T00:00:00Z`) / 1000),
    teams,
    series,
    models: d.byModel.map((r) => String(r.model ?? '?')),
    modelCost: d.byModel.map((r) => nanoToUsd(Number(r.cost_nanousd))),
    users: d.byUser.slice(0, 15).map((r) => String(r.user ?? '(none)')),
    userCost: d.byUser.slice(0, 15).map((r) => nanoToUsd(Number(r.cost_nanousd))),
    cacheUsers: [...cache.keys()],
    cacheRate: [...cache.values()].map((c) => (c.all ? Math.round((c.read / c.all) * 1000) / 10 : 0)),
    seatUsers: d.seats.map((s) => s.user),
    seatMetered: d.seats.map((s) => s.metered_usd_per_month),
    seatPrice: d.seats.map((s) => s.seat_usd_per_month ?? 0),
  };
  const { js, css } = uplotAssets();
  const rows = d.seats
    .map(
      (s) =>
        `<tr><td>${esc(s.user)}</td><td class="n">$${formatUsdAmount(s.metered_usd_per_month, 2)}</td><td>${esc(s.recommendation)}${s.plan ? ` (${esc(s.plan)})` : ''}</td><td>${esc(s.reason)}</td></tr>`,
    )
    .join('');
  const empty = requests === 0;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(d.title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<style>${css}
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}h1{font-size:20px;margin:0 0 4px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:24px;margin-top:16px}.card{border:1px solid #ddd;border-radius:6px;padding:12px;overflow-x:auto}
h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%;font-size:12px}td,th{border-bottom:1px solid #eee;padding:3px 6px;text-align:left}
.n{text-align:right;font-variant-numeric:tabular-nums}tfoot th{border-top:2px solid #999}.empty{color:#777;padding:24px 0}
</style></head><body>
<h1>${esc(d.title)}</h1><div>${esc(d.range)} · total $${formatUsd(d.total, 2)} · ${requests} requests</div>
<div class="grid">
${totalsTable('t-team', 'Spend by team', 'team', d.byTeam, d.total)}
${totalsTable('t-model', 'Spend by model', 'model', d.byModel, d.total)}
${totalsTable('t-route', 'Spend by route', 'route', d.byRoute, d.total)}
${totalsTable('t-user', 'Spend by user', 'user', d.byUser, d.total)}
</div>
${
  empty
    ? '<p class="empty" id="no-data">No requests in this period: nothing to chart.</p>'
    : `<div class="grid">
<div class="card"><h2>Spend per day by team (USD)</h2><div id="c-time" class="chart"></div></div>
<div class="card"><h2>Spend by model (USD)</h2><div id="c-model" class="chart"></div></div>
<div class="card"><h2>Top users (USD)</h2><div id="c-users" class="chart"></div></div>
<div class="card"><h2>Cache hit rate per user (%)</h2><div id="c-cache" class="chart"></div></div>
<div class="card" style="grid-column:1/-1"><h2>Seat vs metered per user (USD per month)</h2><div id="c-seats" class="chart"></div>
<table><tr><th>user</th><th class="n">metered / month</th><th>advice</th><th>why</th></tr>${rows}</table></div>
</div>`
}
<script>${js}</script>
<script>
const D = ${JSON.stringify(data).replace(/</g, '\\u003c')};
const COLORS = ['#4e79a7','#f28e2b','#e15759','#76b7b2','#59a14f','#edc948','#b07aa1','#ff9da7'];
window.__charts = {};
// Dollar amounts on axes: the same half-up rounding as the tables, two decimals (four below $1).
const usd = (v) => v == null ? '' : '$' + (Math.abs(v) < 1 && v !== 0 ? v.toFixed(4) : v.toFixed(2));
// Amounts start at zero; an all-zero chart still gets an axis.
const fromZero = (u, min, max) => [0, max > 0 ? max * 1.1 : 1];
function width(id) { return Math.max(300, (document.getElementById(id).parentElement.clientWidth || 480) - 24); }
function bars(id, labels, sets, names, fmt, range) {
  const x = labels.map((_, i) => i);
  window.__charts[id] = new uPlot({ width: width(id), height: 260, legend: { live: false },
    scales: { x: { time: false, range: [-0.6, labels.length - 0.4] }, y: { range: range || fromZero } },
    axes: [{ values: (u, v) => v.map((i) => labels[i] ?? ''), size: 100, rotate: -30 }, { values: (u, v) => v.map(fmt), size: 70 }],
    series: [{}, ...sets.map((_, k) => ({ label: names[k], fill: COLORS[k % 8], stroke: COLORS[k % 8], paths: uPlot.paths.bars({ size: [0.6 / sets.length, 60], align: 0, gap: 1 }), points: { show: false } }))],
  }, [x, ...sets], document.getElementById(id));
}
if (D.days.length) {
  // One day of data still gets a readable day on the time axis (uPlot would stretch one
  // point over years); otherwise the axis runs from the first day to the last.
  const DAY = 86400;
  window.__charts['c-time'] = new uPlot({ width: width('c-time'), height: 260, legend: { live: false },
    scales: { x: { time: true, range: D.days.length === 1 ? [D.days[0] - DAY, D.days[0] + DAY] : [D.days[0], D.days[D.days.length - 1]] }, y: { range: fromZero } },
    axes: [{}, { values: (u, v) => v.map(usd), size: 70 }],
    series: [{}, ...D.teams.map((t, k) => ({ label: t, stroke: COLORS[k % 8], width: 2, points: { show: D.days.length < 3 } }))] }, [D.days, ...D.series], document.getElementById('c-time'));
  bars('c-model', D.models, [D.modelCost], ['cost'], usd);
  bars('c-users', D.users, [D.userCost], ['cost'], usd);
  bars('c-cache', D.cacheUsers, [D.cacheRate], ['cache hit rate'], (v) => v == null ? '' : v + ' %', () => [0, 100]);
  bars('c-seats', D.seatUsers, [D.seatMetered, D.seatPrice], ['metered', 'advised seat'], usd);
}
document.body.dataset.rendered = 'yes';
</script></body></html>
`;
}
