// Small building blocks shared by the pages: data loading, tables, a chart, messages.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import uPlot from 'uplot';
import { ApiError } from './api.js';

/** Loads data when `deps` change; `reload` fetches again (after a change). */
export function useData<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: string | null; loading: boolean; reload: () => void } {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [n, setN] = useState(0);
  const loadedFor = useRef<unknown[] | null>(null);
  useEffect(() => {
    let live = true;
    // New inputs: the old figures go (a total of the previous range beside the new one's
    // heading would be wrong); a reload of the same inputs keeps them until the new ones come.
    const prev = loadedFor.current;
    const same = prev !== null && deps.length === prev.length && deps.every((d, i) => d === prev[i]);
    setState((s) => ({ data: same ? s.data : null, error: null, loading: true }));
    loadedFor.current = deps;
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (err: unknown) => live && setState({ data: null, error: err instanceof ApiError || err instanceof Error ? err.message : String(err), loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

export function Problem({ text }: { text: string | null }) {
  return text ? (
    <p class="problem" role="alert">
      {text}
    </p>
  ) : null;
}

export function Loading({ on }: { on: boolean }) {
  return on ? <p class="muted">Loading…</p> : null;
}

export interface Column<R> {
  title: string;
  cell: (r: R) => ComponentChildren;
  num?: boolean;
}

export function Table<R>({ rows, cols, onRow, empty, label }: { rows: R[]; cols: Column<R>[]; onRow?: (r: R) => void; empty?: string; label: string }) {
  if (!rows.length) return <p class="muted">{empty ?? 'Nothing yet.'}</p>;
  return (
    <div class="scroll">
      <table aria-label={label}>
        <thead>
          <tr>
            {cols.map((c) => (
              <th class={c.num ? 'num' : ''}>{c.title}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr class={onRow ? 'clickable' : ''} onClick={onRow ? () => onRow(r) : undefined}>
              {cols.map((c) => (
                <td class={c.num ? 'num' : ''}>{c.cell(r)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];

/** Spend per day, one line per group (uPlot, drawn on a canvas: no request leaves the page). */
export function SpendChart({ days, series }: { days: string[]; series: { name: string; values: number[] }[] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const box = el.current;
    if (!box || !days.length) return;
    const width = () => Math.max(280, box.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 260,
        series: [
          {},
          ...series.map((s, i) => ({
            label: s.name,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : `$${v.toFixed(2)}`),
          })),
        ],
        axes: [{}, { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => `$${t.toFixed(t >= 100 ? 0 : 2)}`) }],
        scales: { x: { time: true } },
      },
      [days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000), ...series.map((s) => s.values)],
      box,
    );
    const onResize = () => plot.setSize({ width: width(), height: 260 });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      plot.destroy();
    };
  }, [days, series]);
  return <div class="chart" ref={el} aria-label="spend per day" />;
}

export function Field({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}
