// The figures the CLI prints and the admin API (and so the console) serves, computed in one
// place: `tollgate report --json` and GET /admin/report give the same rows for the same range.
import { nanoToUsd } from '../metering/prices.js';
import type { ModelCatalog } from '../routing/catalog.js';
import {
  LEDGER_FIELDS,
  REPORT_TOTALS,
  type LedgerLine,
  type LedgerQuery,
  type ReportDimension,
  type ReportRow,
  type Store,
  type SummaryDimension,
  type SummaryRow,
} from '../store/types.js';
import { adviseSeats, hybridSummary, userUsage, type SeatAdvice, type SeatPlans } from './advisors.js';
import { externalReport, type UsageSource } from './sources.js';

/** A ledger line as printed by `usage --json` and served by the admin API: the ledger's field
 * names, time as ISO, cost in USD (and exact nano-USD). */
export function lineToJson(l: LedgerLine): Record<string, unknown> {
  // Built field by field in one order (a rest spread made a slow dictionary object per line).
  const o: Record<string, unknown> = {};
  for (const f of LEDGER_FIELDS) if (f !== 'ts' && f !== 'cost_nanousd') o[f] = l[f];
  o.time = l.ts === null || l.ts === undefined ? null : new Date(l.ts).toISOString();
  o.cost_usd = nanoToUsd(l.cost_nanousd);
  o.cost_nanousd = l.cost_nanousd;
  return o;
}

/** The inverse of lineToJson (a remote gateway's lines, printed as a table here). */
export function lineFromJson(o: Record<string, unknown>): LedgerLine {
  const l = { ...o, ts: Date.parse(String(o.time)) } as unknown as LedgerLine;
  return l;
}

export interface ReportResult {
  /** The grouping, with `source` first when imported records are included. */
  by: string[];
  /** Group fields by name, every token total, cost_usd and exact cost_nanousd. */
  rows: Record<string, unknown>[];
  /** The exact sum of the rows' cost (nano-USD). */
  total_nanousd: number;
}

/** Rows for output: dimension fields by name, totals, cost in USD (and exact nano-USD). */
function shape(rows: ReportRow[], by: string[]): Record<string, unknown>[] {
  return rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const d of by) o[d] = r[d as ReportDimension] ?? null;
    for (const t of REPORT_TOTALS) if (t !== 'cost_nanousd') o[t] = r[t];
    o.cost_usd = nanoToUsd(Number(r.cost_nanousd));
    o.cost_nanousd = Number(r.cost_nanousd);
    return o;
  });
}

/** Spend and tokens grouped by `by` over q, from the ledger or imported records. */
export function reportRows(store: Store, catalog: ModelCatalog, by: ReportDimension[], q: LedgerQuery, source: UsageSource = 'ledger'): ReportResult {
  if (source !== 'ledger') {
    const rows: ReportRow[] = [
      ...(source === 'all' ? store.report(by, q).map((r): ReportRow => ({ source: 'ledger', ...r })) : []),
      ...externalReport(store, catalog, source, by, q),
    ];
    const total = rows.reduce((a, r) => a + Number(r.cost_nanousd), 0);
    const withSource = ['source', ...by];
    return { by: withSource, rows: shape(rows, withSource), total_nanousd: total };
  }
  // Totals are the exact integer sum of ledger lines, whatever the grouping.
  return { by, rows: shape(store.report(by, q), by), total_nanousd: Number(store.report([], q)[0]?.cost_nanousd ?? 0) };
}

export type SummaryResultRow = SummaryRow & { source?: string };

/** Totals grouped by one dimension. Each source's rows stay apart (source field): the same
 * spend can appear in several records (a gateway call in the ledger, its invocation log, the
 * bill), so summing across sources would count it twice. */
export function summaryRows(store: Store, catalog: ModelCatalog, by: SummaryDimension, q: LedgerQuery, source: UsageSource = 'ledger'): SummaryResultRow[] {
  if (source === 'ledger') return store.summarize(by, q);
  const num = (r: Record<string, unknown>, f: string) => Number(r[f] ?? 0);
  return [
    ...(source === 'all' ? store.summarize(by, q).map((r) => ({ source: 'ledger', ...r })) : []),
    ...externalReport(store, catalog, source, [by], q).map((r) => ({
      source: String(r.source),
      group: r[by] === null || r[by] === undefined ? null : String(r[by]),
      requests: num(r, 'requests'),
      input_tokens: num(r, 'input_tokens'),
      output_tokens: num(r, 'output_tokens'),
      cache_read_input_tokens: num(r, 'cache_read_input_tokens'),
      cache_creation_5m_input_tokens: num(r, 'cache_creation_5m_input_tokens'),
      cache_creation_1h_input_tokens: num(r, 'cache_creation_1h_input_tokens'),
      web_search_requests: num(r, 'web_search_requests'),
      cost_nanousd: num(r, 'cost_nanousd'),
      unpriced_requests: num(r, 'unpriced_requests'),
    })),
  ];
}

/** Summary rows as JSON: the dimension by name, cost in USD and nano-USD. */
export function summaryToJson(by: SummaryDimension, rows: SummaryResultRow[]): Record<string, unknown>[] {
  return rows.map(({ group, cost_nanousd, ...r }) => ({ [by]: group, ...r, cost_usd: nanoToUsd(cost_nanousd), cost_nanousd }));
}

export function summaryFromJson(by: SummaryDimension, rows: Record<string, unknown>[]): SummaryResultRow[] {
  return rows.map((r) => {
    const { [by]: group, cost_usd: _usd, ...rest } = r;
    return { ...(rest as unknown as SummaryRow), group: (group as string | null) ?? null };
  });
}

export interface SeatReport {
  users: SeatAdvice[];
  team: ReturnType<typeof hybridSummary>;
  assumptions: string[];
}

/** Seat or metered per user over a period, with the team's hybrid and what it assumes. */
export function seatReport(
  store: Store,
  plans: SeatPlans,
  o: { since: number; until: number; team?: string; individual?: boolean; plansFile?: string },
): SeatReport {
  const advice = adviseSeats(userUsage(store, o.since, o.until, o.team), plans, o.since, o.until, { individual: o.individual });
  return {
    users: advice,
    team: hybridSummary(advice),
    assumptions: [
      `seat prices and caps from ${o.plansFile ?? 'data/seat-plans.json'} (${plans.date}; ${plans.source})`,
      'seats have session and weekly caps, not token budgets: "fits" uses each plan\'s metered_equivalent_usd, an assumption you can override',
      'metered cost is scaled to a 30-day month; a seat is advised only for use on at least half the working days',
      o.individual
        ? 'individual plans (Pro, Max) considered too (--individual)'
        : 'team plans only, with their minimum seat counts (add --individual to consider Pro/Max for individuals)',
    ],
  };
}
