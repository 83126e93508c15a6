// The PostgreSQL store's operations, asynchronous, on one connection (node-postgres). They run
// in a worker thread (worker.ts) behind the synchronous Store interface (index.ts); the method
// names and arguments are the Store's, except where a Store method takes a callback.
import pg from 'pg';
import { DAY_MS } from '../segments.js';
import {
  DEVICE_GRANT_FIELDS,
  EXTERNAL_SOURCES,
  SESSION_FIELDS,
  USAGE_LINE_FIELDS,
  type AlertSent,
  type AuditEntry,
  type BudgetClaimGrant,
  type BudgetClaimRequest,
  type BudgetPeriod,
  type BudgetRecord,
  type BudgetScope,
  type DailyUsage,
  type DeviceGrant,
  type ExternalSource,
  type ExternalUsage,
  type ExternalUsageQuery,
  type ExternalUsageRow,
  type ExternalWriteResult,
  type FleetReport,
  type Identity,
  type KeyRecord,
  type LedgerLine,
  type LedgerQuery,
  type PruneResult,
  type ReportDimension,
  type ReportRow,
  type SignInSession,
  type SpendGroup,
  type SpendLine,
  type StoreVersions,
  type TelemetryEvent,
  type TelemetryPoint,
  type TokenRecord,
} from '../types.js';
import { filters, LEDGER_COLS, placeholders, reportSql, rollupRebuild, spendGroupsSql, spendSql, toLine, writeBatchSql } from './ledger-sql.js';
import { pgMigrations } from './schema.js';

// BIGINT (20) and NUMERIC (1700, what SUM of BIGINT gives) as numbers: nano-USD and token
// counts stay far below 2^53 (9 million dollars in one figure).
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

type Row = Record<string, unknown>;

/** The first ms of the UTC month containing t: the ledger's partitions. */
function monthStart(t: number): number {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}
const LOCK_MIGRATE = 7_346_110_001;
/** Held by each ledger write until it commits: commit order is seq order, so a reader following
 * the ledger by seq (budgets on every replica) never steps past a line another replica has yet
 * to commit with a smaller seq. */
const LOCK_LEDGER = 7_346_110_002;
/** With a hash of the budget and period: claims on one budget are decided one at a time. */
const LOCK_CLAIMS = 734_611;
/** Rows per INSERT: well under PostgreSQL's 65,535 parameters for 38 columns. */
const CHUNK = 500;

export interface PgOptions {
  /** How long one statement may run before PostgreSQL cancels it (ms). */
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Run the migrations on open (replicas do unless told not to; `tollgate migrate` does it). */
  migrate?: boolean;
  /** With migrate off: open even if the schema is behind (tollgate migrate, to report it). */
  allowBehind?: boolean;
  /** Connect at the first operation, not on open. */
  lazy?: boolean;
}

/** A listing page: rows after a (ts, id) position, in the listing's order. */
export interface LedgerPage {
  lines: Row[];
  last: { ts: number; id: string } | null;
}

function setClause(patch: Record<string, unknown>, allowed: readonly string[], from: number): { sql: string; values: unknown[] } {
  const keys = Object.keys(patch).filter((k) => allowed.includes(k));
  return { sql: keys.map((k, i) => `${k} = $${from + i}`).join(', '), values: keys.map((k) => patch[k]) };
}

/** Errors after which this connection is no use: the socket failed, or the server ended the
 * session (SQLSTATE class 08 connection exceptions, 57P01-57P03 shutdown). */
function lostConnection(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  if (typeof e.code === 'string' && (/^08/.test(e.code) || /^57P0[123]$/.test(e.code) || /^E[A-Z]+$/.test(e.code))) return true;
  return /Connection terminated|Client has encountered a connection error|not queryable/i.test(e.message ?? '');
}

/** ON CONFLICT for rows copied in, per table: lines and once-only records are kept; state the
 * source holds more recently (revocations, budgets, sessions, totals) replaces what is there. */
const replace = (key: string[]) => (cols: string[]) =>
  `ON CONFLICT (${key.map((k) => `"${k}"`).join(', ')}) DO UPDATE SET ${cols
    .filter((c) => !key.includes(c))
    .map((c) => `"${c}" = excluded."${c}"`)
    .join(', ')}`;
const keep = () => 'ON CONFLICT DO NOTHING';
const ROLLUP_KEY = ['key_id', 'user', 'team', 'project', 'model', 'route', 'upstream', 'region', 'endpoint'];
const IMPORT_CONFLICT: Record<string, (cols: string[]) => string> = {
  keys: replace(['id']),
  budgets: (cols) => `ON CONFLICT (scope, COALESCE(scope_value, ''), period) DO UPDATE SET ${cols.map((c) => `"${c}" = excluded."${c}"`).join(', ')}`,
  alerts_sent: keep,
  audit: keep,
  ledger: keep,
  rollup_hour: replace(['hour', ...ROLLUP_KEY]),
  rollup_day: replace(['day', ...ROLLUP_KEY]),
  telemetry_events: keep,
  telemetry_metrics: keep,
  telemetry_cumulative: replace(['series']),
  external_usage: replace(['id']),
  identities: replace(['external_id']),
  sessions: replace(['id']),
  tokens: replace(['hash']),
  secrets: keep,
  fleet_reports: replace(['identity']),
  served_settings: keep,
};

