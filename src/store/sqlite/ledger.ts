// The ledger on SQLite: lines, their hour and day rollups, and the report queries that read
// rollups for whole hours and days and lines only for the ragged edges of a range.
import type Database from 'better-sqlite3';
import { DAY_MS, HOUR_MS, plan, SEGMENT_MEASURES, SEGMENT_TOTALS, type Segment } from '../segments.js';
import { LEDGER_FIELDS, type LedgerLine, type LedgerQuery, type ReportDimension, type SpendGroup } from '../types.js';

/** Ledger columns are named as the line's fields. */
export const LEDGER_COLUMNS = LEDGER_FIELDS;

const BOOL_COLUMNS = new Set<string>(['streamed', 'priced', 'client_aborted']);
/** Per column: stored as 0/1; and where the attempts (JSON text) are. */
const IS_BOOL = LEDGER_COLUMNS.map((c) => BOOL_COLUMNS.has(c));
const ATTEMPTS = LEDGER_COLUMNS.indexOf('attempts');

type Row = Record<string, unknown>;

/** The SELECT list toLineFromRaw reads. */
export const LEDGER_SELECT = LEDGER_COLUMNS.map((c) => `"${c}"`).join(', ');

/** A line from a raw row (values in LEDGER_COLUMNS order): no row object in between. */
export function toLineFromRaw(r: unknown[]): LedgerLine {
  const out: Row = {};
  for (let i = 0; i < LEDGER_COLUMNS.length; i++)
    out[LEDGER_COLUMNS[i] as string] = IS_BOOL[i] ? r[i] === 1 : i === ATTEMPTS ? (typeof r[i] === 'string' ? JSON.parse(r[i] as string) : []) : r[i];
  return out as unknown as LedgerLine;
}

/** A line's values in LEDGER_COLUMNS order, for positional binding (cheaper than binding a
 * row object by name on every insert). */
export function toValues(l: LedgerLine): unknown[] {
  const v: unknown[] = new Array(LEDGER_COLUMNS.length);
  for (let i = 0; i < LEDGER_COLUMNS.length; i++) {
    const x = l[LEDGER_COLUMNS[i] as keyof LedgerLine];
    v[i] = IS_BOOL[i] ? (x ? 1 : 0) : i === ATTEMPTS ? JSON.stringify(x) : (x ?? null);
  }
  return v;
}

/** Rollup dimensions, in primary-key order after the time bucket. */
const DIMS = ['key_id', 'user', 'team', 'project', 'model', 'route', 'upstream', 'region', 'endpoint'] as const;
/** Rollup measures and how each is computed from ledger lines. */
const MEASURES: [string, string][] = [
  ['requests', '1'],
  ['errors', 'CASE WHEN http_status >= 400 THEN 1 ELSE 0 END'],
  ['unpriced', '1 - priced'],
  ['input_tokens', 'input_tokens'],
  ['output_tokens', 'output_tokens'],
  ['cache_read_input_tokens', 'cache_read_input_tokens'],
  ['cache_creation_5m_input_tokens', 'cache_creation_5m_input_tokens'],
  ['cache_creation_1h_input_tokens', 'cache_creation_1h_input_tokens'],
  ['web_search_requests', 'web_search_requests'],
  ['web_fetch_requests', 'web_fetch_requests'],
  ['cost_nanousd', 'cost_nanousd'],
];
/** A ledger column (or expression) per rollup dimension; NULL is kept as ''. */
const LINE_DIM: Record<(typeof DIMS)[number], string> = {
  key_id: "COALESCE(key_id, '')",
  user: "COALESCE(user, '')",
  team: "COALESCE(team, '')",
  project: "COALESCE(project, '')",
  model: "COALESCE(model_served, model_requested, '')",
  route: "COALESCE(route, '')",
  upstream: "COALESCE(upstream, '')",
  region: "COALESCE(region, '')",
  endpoint: 'endpoint',
};

function upsertSql(table: 'rollup_hour' | 'rollup_day', bucket: string): string {
  const cols = [bucket, ...DIMS, ...MEASURES.map(([m]) => m)];
  return `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
    ON CONFLICT DO UPDATE SET ${MEASURES.map(([m]) => `${m} = ${m} + excluded.${m}`).join(', ')}`;
}

/** Rollup maintenance: one upsert per (hour) and per (day) group of the lines just inserted. */
export class Rollups {
  private readonly hour: Database.Statement;
  private readonly day: Database.Statement;

  constructor(private readonly db: Database.Database) {
    this.hour = db.prepare(upsertSql('rollup_hour', 'hour'));
    this.day = db.prepare(upsertSql('rollup_day', 'day'));
  }

