// The ledger in PostgreSQL's SQL: lines as rows and back, rollup upserts, and the report and
// spend queries over the same segment plan as the SQLite store (rollups for whole days and
// hours, lines for the ragged edges). Groups sort byte by byte with no group first (COLLATE
// "C", NULLS FIRST), as SQLite orders them, so both stores give identical answers.
import { DAY_MS, HOUR_MS, plan, SEGMENT_MEASURES, SEGMENT_TOTALS, type Segment } from '../segments.js';
import { LEDGER_FIELDS, type LedgerLine, type LedgerQuery, type ReportDimension } from '../types.js';

const q = (c: string) => `"${c}"`;
export const LEDGER_COLS = LEDGER_FIELDS.map(q).join(', ');
/** A row as the pg driver returns it → a ledger line (JSONB attempts arrive parsed). */
export function toLine(r: Record<string, unknown>): LedgerLine {
  const out: Record<string, unknown> = {};
  for (const f of LEDGER_FIELDS) out[f] = f === 'attempts' ? (r[f] ?? []) : r[f];
  return out as unknown as LedgerLine;
}

/** Each ledger column's PostgreSQL type (to read a batch of lines sent as one JSON value). */
const TYPES: Record<string, string> = {
  ts: 'bigint',
  http_status: 'integer',
  streamed: 'boolean',
  priced: 'boolean',
  client_aborted: 'boolean',
  ttfb_ms: 'double precision',
  duration_ms: 'double precision',
  attempts: 'jsonb',
};
/** The token counts and cost: the rollups' measures that are ledger columns (BIGINT). */
const columnType = (f: string): string => TYPES[f] ?? ((MEASURES as readonly string[]).includes(f) ? 'bigint' : 'text');

/**
 * A batch of lines in one statement (one round trip, its own transaction): the ledger lock,
 * the lines (idempotent on the request id; the key is (id, ts), and a line's ts never changes),
 * the hour and day rollups of the lines actually inserted, and
 * the keys' last use. $1: the lines as a JSON array; $2: [{id, at}] of keys used.
 */
export function writeBatchSql(lock: number): string {
  const cols = LEDGER_FIELDS.map((f) => `${q(f)} ${columnType(f)}`).join(', ');
  const rollup = (table: 'rollup_hour' | 'rollup_day', unit: number) => {
    const bucket = table === 'rollup_hour' ? 'hour' : 'day';
    const dims = DIMS.map((d) => LINE_DIM[d]);
    return `INSERT INTO ${table} (${[bucket, ...DIMS, ...MEASURES].map(q).join(', ')})
      SELECT (ts / ${unit}) * ${unit}, ${dims.join(', ')}, ${MEASURES.map((m) => `SUM(${MEASURE_EXPR[m]})`).join(', ')}
      FROM ins GROUP BY ${[1, ...DIMS.map((_, i) => i + 2)].join(', ')} ORDER BY ${[1, ...DIMS.map((_, i) => i + 2)].join(', ')}
      ON CONFLICT (${[bucket, ...DIMS].map(q).join(', ')}) DO UPDATE SET ${MEASURES.map((m) => `${m} = ${table}.${m} + excluded.${m}`).join(', ')}`;
  };
  return `WITH lock AS (SELECT pg_advisory_xact_lock(${lock}) AS held),
    src AS (SELECT x.* FROM lock, jsonb_to_recordset($1::jsonb) AS x(${cols})),
    ins AS (INSERT INTO ledger (${LEDGER_COLS}) SELECT ${LEDGER_COLS} FROM src ON CONFLICT (id, ts) DO NOTHING RETURNING *),
    hour AS (${rollup('rollup_hour', HOUR_MS)}),
    day AS (${rollup('rollup_day', DAY_MS)}),
    touched AS (UPDATE keys k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), t.at)
      FROM jsonb_to_recordset($2::jsonb) AS t(id text, at bigint) WHERE k.id = t.id RETURNING 1)
    SELECT (SELECT COUNT(*) FROM ins) AS inserted`;
}

/** `$n, $n+1, …` placeholders for `rows` rows of `width` values. */
export function placeholders(rows: number, width: number, from = 1): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const p: string[] = [];
    for (let c = 0; c < width; c++) p.push(`$${from + r * width + c}`);
    out.push(`(${p.join(', ')})`);
  }
  return out.join(', ');
}

