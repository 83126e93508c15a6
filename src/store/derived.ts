// Answers every store derives the same way from its report(): kept here once so the SQLite and
// PostgreSQL stores cannot drift apart.
import type { DailyUsage, LedgerQuery, ReportDimension, ReportRow, SummaryDimension, SummaryRow } from './types.js';

type Report = (by: ReportDimension[], q: LedgerQuery) => ReportRow[];

/** Byte order with no group first: SQLite's binary collation, which summaries always used. */
export function byCodeUnit(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}

/** Totals by one dimension, cost descending, then the group. */
export function summarizeFrom(report: Report, by: SummaryDimension, q: LedgerQuery): SummaryRow[] {
  return report([by], q)
    .map((r) => ({ ...r, group: r[by] ?? null }) as unknown as SummaryRow & Record<string, unknown>)
    .map(({ [by]: _dim, ...rest }) => rest as unknown as SummaryRow)
    .sort((a, b) => b.cost_nanousd - a.cost_nanousd || byCodeUnit(a.group, b.group));
}

/** Messages usage per user, team, model and UTC day (reconcile's side of the ledger). */
export function ledgerDailyFrom(report: Report, since: number, until: number): DailyUsage[] {
  return report(['user', 'team', 'model', 'day'], { since, until, endpoint: 'messages' }).map((r) => ({
    user: r.user as string | null,
    team: r.team as string | null,
    model: r.model as string | null,
    day: String(r.day),
    cost: Number(r.cost_nanousd),
    tokens:
      Number(r.input_tokens) +
      Number(r.output_tokens) +
      Number(r.cache_read_input_tokens) +
      Number(r.cache_creation_5m_input_tokens) +
      Number(r.cache_creation_1h_input_tokens),
  }));
}
