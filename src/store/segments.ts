// Which table answers which part of a time range. Rollups hold whole UTC days and whole hours;
// only the ragged edges of a range (less than an hour each side) are read from ledger lines.
// Store-agnostic: the SQLite store uses it, a PostgreSQL store will too.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type SegmentSource = 'day' | 'hour' | 'ledger';

export interface Segment {
  source: SegmentSource;
  /** [from, to) in ms since the epoch. */
  from: number;
  to: number;
}

const ceilTo = (t: number, unit: number) => Math.ceil(t / unit) * unit;
const floorTo = (t: number, unit: number) => Math.floor(t / unit) * unit;

function hours(from: number, to: number, out: Segment[]): void {
  if (from >= to) return;
  const a = ceilTo(from, HOUR_MS);
  const b = floorTo(to, HOUR_MS);
  if (a >= b) {
    out.push({ source: 'ledger', from, to });
    return;
  }
  if (from < a) out.push({ source: 'ledger', from, to: a });
  out.push({ source: 'hour', from: a, to: b });
  if (b < to) out.push({ source: 'ledger', from: b, to });
}

/** The segments covering [since, until): whole days from day rollups, whole hours from hour
 * rollups, the rest from the ledger. `ledgerOnly` (a dimension no rollup has, such as the
 * session) reads everything from the ledger. */
export function plan(since: number, until: number, ledgerOnly = false): Segment[] {
  if (since >= until) return [];
  if (ledgerOnly) return [{ source: 'ledger', from: since, to: until }];
  const out: Segment[] = [];
  const a = ceilTo(since, DAY_MS);
  const b = floorTo(until, DAY_MS);
  if (a >= b) {
    hours(since, until, out);
    return out;
  }
  hours(since, a, out);
  out.push({ source: 'day', from: a, to: b });
  hours(b, until, out);
  return out;
}

/** The measures every segment's SELECT yields (rollup columns, or per line from the ledger), in
 * the order both stores' report SQL unions them. */
export const SEGMENT_MEASURES = [
  'requests',
  'unpriced',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_5m_input_tokens',
  'cache_creation_1h_input_tokens',
  'web_search_requests',
  'cost_nanousd',
];

/** The report totals (REPORT_TOTALS) summed over the union of segments. */
export const SEGMENT_TOTALS = `SUM(requests) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
  SUM(cache_read_input_tokens) AS cache_read_input_tokens, SUM(cache_creation_5m_input_tokens) AS cache_creation_5m_input_tokens,
  SUM(cache_creation_1h_input_tokens) AS cache_creation_1h_input_tokens, SUM(web_search_requests) AS web_search_requests,
  SUM(cost_nanousd) AS cost_nanousd, SUM(unpriced) AS unpriced_requests`;