export const DIMS = ['key_id', 'user', 'team', 'project', 'model', 'route', 'upstream', 'region', 'endpoint'] as const;
export const MEASURES = [
  'requests',
  'errors',
  'unpriced',
  'input_tokens',
  'output_tokens',
  'cache_read_input_tokens',
  'cache_creation_5m_input_tokens',
  'cache_creation_1h_input_tokens',
  'web_search_requests',
  'web_fetch_requests',
  'cost_nanousd',
] as const;
const MEASURE_EXPR: Record<(typeof MEASURES)[number], string> = {
  requests: '1',
  errors: 'CASE WHEN http_status >= 400 THEN 1 ELSE 0 END',
  unpriced: 'CASE WHEN priced THEN 0 ELSE 1 END',
  input_tokens: 'input_tokens',
  output_tokens: 'output_tokens',
  cache_read_input_tokens: 'cache_read_input_tokens',
  cache_creation_5m_input_tokens: 'cache_creation_5m_input_tokens',
  cache_creation_1h_input_tokens: 'cache_creation_1h_input_tokens',
  web_search_requests: 'web_search_requests',
  web_fetch_requests: 'web_fetch_requests',
  cost_nanousd: 'cost_nanousd',
};
const LINE_DIM: Record<(typeof DIMS)[number], string> = {
  key_id: "COALESCE(key_id, '')",
  user: 'COALESCE("user", \'\')',
  team: "COALESCE(team, '')",
  project: "COALESCE(project, '')",
  model: "COALESCE(model_served, model_requested, '')",
  route: "COALESCE(route, '')",
  upstream: "COALESCE(upstream, '')",
  region: "COALESCE(region, '')",
  endpoint: 'endpoint',
};

export function rollupRebuild(table: 'rollup_hour' | 'rollup_day'): string {
  const bucket = table === 'rollup_hour' ? 'hour' : 'day';
  const unit = table === 'rollup_hour' ? HOUR_MS : DAY_MS;
  return `INSERT INTO ${table} (${[bucket, ...DIMS, ...MEASURES].map(q).join(', ')})
    SELECT (ts / ${unit}) * ${unit}, ${DIMS.map((d) => LINE_DIM[d]).join(', ')}, ${MEASURES.map((m) => `SUM(${MEASURE_EXPR[m]})`).join(', ')}
    FROM ledger WHERE ts >= $1 GROUP BY ${[1, ...DIMS.map((_, i) => i + 2)].join(', ')}`;
}

/** Filters of a listing or report, with their parameters appended to `params`. */
export function filters(x: LedgerQuery, params: unknown[]): string[] {
  const out: string[] = [];
  const add = (col: string, v: string | undefined) => {
    if (v === undefined) return;
    params.push(v);
    out.push(`${col} = $${params.length}`);
  };
  add('"user"', x.user);
  add('team', x.team);
  add('project', x.project);
  add('key_id', x.keyId);
  add('endpoint', x.endpoint);
  return out;
}

const REPORT_EXPR: Record<ReportDimension, string> = {
  user: '"user"',
  team: 'team',
  project: 'project',
  key: 'key_id',
  upstream: 'upstream',
  route: 'route',
  region: 'region',
  model: 'model',
  session: 'session_id',
  day: "to_char(to_timestamp(t / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  // Weeks start on Monday (ISO weeks): the date of that Monday names the week.
  week: "to_char(date_trunc('week', to_timestamp(t / 1000) AT TIME ZONE 'UTC'), 'YYYY-MM-DD')",
  month: "to_char(to_timestamp(t / 1000) AT TIME ZONE 'UTC', 'YYYY-MM')",
};