  /** Adds lines (already inserted, in the caller's transaction) to both rollups. Lines of one
   * batch that share a group are summed first: one upsert per group and table. */
  add(lines: LedgerLine[]): void {
    if (lines.length === 1) {
      const l = lines[0] as LedgerLine;
      const v = values(l);
      this.hour.run(Math.floor(l.ts / HOUR_MS) * HOUR_MS, ...v);
      this.day.run(Math.floor(l.ts / DAY_MS) * DAY_MS, ...v);
      return;
    }
    for (const [unit, stmt] of [
      [HOUR_MS, this.hour],
      [DAY_MS, this.day],
    ] as const) {
      const groups = new Map<string, (string | number)[]>();
      for (const l of lines) {
        const v = [Math.floor(l.ts / unit) * unit, ...values(l)];
        const k = v.slice(0, 1 + DIMS.length).join('\u0000');
        const g = groups.get(k);
        if (!g) groups.set(k, v);
        else for (let i = 1 + DIMS.length; i < v.length; i++) g[i] = (g[i] as number) + (v[i] as number);
      }
      for (const v of groups.values()) stmt.run(...v);
    }
  }

  /** Recomputes both rollups for lines at or after `from` (a UTC day boundary). */
  rebuild(from: number): number {
    const measures = MEASURES.map(([, e]) => `SUM(${e})`).join(', ');
    const dims = DIMS.map((d) => LINE_DIM[d]).join(', ');
    this.db.prepare('DELETE FROM rollup_hour WHERE hour >= ?').run(from);
    this.db.prepare('DELETE FROM rollup_day WHERE day >= ?').run(from);
    for (const [table, bucket, unit] of [
      ['rollup_hour', 'hour', HOUR_MS],
      ['rollup_day', 'day', DAY_MS],
    ] as const) {
      this.db
        .prepare(
          `INSERT INTO ${table} (${bucket}, ${DIMS.join(', ')}, ${MEASURES.map(([m]) => m).join(', ')})
        SELECT (ts / ${unit}) * ${unit}, ${dims}, ${measures} FROM ledger WHERE ts >= ? GROUP BY 1, ${DIMS.map((_, i) => i + 2).join(', ')}`,
        )
        .run(from);
    }
    return Number(this.db.prepare('SELECT COUNT(*) FROM ledger WHERE ts >= ?').pluck().get(from));
  }
}

function values(l: LedgerLine): (string | number)[] {
  return [
    l.key_id ?? '',
    l.user ?? '',
    l.team ?? '',
    l.project ?? '',
    l.model_served ?? l.model_requested ?? '',
    l.route ?? '',
    l.upstream ?? '',
    l.region ?? '',
    l.endpoint,
    1,
    l.http_status >= 400 ? 1 : 0,
    l.priced ? 0 : 1,
    l.input_tokens,
    l.output_tokens,
    l.cache_read_input_tokens,
    l.cache_creation_5m_input_tokens,
    l.cache_creation_1h_input_tokens,
    l.web_search_requests,
    l.web_fetch_requests,
    l.cost_nanousd,
  ];
}

/** Report dimensions as columns of the union below (t is the bucket or line time). */
const REPORT_EXPR: Record<ReportDimension, string> = {
  user: 'user',
  team: 'team',
  project: 'project',
  key: 'key_id',
  upstream: 'upstream',
  route: 'route',
  region: 'region',
  model: 'model',
  session: 'session_id',
  day: "strftime('%Y-%m-%d', t / 1000, 'unixepoch')",
  // Weeks start on Monday: the date of that Monday names the week.
  week: "date(t / 1000, 'unixepoch', '-' || ((CAST(strftime('%w', t / 1000, 'unixepoch') AS INTEGER) + 6) % 7) || ' days')",
  month: "strftime('%Y-%m', t / 1000, 'unixepoch')",
};