export class PgOps {
  private client: pg.Client | null = null;
  /** The connection was lost (server restarted, network): reconnect before the next query. */
  private broken = false;
  private schemaReady = false;

  private constructor(
    private readonly url: string,
    private readonly opts: PgOptions,
  ) {}

  /** Connects (and brings the schema up to date, or checks it) now; with `lazy`, at the first
   * operation (a replica starting while PostgreSQL is down). */
  static async open(url: string, opts: PgOptions = {}): Promise<PgOps> {
    const ops = new PgOps(url, opts);
    if (!opts.lazy) await ops.query('SELECT 1');
    return ops;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 5000,
      statement_timeout: this.opts.statementTimeoutMs ?? 30_000,
      application_name: 'tollgate',
    });
    // A lost connection surfaces as the next query's error; the one after reconnects.
    client.on('error', () => {
      this.broken = true;
    });
    await client.connect();
    this.client = client;
    this.broken = false;
    if (this.schemaReady) return;
    try {
      await this.prepareSchema();
      this.schemaReady = true;
    } catch (err) {
      this.client = null;
      await client.end().catch(() => {});
      throw err;
    }
  }

  /** Once per store: migrations applied (migrate on) or the schema checked to be current. */
  private async prepareSchema(): Promise<void> {
    const version = await this.schemaVersion();
    if (version > pgMigrations.length)
      throw new Error(`the PostgreSQL schema (version ${version}) is newer than this tollgate knows (${pgMigrations.length}): upgrade tollgate`);
    if (this.opts.migrate !== false) await this.migrate();
    else if (!this.opts.allowBehind && version < pgMigrations.length)
      throw new Error(`the PostgreSQL schema is at version ${version} of ${pgMigrations.length} (run \`tollgate migrate\`)`);
  }

  private async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    if (!this.client || this.broken) {
      await this.client?.end().catch(() => {});
      this.client = null;
      await this.connect();
    }
    try {
      return await this.client!.query<Row>(sql, params);
    } catch (err) {
      if (lostConnection(err)) this.broken = true;
      throw err;
    }
  }

  private async tx<T>(fn: () => Promise<T>): Promise<T> {
    await this.query('BEGIN');
    try {
      const out = await fn();
      await this.query('COMMIT');
      return out;
    } catch (err) {
      await this.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  async schemaVersion(): Promise<number> {
    await this.query('CREATE TABLE IF NOT EXISTS tollgate_schema (version INTEGER NOT NULL, applied_at BIGINT NOT NULL)');
    const r = await this.query('SELECT MAX(version) AS v FROM tollgate_schema');
    return Number(r.rows[0]?.v ?? 0);
  }

  /** Applies what is missing; returns the versions applied. Replicas starting at once wait on
   * one advisory lock, so each migration runs once. */
  async migrate(): Promise<number[]> {
    const applied: number[] = [];
    await this.query('SELECT pg_advisory_lock($1)', [LOCK_MIGRATE]);
    try {
      const current = await this.schemaVersion();
      for (let v = current; v < pgMigrations.length; v++) {
        await this.tx(async () => {
          await this.query(pgMigrations[v] as string);
          await this.query('INSERT INTO tollgate_schema (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
        });
        applied.push(v + 1);
      }
    } finally {
      await this.query('SELECT pg_advisory_unlock($1)', [LOCK_MIGRATE]);
    }
    return applied;
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  // Snapshots: readSnapshot's reads run in one REPEATABLE READ transaction on this connection.
  async beginSnapshot(): Promise<void> {
    await this.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async endSnapshot(): Promise<void> {
    await this.query('COMMIT');
  }

  private async bump(name: 'keys_version' | 'budgets_version' | 'sessions_version'): Promise<void> {
    await this.query('UPDATE meta SET value = value + 1 WHERE name = $1', [name]);
  }

  async versions(): Promise<StoreVersions> {
    const v: StoreVersions = { keys: 0, budgets: 0, sessions: 0 };
    const r = await this.query("SELECT name, value FROM meta WHERE name IN ('keys_version', 'budgets_version', 'sessions_version')");
    for (const row of r.rows) {
      if (row.name === 'keys_version') v.keys = Number(row.value);
      else if (row.name === 'budgets_version') v.budgets = Number(row.value);
      else v.sessions = Number(row.value);
    }
    return v;
  }

  async insertKey(k: KeyRecord): Promise<void> {
    await this.tx(async () => {
      await this.query(
        `INSERT INTO keys (id, hash, prefix, name, "user", team, project, created_at, last_used_at, revoked_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [k.id, k.hash, k.prefix, k.name, k.user, k.team, k.project, k.created_at, k.last_used_at, k.revoked_at, k.expires_at ?? null],
      );
      await this.bump('keys_version');
    });
  }

  async listKeys(): Promise<KeyRecord[]> {
    return (await this.query('SELECT * FROM keys ORDER BY created_at, id COLLATE "C"')).rows as unknown as KeyRecord[];
  }

  async findKeyByHash(hash: string): Promise<KeyRecord | undefined> {
    return (await this.query('SELECT * FROM keys WHERE hash = $1', [hash])).rows[0] as KeyRecord | undefined;
  }

  async findKey(id: string): Promise<KeyRecord | undefined> {
    return (await this.query('SELECT * FROM keys WHERE id = $1', [id])).rows[0] as KeyRecord | undefined;
  }

  async revokeKey(id: string, at: number): Promise<boolean> {
    return this.tx(async () => {
      const changed = ((await this.query('UPDATE keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])).rowCount ?? 0) > 0;
      if (changed) await this.bump('keys_version');
      return changed;
    });
  }

  /** Lines (idempotent on id), the rollups of those actually inserted, and key last-used times,
   * in one transaction. */
  async writeBatch(lines: LedgerLine[], keysUsed: [string, number][]): Promise<void> {
    // One statement, one round trip: the replica's event loop is held for as little as possible.
    const params = [JSON.stringify(lines.map((l) => ({ ...l, attempts: l.attempts ?? [] }))), JSON.stringify(keysUsed.map(([id, at]) => ({ id, at })))];
    await this.withPartitions(
      lines.map((l) => l.ts),
      () => this.query(this.writeSql, params),
    );
  }

  /** Months (UTC) whose ledger partition this connection knows exists. */
  private readonly months = new Set<number>();

  /** Runs a ledger insert after making sure each month it writes has its partition (created on
   * the first line of a month: one call per month per process). A partition dropped meanwhile by
   * a prune elsewhere (an old line shipped late) is made again. */
  private async withPartitions<T>(times: number[], insert: () => Promise<T>): Promise<T> {
    const ensure = async () => {
      for (const m of new Set(times.map(monthStart))) {
        if (this.months.has(m)) continue;
        await this.query('SELECT tollgate_ledger_partition($1)', [m]);
        this.months.add(m);
      }
    };
    await ensure();
    try {
      return await insert();
    } catch (err) {
      // 23514: no partition of relation "ledger" found for row.
      if ((err as { code?: string }).code !== '23514') throw err;
      this.months.clear();
      await ensure();
      return insert();
    }
  }

  private readonly writeSql = writeBatchSql(LOCK_LEDGER);

  /** One page of a listing: `after` is the last (ts, id) of the previous page. */
  async ledgerPage(x: LedgerQuery, cols: 'all' | 'usage', after: { ts: number; id: string } | null, pageSize: number): Promise<LedgerPage> {
    const params: unknown[] = [];
    const where = filters(x, params);
    if (x.id !== undefined) {
      params.push(x.id);
      where.push(`id = $${params.length}`);
    }
    if (x.since !== undefined) {
      params.push(x.since);
      where.push(`ts >= $${params.length}`);
    }
    if (x.until !== undefined) {
      params.push(x.until);
      where.push(`ts < $${params.length}`);
    }
    const desc = x.latest === true;
    if (after) {
      params.push(after.ts, after.id);
      const [t, i] = [`$${params.length - 1}`, `$${params.length}`];
      where.push(desc ? `(ts < ${t} OR (ts = ${t} AND id COLLATE "C" < ${i}))` : `(ts > ${t} OR (ts = ${t} AND id COLLATE "C" > ${i}))`);
    }
    const list = cols === 'all' ? LEDGER_COLS : USAGE_LINE_FIELDS.map((c) => `"${c}"`).join(', ');
    const dir = desc ? 'DESC' : 'ASC';
    params.push(pageSize);
    const r = await this.query(
      `SELECT ${list} FROM ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts ${dir}, id COLLATE "C" ${dir} LIMIT $${params.length}`,
      params,
    );
    const lastRow = r.rows[r.rows.length - 1];
    return {
      lines: cols === 'all' ? r.rows.map((row) => toLine(row) as unknown as Row) : r.rows,
      last: lastRow ? { ts: Number(lastRow.ts), id: String(lastRow.id) } : null,
    };
  }

  async ledgerEmpty(): Promise<boolean> {
    return (await this.query('SELECT 1 FROM ledger LIMIT 1')).rows.length === 0;
  }

  async report(by: ReportDimension[], x: LedgerQuery): Promise<ReportRow[]> {
    const { sql, params } = reportSql(by, x);
    const rows = (await this.query(sql, params)).rows as ReportRow[];
    if (!by.length) for (const r of rows) for (const [k, v] of Object.entries(r)) if (v === null) r[k] = k === 'requests' ? 0 : null;
    return rows;
  }

  async ledgerHead(): Promise<number> {
    return Number((await this.query('SELECT MAX(seq) AS s FROM ledger')).rows[0]?.s ?? 0);
  }

  async ledgerTail(seq: number, limit: number): Promise<SpendLine[]> {
    return (await this.query('SELECT seq, id, ts, key_id, "user", team, project, cost_nanousd FROM ledger WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, limit]))
      .rows as unknown as SpendLine[];
  }

  private async prunedBefore(): Promise<number> {
    return Number((await this.query("SELECT value FROM meta WHERE name = 'pruned_before'")).rows[0]?.value ?? 0);
  }

  async prune(before: number, opts: { maxLines?: number } = {}): Promise<PruneResult> {
    const cut = Math.floor(before / DAY_MS) * DAY_MS;
    await this.query("UPDATE meta SET value = GREATEST(value, $1) WHERE name = 'pruned_before'", [cut]);
    const r: PruneResult = { deleted: 0, prunedBefore: await this.prunedBefore() };
    // Whole months before the cut go at once: their partition is dropped (no row-by-row delete,
    // nothing left for VACUUM) unless it holds the newest line, which stays (its seq keeps
    // commit sequences increasing for ledgerTail).
    const newest = await this.query('SELECT tableoid::regclass::text AS part FROM ledger ORDER BY seq DESC LIMIT 1');
    const keepPart = String(newest.rows[0]?.part ?? '');
    const parts = await this.query("SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'ledger'::regclass");
    for (const row of parts.rows) {
      const name = String(row.name);
      const ym = /^ledger_(\d{4})(\d{2})$/.exec(name);
      if (!ym || name === keepPart || Date.UTC(Number(ym[1]), Number(ym[2])) > cut) continue;
      await this.tx(async () => {
        // Counted exactly for `tollgate prune`; the gateway's retention step (maxLines) takes
        // PostgreSQL's estimate instead of scanning a month of lines on its event loop.
        const count =
          opts.maxLines === undefined
            ? `SELECT COUNT(*) AS n FROM "${name}"`
            : `SELECT GREATEST(reltuples, 0)::bigint AS n FROM pg_class WHERE oid = '"${name}"'::regclass`;
        r.deleted += Number((await this.query(count)).rows[0]?.n ?? 0);
        await this.query(`DROP TABLE "${name}"`);
      });
      this.months.delete(Date.UTC(Number(ym[1]), Number(ym[2]) - 1));
    }
    const chunk = Math.min(2000, opts.maxLines ?? 2000);
    // The newest line stays: its seq keeps commit sequences increasing (ledgerTail).
    for (;;) {
      const n =
        (
          await this.query('DELETE FROM ledger WHERE id IN (SELECT id FROM ledger WHERE ts < $1 AND seq < (SELECT MAX(seq) FROM ledger) LIMIT $2)', [
            cut,
            chunk,
          ])
        ).rowCount ?? 0;
      r.deleted += n;
      if (n < chunk || (opts.maxLines !== undefined && r.deleted >= opts.maxLines)) break;
    }
    return r;
  }

  async rebuildRollups(): Promise<{ lines: number }> {
    return this.tx(async () => {
      const from = await this.prunedBefore();
      await this.query('DELETE FROM rollup_hour WHERE hour >= $1', [from]);
      await this.query('DELETE FROM rollup_day WHERE day >= $1', [from]);
      await this.query(rollupRebuild('rollup_hour'), [from]);
      await this.query(rollupRebuild('rollup_day'), [from]);
      return { lines: Number((await this.query('SELECT COUNT(*) AS n FROM ledger WHERE ts >= $1', [from])).rows[0]?.n ?? 0) };
    });
  }

  async listBudgets(): Promise<BudgetRecord[]> {
    const r = await this.query('SELECT * FROM budgets ORDER BY scope COLLATE "C", scope_value COLLATE "C" NULLS FIRST, period COLLATE "C"');
    return r.rows.map((row) => ({ ...row, alert_at: JSON.parse(String(row.alert_at)) as number[] }) as BudgetRecord);
  }

  async upsertBudget(b: BudgetRecord): Promise<void> {
    await this.tx(async () => {
      await this.bump('budgets_version');
      await this.query("DELETE FROM budgets WHERE scope = $1 AND COALESCE(scope_value, '') = COALESCE($2, '') AND period = $3", [
        b.scope,
        b.scope_value,
        b.period,
      ]);
      await this.query(
        'INSERT INTO budgets (id, scope, scope_value, period, limit_nanousd, mode, alert_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
        [b.id, b.scope, b.scope_value, b.period, b.limit_nanousd, b.mode, JSON.stringify(b.alert_at), b.created_at, b.updated_at],
      );
    });
  }

  async removeBudget(scope: BudgetScope, value: string | null, period?: BudgetPeriod): Promise<number> {
    return this.tx(async () => {
      const sql = "DELETE FROM budgets WHERE scope = $1 AND COALESCE(scope_value, '') = COALESCE($2, '')" + (period ? ' AND period = $3' : '');
      const n = (await this.query(sql, period ? [scope, value, period] : [scope, value])).rowCount ?? 0;
      if (n) await this.bump('budgets_version');
      return n;
    });
  }

  async spend(scope: BudgetScope, value: string | null, since: number, until: number): Promise<number> {
    const col = ({ key: 'key_id', user: 'user', team: 'team', project: 'project', org: null } as const)[scope];
    const s = spendSql(col, value, since, until);
    if (!s) return 0;
    return Number((await this.query(s.sql, s.params)).rows[0]?.total ?? 0);
  }

  async spendGroups(since: number, until: number): Promise<SpendGroup[]> {
    const s = spendGroupsSql(since, until);
    if (!s) return [];
    return (await this.query(s.sql, s.params)).rows as unknown as SpendGroup[];
  }

  async markAlertSent(budgetId: string, periodStart: number, threshold: number, at: number): Promise<boolean> {
    const r = await this.query('INSERT INTO alerts_sent (budget_id, period_start, threshold, sent_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
      budgetId,
      periodStart,
      threshold,
      at,
    ]);
    return (r.rowCount ?? 0) > 0;
  }

  async listAlertsSent(limit: number): Promise<AlertSent[]> {
    const r = await this.query('SELECT budget_id, period_start, threshold, sent_at FROM alerts_sent ORDER BY sent_at DESC LIMIT $1', [limit]);
    return r.rows.map((row) => ({
      budget_id: String(row.budget_id),
      period_start: Number(row.period_start),
      threshold: Number(row.threshold),
      sent_at: Number(row.sent_at),
    }));
  }

  async appendAudit(e: AuditEntry): Promise<void> {
    await this.query('INSERT INTO audit (ts, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
      e.ts,
      e.actor,
      e.action,
      e.target,
      e.details ? JSON.stringify(e.details) : null,
    ]);
  }

  async listAudit(limit: number): Promise<AuditEntry[]> {
    const r = await this.query('SELECT * FROM audit ORDER BY id DESC LIMIT $1', [limit]);
    return r.rows.map((row) => ({ ...row, details: row.details ? (JSON.parse(String(row.details)) as unknown) : null }) as AuditEntry);
  }

  async recordTelemetryEvents(events: TelemetryEvent[]): Promise<void> {
    await this.tx(async () => {
      for (const e of events)
        await this.query(
          `INSERT INTO telemetry_events (id, ts, key_id, "user", team, session_id, otel_user_id, model, input_tokens, output_tokens,
          cache_read_input_tokens, cache_creation_input_tokens, cost_nanousd, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
          ON CONFLICT DO NOTHING`,
          [
            e.id,
            e.ts,
            e.key_id,
            e.user,
            e.team,
            e.session_id,
            e.otel_user_id,
            e.model,
            e.input_tokens,
            e.output_tokens,
            e.cache_read_input_tokens,
            e.cache_creation_input_tokens,
            e.cost_nanousd,
            e.duration_ms,
          ],
        );
    });
  }

  async recordTelemetryPoints(points: TelemetryPoint[]): Promise<void> {
    await this.tx(async () => {
      for (const p of points) {
        let delta = p.value;
        if (p.cumulative) {
          const prev = (await this.query('SELECT start_ts, value FROM telemetry_cumulative WHERE series = $1 FOR UPDATE', [p.series])).rows[0];
          delta = prev && Number(prev.start_ts) === p.start_ts ? p.value - Number(prev.value) : p.value;
          await this.query(
            'INSERT INTO telemetry_cumulative (series, start_ts, value) VALUES ($1, $2, $3) ON CONFLICT (series) DO UPDATE SET start_ts = excluded.start_ts, value = excluded.value',
            [p.series, p.start_ts, p.value],
          );
        }
        await this.query(
          'INSERT INTO telemetry_metrics (series, ts, key_id, "user", team, session_id, model, metric, kind, delta) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING',
          [p.series, p.ts, p.key_id, p.user, p.team, p.session_id, p.model, p.metric, p.kind, delta],
        );
      }
    });
  }

  async writeExternalUsage(rows: ExternalUsage[]): Promise<ExternalWriteResult> {
    const r: ExternalWriteResult = { imported: 0, updated: 0, duplicates: 0 };
    const cols = `(id, source, ts, principal, session_id, model, region, input_tokens, output_tokens, cache_read_input_tokens,
      cache_creation_input_tokens, calls, usage_type, cost_nanousd, priced) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`;
    await this.tx(async () => {
      for (const x of rows) {
        const params = [
          x.id,
          x.source,
          x.ts,
          x.principal,
          x.session_id,
          x.model,
          x.region,
          x.input_tokens,
          x.output_tokens,
          x.cache_read_input_tokens,
          x.cache_creation_input_tokens,
          x.calls,
          x.usage_type,
          x.cost_nanousd,
          x.priced,
        ];
        if (x.source === 'transcript') {
          // The final snapshot of a response wins (Claude Code writes one line per content block).
          const had = (await this.query('SELECT 1 FROM external_usage WHERE id = $1', [x.id])).rows.length > 0;
          const changes =
            (
              await this.query(
                `INSERT INTO external_usage ${cols} ON CONFLICT (id) DO UPDATE SET input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
              cache_read_input_tokens = excluded.cache_read_input_tokens, cache_creation_input_tokens = excluded.cache_creation_input_tokens,
              cost_nanousd = excluded.cost_nanousd, priced = excluded.priced, model = excluded.model
              WHERE external_usage.input_tokens != excluded.input_tokens OR external_usage.output_tokens != excluded.output_tokens
                OR external_usage.cache_read_input_tokens != excluded.cache_read_input_tokens
                OR external_usage.cache_creation_input_tokens != excluded.cache_creation_input_tokens OR external_usage.cost_nanousd != excluded.cost_nanousd`,
                params,
              )
            ).rowCount ?? 0;
          if (!had) r.imported++;
          else if (changes) r.updated++;
          else r.duplicates++;
        } else if ((await this.query(`INSERT INTO external_usage ${cols} ON CONFLICT DO NOTHING`, params)).rowCount) r.imported++;
        else r.duplicates++;
      }
    });
    return r;
  }

  async externalPage(x: ExternalUsageQuery, after: { ts: number; id: string } | null, pageSize: number): Promise<ExternalUsageRow[]> {
    if (!x.sources.length) return [];
    const params: unknown[] = [x.sources, x.since ?? 0, x.until ?? Number.MAX_SAFE_INTEGER];
    let more = '';
    if (after) {
      params.push(after.ts, after.id);
      more = ` AND (e.ts > $4 OR (e.ts = $4 AND e.id COLLATE "C" > $5))`;
    }
    params.push(pageSize);
    const r = await this.query(
      `SELECT e.*, (e.source = 'bedrock_log' AND EXISTS (SELECT 1 FROM ledger l WHERE l.upstream_request_id = substr(e.id, 9))) AS matched_ledger
      FROM external_usage e WHERE e.source = ANY($1) AND e.ts >= $2 AND e.ts < $3${more} ORDER BY e.ts, e.id COLLATE "C" LIMIT $${params.length}`,
      params,
    );
    return r.rows as unknown as ExternalUsageRow[];
  }

  async sourcesPresent(): Promise<Record<ExternalSource | 'telemetry', boolean>> {
    const out = { telemetry: (await this.query('SELECT 1 FROM telemetry_events LIMIT 1')).rows.length > 0 } as Record<ExternalSource | 'telemetry', boolean>;
    for (const s of EXTERNAL_SOURCES) out[s] = (await this.query('SELECT 1 FROM external_usage WHERE source = $1 LIMIT 1', [s])).rows.length > 0;
    return out;
  }

  async telemetryDaily(since: number, until: number): Promise<DailyUsage[]> {
    return (
      await this.query(
        `SELECT "user", team, model, to_char(to_timestamp(ts / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, SUM(cost_nanousd) AS cost,
        SUM(input_tokens + output_tokens + cache_read_input_tokens + cache_creation_input_tokens) AS tokens
      FROM telemetry_events WHERE ts >= $1 AND ts < $2 GROUP BY 1, 2, 3, 4`,
        [since, until],
      )
    ).rows as unknown as DailyUsage[];
  }

  async upsertIdentity(i: Identity, at: number): Promise<void> {
    await this.query(
      'INSERT INTO identities (external_id, "user", team, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (external_id) DO UPDATE SET "user" = excluded."user", team = excluded.team, created_at = excluded.created_at',
      [i.external_id, i.user, i.team, at],
    );
  }

  async removeIdentity(externalId: string): Promise<boolean> {
    return ((await this.query('DELETE FROM identities WHERE external_id = $1', [externalId])).rowCount ?? 0) > 0;
  }

  async listIdentities(): Promise<Identity[]> {
    return (await this.query('SELECT external_id, "user", team FROM identities ORDER BY "user" COLLATE "C", external_id COLLATE "C"'))
      .rows as unknown as Identity[];
  }

  async insertDeviceGrant(g: DeviceGrant): Promise<void> {
    await this.query(
      `INSERT INTO device_grants (device_hash, ${DEVICE_GRANT_FIELDS.join(', ')}) VALUES (${['device_hash', ...DEVICE_GRANT_FIELDS].map((_, i) => `$${i + 1}`).join(', ')})`,
      [g.device_hash, ...DEVICE_GRANT_FIELDS.map((f) => g[f])],
    );
  }

  async findDeviceGrant(by: { deviceHash?: string; userCode?: string; state?: string }): Promise<DeviceGrant | undefined> {
    const [col, v] =
      by.deviceHash !== undefined ? ['device_hash', by.deviceHash] : by.userCode !== undefined ? ['user_code', by.userCode] : ['state', by.state];
    if (v === undefined) return undefined;
    return (await this.query(`SELECT * FROM device_grants WHERE ${col} = $1`, [v])).rows[0] as DeviceGrant | undefined;
  }

  async updateDeviceGrant(deviceHash: string, patch: Partial<DeviceGrant>): Promise<void> {
    const { sql, values } = setClause(patch, DEVICE_GRANT_FIELDS, 1);
    if (sql) await this.query(`UPDATE device_grants SET ${sql} WHERE device_hash = $${values.length + 1}`, [...values, deviceHash]);
  }

  async insertSession(s: SignInSession): Promise<void> {
    await this.query(`INSERT INTO sessions (id, ${SESSION_FIELDS.join(', ')}) VALUES (${['id', ...SESSION_FIELDS].map((_, i) => `$${i + 1}`).join(', ')})`, [
      s.id,
      ...SESSION_FIELDS.map((f) => (f === 'groups' ? JSON.stringify(s.groups) : s[f])),
    ]);
  }

  async findSession(id: string): Promise<SignInSession | undefined> {
    const r = (await this.query('SELECT * FROM sessions WHERE id = $1', [id])).rows[0];
    return r ? ({ ...r, groups: JSON.parse(String(r.groups)) as string[] } as SignInSession) : undefined;
  }

  async updateSession(id: string, patch: Partial<SignInSession>): Promise<void> {
    const p: Record<string, unknown> = { ...patch };
    if (patch.groups) p.groups = JSON.stringify(patch.groups);
    const { sql, values } = setClause(p, SESSION_FIELDS, 1);
    if (!sql) return;
    await this.tx(async () => {
      await this.query(`UPDATE sessions SET ${sql} WHERE id = $${values.length + 1}`, [...values, id]);
      await this.bump('sessions_version');
    });
  }

  async insertToken(t: TokenRecord): Promise<void> {
    await this.query('INSERT INTO tokens (hash, session_id, kind, expires_at, used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      t.hash,
      t.session_id,
      t.kind,
      t.expires_at,
      t.used_at,
      t.revoked_at,
    ]);
  }

  async findToken(hash: string): Promise<TokenRecord | undefined> {
    return (await this.query('SELECT * FROM tokens WHERE hash = $1', [hash])).rows[0] as TokenRecord | undefined;
  }

  async useToken(hash: string, at: number): Promise<boolean> {
    return ((await this.query('UPDATE tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL', [at, hash])).rowCount ?? 0) > 0;
  }

  async revokeSession(id: string, at: number): Promise<void> {
    await this.tx(async () => {
      await this.query('UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [at, id]);
      await this.query('UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE session_id = $2', [at, id]);
      await this.bump('sessions_version');
    });
  }

  async revokeToken(hash: string, at: number): Promise<void> {
    await this.tx(async () => {
      if ((await this.query('UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE hash = $2', [at, hash])).rowCount)
        await this.bump('sessions_version');
    });
  }

  async pruneSignIn(before: number): Promise<number> {
    return this.tx(
      async () =>
        ((await this.query('DELETE FROM tokens WHERE expires_at < $1', [before])).rowCount ?? 0) +
        ((await this.query('DELETE FROM device_grants WHERE expires_at < $1', [before])).rowCount ?? 0),
    );
  }

  async reportSettings(r: FleetReport): Promise<void> {
    await this.query(
      `INSERT INTO fleet_reports (identity, "user", team, groups, checksum, seen_at) VALUES ($1, $2, $3, $4, $5, $6)
      ON CONFLICT (identity) DO UPDATE SET "user" = excluded."user", team = excluded.team, groups = excluded.groups, checksum = excluded.checksum, seen_at = excluded.seen_at`,
      [r.identity, r.user, r.team, JSON.stringify(r.groups), r.checksum, r.seen_at],
    );
  }

  async listFleet(): Promise<FleetReport[]> {
    const r = await this.query('SELECT * FROM fleet_reports ORDER BY "user" COLLATE "C", identity COLLATE "C"');
    return r.rows.map((row) => ({ ...row, groups: JSON.parse(String(row.groups)) as string[] }) as FleetReport);
  }

  async recordServedSettings(checksum: string, at: number): Promise<void> {
    await this.query('INSERT INTO served_settings (checksum, first_served_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [checksum, at]);
  }

  async servedSettings(): Promise<string[]> {
    return (await this.query('SELECT checksum FROM served_settings')).rows.map((r) => String(r.checksum));
  }

  /** Rows copied from another store (tollgate store copy): inserted, or meeting a row already
   * there as IMPORT_CONFLICT says. Returns how many were written. */
  async importRows(table: string, rows: Row[]): Promise<number> {
    const conflict = IMPORT_CONFLICT[table];
    if (conflict === undefined || !rows.length) return 0;
    const cols = Object.keys(rows[0]!);
    let written = 0;
    // Partitions first, outside the transaction (creating one takes a lock on the whole ledger).
    if (table === 'ledger')
      await this.withPartitions(
        rows.map((r) => Number(r.ts)),
        async () => {},
      );
    await this.tx(async () => {
      if (table === 'ledger') await this.query('SELECT pg_advisory_xact_lock($1)', [LOCK_LEDGER]);
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        const values = chunk.flatMap((r) => cols.map((c) => (c === 'attempts' && typeof r[c] !== 'string' ? JSON.stringify(r[c] ?? []) : r[c])));
        const r = await this.query(
          `INSERT INTO ${table} (${cols.map((c) => `"${c}"`).join(', ')}) VALUES ${placeholders(chunk.length, cols.length)} ${conflict(cols)}`,
          values,
        );
        written += r.rowCount ?? 0;
      }
    });
    return written;
  }

  /** A replica's claim on a budget's headroom, decided under a per-budget lock so replicas
   * claiming at once see each other's claims. */
  async claimBudget(c: BudgetClaimRequest): Promise<BudgetClaimGrant> {
    return this.tx(async () => {
      await this.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_CLAIMS, `${c.budgetId}:${c.periodStart}`]);
      const col = ({ key: 'key_id', user: 'user', team: 'team', project: 'project', org: null } as const)[c.scope];
      const q = spendSql(col, c.value, c.periodStart, c.periodEnd);
      // One statement, one snapshot: the settled spend and the commit sequence it is current to
      // (ledger writes commit in seq order), so the replica can tell which of its own lines the
      // figure includes.
      const head = 'SELECT COALESCE(MAX(seq), 0) FROM ledger';
      const r = q
        ? (await this.query(`SELECT COALESCE(s.total, 0) AS total, (${head}) AS head FROM (${q.sql}) s`, q.params)).rows[0]
        : (await this.query(`SELECT 0 AS total, (${head}) AS head`)).rows[0];
      const spent = Number(r?.total ?? 0);
      const asOf = Number(r?.head ?? 0);
      await this.query('DELETE FROM budget_claims WHERE budget_id = $1 AND expires_at <= $2', [c.budgetId, c.now]);
      const others = Number(
        (
          await this.query('SELECT COALESCE(SUM(amount), 0) AS s FROM budget_claims WHERE budget_id = $1 AND period_start = $2 AND replica <> $3', [
            c.budgetId,
            c.periodStart,
            c.replica,
          ])
        ).rows[0]?.s ?? 0,
      );
      const available = c.limit - spent - others;
      const granted = Math.max(0, Math.min(c.want, available));
      // Less left than wanted: the last scraps. One replica at a time may spend them.
      let final = false;
      if (granted > 0 && granted < c.want) {
        const held = await this.query(
          'SELECT 1 FROM budget_claims WHERE budget_id = $1 AND period_start = $2 AND replica <> $3 AND final AND expires_at > $4 LIMIT 1',
          [c.budgetId, c.periodStart, c.replica, c.now],
        );
        final = held.rows.length === 0;
      }
      if (granted > 0)
        await this.query(
          `INSERT INTO budget_claims (budget_id, period_start, replica, amount, expires_at, final) VALUES ($1, $2, $3, $4, $5, $6)
          ON CONFLICT (budget_id, period_start, replica) DO UPDATE SET amount = excluded.amount, expires_at = excluded.expires_at, final = excluded.final`,
          [c.budgetId, c.periodStart, c.replica, granted, c.now + c.ttlMs, final],
        );
      else await this.query('DELETE FROM budget_claims WHERE budget_id = $1 AND period_start = $2 AND replica = $3', [c.budgetId, c.periodStart, c.replica]);
      return { granted, spent, others, final, asOf };
    });
  }

  async syncRates(
    replica: string,
    now: number,
    aliveMs: number,
    mine: { counter: string; requests: number; tokens: number; inFlight: number }[],
  ): Promise<{ counter: string; requests: number; tokens: number; inFlight: number }[]> {
    return this.tx(async () => {
      for (let i = 0; i < mine.length; i += CHUNK) {
        const chunk = [...mine.slice(i, i + CHUNK)].sort((a, b) => (a.counter < b.counter ? -1 : 1));
        await this.query(
          `INSERT INTO rate_shares (counter, replica, requests, tokens, in_flight, updated_at) VALUES ${placeholders(chunk.length, 6)}
          ON CONFLICT (counter, replica) DO UPDATE SET requests = excluded.requests, tokens = excluded.tokens, in_flight = excluded.in_flight, updated_at = excluded.updated_at`,
          chunk.flatMap((m) => [m.counter, replica, m.requests, m.tokens, m.inFlight, now]),
        );
      }
      await this.query('DELETE FROM rate_shares WHERE updated_at < $1', [now - 10 * aliveMs]);
      const r = await this.query(
        `SELECT counter, SUM(requests) AS requests, SUM(tokens) AS tokens, SUM(in_flight) AS in_flight FROM rate_shares
        WHERE replica <> $1 AND updated_at >= $2 AND counter = ANY($3) GROUP BY counter`,
        [replica, now - aliveMs, mine.map((m) => m.counter)],
      );
      return r.rows.map((x) => ({ counter: String(x.counter), requests: Number(x.requests), tokens: Number(x.tokens), inFlight: Number(x.in_flight) }));
    });
  }

  /** How many of these ledger ids are present. */
  async countLedgerIds(ids: string[]): Promise<number> {
    if (!ids.length) return 0;
    return Number((await this.query('SELECT COUNT(*) AS n FROM ledger WHERE id = ANY($1)', [ids])).rows[0]?.n ?? 0);
  }

  /** After an import: sequences past the copied ids, the prune horizon, and every replica told
   * to reload keys, budgets and sessions. */
  async finishImport(prunedBefore: number): Promise<void> {
    await this.tx(async () => {
      await this.query("SELECT setval(pg_get_serial_sequence('audit', 'id'), GREATEST((SELECT COALESCE(MAX(id), 0) FROM audit), 1))");
      await this.query("UPDATE meta SET value = GREATEST(value, $1) WHERE name = 'pruned_before'", [prunedBefore]);
      await this.query("UPDATE meta SET value = value + 1 WHERE name IN ('keys_version', 'budgets_version', 'sessions_version')");
    });
  }

  /** The secret by name; `candidate` becomes it if none was made yet (by any replica). */
  async secret(name: string, candidate: string): Promise<string> {
    await this.query('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [name, candidate]);
    return String((await this.query('SELECT value FROM secrets WHERE name = $1', [name])).rows[0]?.value);
  }
}