function segmentSelect(s: Segment, x: LedgerQuery, needSession: boolean, params: unknown[]): string {
  params.push(s.from, s.to);
  const range = [`$${params.length - 1}`, `$${params.length}`];
  const f = filters(x, params)
    .map((c) => ` AND ${c}`)
    .join('');
  if (s.source === 'ledger') {
    return `SELECT ts AS t, key_id, "user", team, project, COALESCE(model_served, model_requested) AS model, route, upstream, region,
        ${needSession ? 'session_id' : 'NULL::text AS session_id'}, 1 AS requests, CASE WHEN priced THEN 0 ELSE 1 END AS unpriced, input_tokens, output_tokens,
        cache_read_input_tokens, cache_creation_5m_input_tokens, cache_creation_1h_input_tokens, web_search_requests, cost_nanousd
      FROM ledger WHERE ts >= ${range[0]} AND ts < ${range[1]}${f}`;
  }
  const table = s.source === 'day' ? 'rollup_day' : 'rollup_hour';
  const n = (c: string) => `NULLIF(${q(c)}, '') AS ${q(c)}`;
  return `SELECT ${s.source} AS t, ${['key_id', 'user', 'team', 'project', 'model', 'route', 'upstream', 'region'].map(n).join(', ')},
      NULL::text AS session_id, ${SEGMENT_MEASURES.join(', ')}
    FROM ${table} WHERE ${s.source} >= ${range[0]} AND ${s.source} < ${range[1]}${f}`;
}

export function reportSql(by: ReportDimension[], x: LedgerQuery): { sql: string; params: unknown[] } {
  const since = x.since ?? 0;
  const until = x.until ?? Number.MAX_SAFE_INTEGER;
  const needSession = by.includes('session');
  const segments = plan(since, until, needSession);
  const params: unknown[] = [];
  const union = (segments.length ? segments : [{ source: 'ledger' as const, from: 0, to: 0 }])
    .map((s) => segmentSelect(s, x, needSession, params))
    .join('\nUNION ALL\n');
  const cols = by.map((d) => `${REPORT_EXPR[d]} AS ${q(d)}`);
  const grouped = `SELECT ${[...cols, SEGMENT_TOTALS].join(', ')} FROM (${union}) u ${by.length ? `GROUP BY ${by.map((_, i) => i + 1).join(', ')}` : ''}`;
  if (!by.length) return { sql: grouped, params };
  const order = [...by.map((d) => `g.${q(d)} COLLATE "C" NULLS FIRST`), 'g.cost_nanousd DESC'];
  return { sql: `SELECT * FROM (${grouped}) g ORDER BY ${order.join(', ')}`, params };
}

export function spendGroupsSql(since: number, until: number): { sql: string; params: unknown[] } | null {
  const params: unknown[] = [];
  const parts = plan(since, until).map((s) => {
    params.push(s.from, s.to);
    const r = `$${params.length - 1} AND`;
    if (s.source === 'ledger') return `SELECT key_id, "user", team, project, cost_nanousd FROM ledger WHERE ts >= ${r} ts < $${params.length}`;
    const t = s.source === 'day' ? 'rollup_day' : 'rollup_hour';
    return `SELECT NULLIF(key_id, '') AS key_id, NULLIF("user", '') AS "user", NULLIF(team, '') AS team, NULLIF(project, '') AS project, cost_nanousd
      FROM ${t} WHERE ${s.source} >= ${r} ${s.source} < $${params.length}`;
  });
  if (!parts.length) return null;
  return { sql: `SELECT key_id, "user", team, project, SUM(cost_nanousd) AS cost_nanousd FROM (${parts.join(' UNION ALL ')}) u GROUP BY 1, 2, 3, 4`, params };
}

export function spendSql(
  col: 'key_id' | 'user' | 'team' | 'project' | null,
  value: string | null,
  since: number,
  until: number,
): { sql: string; params: unknown[] } | null {
  const params: unknown[] = [];
  const c = col ? q(col) : null;
  const parts = plan(since, until).map((s) => {
    params.push(s.from, s.to);
    const range = `$${params.length - 1} AND`;
    const upper = `$${params.length}`;
    let match = '';
    if (c) {
      params.push(s.source === 'ledger' ? value : (value ?? ''));
      match = ` AND ${c} = $${params.length}`;
    }
    if (s.source === 'ledger') return `SELECT COALESCE(SUM(cost_nanousd), 0) AS c FROM ledger WHERE ts >= ${range} ts < ${upper}${match}`;
    const t = s.source === 'day' ? 'rollup_day' : 'rollup_hour';
    return `SELECT COALESCE(SUM(cost_nanousd), 0) AS c FROM ${t} WHERE ${s.source} >= ${range} ${s.source} < ${upper}${match}`;
  });
  if (!parts.length) return null;
  return { sql: `SELECT SUM(c) AS total FROM (${parts.join(' UNION ALL ')}) u`, params };
}