/** One SELECT per segment with the same columns, for UNION ALL. */
function segmentSelect(s: Segment, q: LedgerQuery, needSession: boolean, params: unknown[]): string {
  const filters: string[] = [];
  const filter = (col: string, v: string | undefined) => {
    if (v === undefined) return;
    filters.push(`${col} = ?`);
    params.push(v);
  };
  if (s.source === 'ledger') {
    params.push(s.from, s.to);
    filter('user', q.user);
    filter('team', q.team);
    filter('project', q.project);
    filter('key_id', q.keyId);
    filter('endpoint', q.endpoint);
    return `SELECT ts AS t, key_id, user, team, project, COALESCE(model_served, model_requested) AS model, route, upstream, region,
        ${needSession ? 'session_id' : 'NULL AS session_id'}, 1 AS requests, 1 - priced AS unpriced, input_tokens, output_tokens,
        cache_read_input_tokens, cache_creation_5m_input_tokens, cache_creation_1h_input_tokens, web_search_requests, cost_nanousd
      FROM ledger WHERE ts >= ? AND ts < ?${filters.map((f) => ' AND ' + f).join('')}`;
  }
  const table = s.source === 'day' ? 'rollup_day' : 'rollup_hour';
  const bucket = s.source;
  params.push(s.from, s.to);
  filter('user', q.user);
  filter('team', q.team);
  filter('project', q.project);
  filter('key_id', q.keyId);
  filter('endpoint', q.endpoint);
  const n = (c: string) => `NULLIF(${c}, '') AS ${c}`;
  return `SELECT ${bucket} AS t, ${n('key_id')}, ${n('user')}, ${n('team')}, ${n('project')}, ${n('model')}, ${n('route')}, ${n('upstream')}, ${n('region')},
      NULL AS session_id, ${SEGMENT_MEASURES.join(', ')}
    FROM ${table} WHERE ${bucket} >= ? AND ${bucket} < ?${filters.map((f) => ' AND ' + f).join('')}`;
}

/** Totals grouped by `by` over q's range: rollups for whole days and hours, lines at the edges.
 * `prunedBefore`: lines before it are gone, so its edges are read from the rollups alone. */
export function reportSql(by: ReportDimension[], q: LedgerQuery): { sql: string; params: unknown[] } {
  const since = q.since ?? 0;
  const until = q.until ?? Number.MAX_SAFE_INTEGER;
  const needSession = by.includes('session');
  const segments = plan(since, until, needSession);
  const params: unknown[] = [];
  const union = segments.length
    ? segments.map((s) => segmentSelect(s, q, needSession, params)).join('\nUNION ALL\n')
    : segmentSelect({ source: 'ledger', from: 0, to: 0 }, q, needSession, params);
  const cols = by.map((d) => `${REPORT_EXPR[d]} AS "${d}"`);
  const sql = `SELECT ${[...cols, SEGMENT_TOTALS].join(', ')} FROM (${union})
    ${by.length ? `GROUP BY ${by.map((_, i) => i + 1).join(', ')}` : ''}
    ${by.length ? `ORDER BY ${[...by.map((_, i) => i + 1), 'cost_nanousd DESC'].join(', ')}` : ''}`;
  return { sql, params };
}

/** Settled spend in [since, until) per (key, user, team, project), for budgets. */
export function spendGroups(db: Database.Database, since: number, until: number): SpendGroup[] {
  const params: unknown[] = [];
  const parts = plan(since, until).map((s) => {
    params.push(s.from, s.to);
    if (s.source === 'ledger') return 'SELECT key_id, user, team, project, cost_nanousd FROM ledger WHERE ts >= ? AND ts < ?';
    const t = s.source === 'day' ? 'rollup_day' : 'rollup_hour';
    return `SELECT NULLIF(key_id, '') AS key_id, NULLIF(user, '') AS user, NULLIF(team, '') AS team, NULLIF(project, '') AS project, cost_nanousd
      FROM ${t} WHERE ${s.source} >= ? AND ${s.source} < ?`;
  });
  if (!parts.length) return [];
  return db
    .prepare(
      `SELECT key_id, user, team, project, SUM(cost_nanousd) AS cost_nanousd FROM (${parts.join(' UNION ALL ')})
    GROUP BY 1, 2, 3, 4`,
    )
    .all(...params) as SpendGroup[];
}

/** Settled spend in [since, until) for one scope (null column: the organisation). */
export function spendOf(db: Database.Database, col: 'key_id' | 'user' | 'team' | 'project' | null, value: string | null, since: number, until: number): number {
  const params: unknown[] = [];
  const parts = plan(since, until).map((s) => {
    params.push(s.from, s.to);
    if (col) params.push(s.source === 'ledger' ? value : (value ?? ''));
    if (s.source === 'ledger') return `SELECT COALESCE(SUM(cost_nanousd), 0) AS c FROM ledger WHERE ts >= ? AND ts < ?${col ? ` AND ${col} = ?` : ''}`;
    const t = s.source === 'day' ? 'rollup_day' : 'rollup_hour';
    return `SELECT COALESCE(SUM(cost_nanousd), 0) AS c FROM ${t} WHERE ${s.source} >= ? AND ${s.source} < ?${col ? ` AND ${col} = ?` : ''}`;
  });
  if (!parts.length) return 0;
  return Number(
    db
      .prepare(`SELECT SUM(c) FROM (${parts.join(' UNION ALL ')})`)
      .pluck()
      .get(...params) ?? 0,
  );
}
