// Spend over time by team, user, model or route over a date range: a chart per day and the
// totals per group, from GET /admin/report (the same rows as `tollgate report --json`).
import { useMemo, useState } from 'preact/hooks';
import { api, day, int, nextDay, query, usd } from '../api.js';
import { Field, Loading, Problem, SpendChart, Table, useData } from '../ui.js';

interface Row {
  [k: string]: string | number | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_creation_5m_input_tokens: number;
  cache_creation_1h_input_tokens: number;
  cost_usd: number;
  cost_nanousd: number;
}

interface Report {
  by: string[];
  rows: Row[];
  total_nanousd: number;
}

const DIMS = ['team', 'user', 'model', 'route', 'project'] as const;

/** The top groups by cost get their own line; the rest are summed as "others". */
const LINES = 8;

export function SpendPage() {
  const [from, setFrom] = useState(day(-29));
  const [to, setTo] = useState(day(0));
  const [by, setBy] = useState<(typeof DIMS)[number]>('team');
  const range = { since: from, until: nextDay(to) };
  const totals = useData(() => api<Report>('GET', `/admin/report${query({ ...range, by })}`), [from, to, by]);
  const daily = useData(() => api<Report>('GET', `/admin/report${query({ ...range, by: `day,${by}` })}`), [from, to, by]);

  const chart = useMemo(() => {
    if (!daily.data || !totals.data) return null;
    const days: string[] = [];
    for (let d = from; d <= to; d = nextDay(d)) days.push(d);
    const top = [...totals.data.rows].sort((a, b) => b.cost_nanousd - a.cost_nanousd).map((r) => String(r[by] ?? '(none)'));
    const shown = top.slice(0, LINES);
    const series = new Map(shown.map((g) => [g, days.map(() => 0)]));
    const others = days.map(() => 0);
    for (const r of daily.data.rows) {
      const i = days.indexOf(String(r.day));
      if (i < 0) continue;
      const g = String(r[by] ?? '(none)');
      const list = series.get(g) ?? others;
      list[i] = (list[i] ?? 0) + r.cost_nanousd / 1e9;
    }
    const out = [...series].map(([name, values]) => ({ name, values }));
    if (top.length > LINES) out.push({ name: 'others', values: others });
    return { days, series: out };
  }, [daily.data, totals.data, from, to, by]);

  const rows = totals.data ? [...totals.data.rows].sort((a, b) => b.cost_nanousd - a.cost_nanousd) : [];
  return (
    <section>
      <h1>Spend</h1>
      <form class="controls" onSubmit={(e) => e.preventDefault()}>
        <Field label="From">
          <input type="date" name="from" value={from} max={to} onChange={(e) => setFrom(e.currentTarget.value)} />
        </Field>
        <Field label="To (inclusive)">
          <input type="date" name="to" value={to} min={from} onChange={(e) => setTo(e.currentTarget.value)} />
        </Field>
        <Field label="By">
          <select name="by" value={by} onChange={(e) => setBy(e.currentTarget.value as (typeof DIMS)[number])}>
            {DIMS.map((d) => (
              <option value={d}>{d}</option>
            ))}
          </select>
        </Field>
        <div class="presets">
          <button type="button" onClick={() => (setFrom(day(-6)), setTo(day(0)))}>
            7 days
          </button>
          <button type="button" onClick={() => (setFrom(day(-29)), setTo(day(0)))}>
            30 days
          </button>
          <button type="button" onClick={() => (setFrom(`${day(0).slice(0, 8)}01`), setTo(day(0)))}>
            This month
          </button>
        </div>
      </form>
      <Problem text={totals.error ?? daily.error} />
      <Loading on={totals.loading} />
      {totals.data && (
        <p class="total">
          Total <strong data-testid="spend-total">{usd(totals.data.total_nanousd / 1e9, 4)}</strong> · {int(rows.reduce((a, r) => a + r.requests, 0))} requests
          · {from} to {to} (UTC)
        </p>
      )}
      {chart && chart.series.length > 0 && <SpendChart days={chart.days} series={chart.series} />}
      <Table
        label={`spend by ${by}`}
        rows={rows}
        empty="No requests in this range."
        cols={[
          { title: by, cell: (r) => <span data-group>{String(r[by] ?? '(none)')}</span> },
          { title: 'Requests', cell: (r) => int(r.requests), num: true },
          { title: 'Input', cell: (r) => int(r.input_tokens), num: true },
          { title: 'Output', cell: (r) => int(r.output_tokens), num: true },
          { title: 'Cache read', cell: (r) => int(r.cache_read_input_tokens), num: true },
          { title: 'Cache write', cell: (r) => int(r.cache_creation_5m_input_tokens + r.cache_creation_1h_input_tokens), num: true },
          { title: 'Cost', cell: (r) => <span data-cost={r.cost_nanousd}>{usd(r.cost_usd, 4)}</span>, num: true },
        ]}
      />
    </section>
  );
}
