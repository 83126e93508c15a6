// Embedded store on SQLite (better-sqlite3). WAL mode: readers (the CLI, reports) never block
// the gateway's writer, and a committed transaction survives a kill of the process.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { migrations } from '../migrations.js';
import type { AuditEntry, BudgetPeriod, BudgetRecord, BudgetScope, KeyRecord, LedgerLine, LedgerQuery, ReportDimension, ReportRow, Store, SummaryDimension, SummaryRow } from '../types.js';

const LEDGER_COLUMNS = [
  'id', 'ts', 'key_id', 'user', 'team', 'project', 'session_id', 'endpoint', 'model_requested', 'model_served',
  'upstream', 'route', 'region', 'http_status', 'error_type', 'error_code', 'stop_reason', 'streamed',
  'input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_5m_input_tokens',
  'cache_creation_1h_input_tokens', 'web_search_requests', 'web_fetch_requests', 'cost_nanousd', 'priced',
  'ttfb_ms', 'duration_ms', 'client_aborted', 'upstream_request_id', 'message_id', 'upstream_model', 'endpoint_type', 'attempts',
  'speed', 'inference_geo', 'price_tier',
] as const;

const BOOL_COLUMNS = new Set(['streamed', 'priced', 'client_aborted']);

type Row = Record<string, unknown>;

function toLine(r: Row): LedgerLine {
  const out: Row = {};
  for (const c of LEDGER_COLUMNS) out[c] = BOOL_COLUMNS.has(c) ? r[c] === 1 : r[c];
  out.attempts = typeof r.attempts === 'string' ? JSON.parse(r.attempts) : [];
  return out as unknown as LedgerLine;
}

const GROUP_EXPR: Record<SummaryDimension, string> = {
  user: 'user', team: 'team', project: 'project', key: 'key_id', upstream: 'upstream', session: 'session_id',
  route: 'route', region: 'region',
  model: 'COALESCE(model_served, model_requested)',
  day: "strftime('%Y-%m-%d', ts / 1000, 'unixepoch')",
};

/** The WAL is checkpointed back to this size at most (a RESTART checkpoint once it is
 * larger) and truncated to it after a reset, so it stays bounded under sustained load. */
export const WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/** The ledger holds who used what: the files are the owner's alone (0600). SQLite creates the
 * -wal and -shm files with the database file's mode, so creating that one right is enough;
 * files left more open by an earlier version are tightened. */
function privateFiles(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
    } catch {
      // Not there (yet), or not ours to change: SQLite reports real problems on open.
    }
  }
}

export class SqliteStore implements Store {
  readonly db: Database.Database;
  private readonly insertLine: Database.Statement;
  private readonly touchKey: Database.Statement;
  private readonly byHash: Database.Statement;
  private readonly dataVersion: Database.Statement;
  private readonly batch: Database.Transaction<(lines: LedgerLine[], keysUsed: Map<string, number>) => void>;

  private checkpointer: Worker | null = null;

  /** `backgroundCheckpoint`: the long-running gateway moves WAL checkpoints to a worker
   * thread; short-lived CLI commands keep SQLite's automatic ones. */
  constructor(private readonly file: string, opts: { sync?: 'normal' | 'full'; backgroundCheckpoint?: boolean; walLimitBytes?: number } = {}) {
    if (file !== ':memory:') privateFiles(file);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    const walLimit = opts.walLimitBytes ?? WAL_LIMIT_BYTES;
    this.db.pragma(`journal_size_limit = ${walLimit}`);
    this.db.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    // Another process (the CLI) may hold the write lock briefly; wait rather than fail.
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    if (opts.backgroundCheckpoint && file !== ':memory:') {
      this.db.pragma('wal_autocheckpoint = 0');
      this.checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { file, intervalMs: 500, walLimitBytes: walLimit } });
      this.checkpointer.unref();
      this.checkpointer.on('error', () => {
        // Fall back to SQLite's own checkpoints rather than let the WAL grow.
        if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
        this.checkpointer = null;
      });
    }
    this.insertLine = this.db.prepare(
      `INSERT OR IGNORE INTO ledger (${LEDGER_COLUMNS.join(',')}) VALUES (${LEDGER_COLUMNS.map((c) => '@' + c).join(',')})`,
    );
    this.touchKey = this.db.prepare('UPDATE keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?');
    this.byHash = this.db.prepare('SELECT * FROM keys WHERE hash = ?');
    this.dataVersion = this.db.prepare('PRAGMA data_version').pluck();
    this.batch = this.db.transaction((lines: LedgerLine[], keysUsed: Map<string, number>) => {
      for (const l of lines) {
        const row: Row = { speed: null, inference_geo: null, price_tier: null, ...l };
        for (const c of BOOL_COLUMNS) row[c] = l[c as keyof LedgerLine] ? 1 : 0;
        row.attempts = JSON.stringify(l.attempts);
        this.insertLine.run(row);
      }
      for (const [id, at] of keysUsed) this.touchKey.run(at, id);
    });
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
  }

  changeToken(): number {
    return this.dataVersion.get() as number;
  }

  freeBytes(): number | null {
    if (this.file === ':memory:') return null;
    try {
      const s = statfsSync(dirname(this.file));
      return s.bavail * s.bsize;
    } catch {
      return null;
    }
  }

  insertKey(k: KeyRecord): void {
    this.db.prepare(`INSERT INTO keys (id, hash, prefix, name, user, team, project, created_at, last_used_at, revoked_at)
      VALUES (@id, @hash, @prefix, @name, @user, @team, @project, @created_at, @last_used_at, @revoked_at)`).run(k);
  }

  listKeys(): KeyRecord[] {
    return this.db.prepare('SELECT * FROM keys ORDER BY created_at, id').all() as KeyRecord[];
  }

  findKeyByHash(hash: string): KeyRecord | undefined {
    return this.byHash.get(hash) as KeyRecord | undefined;
  }

  findKey(id: string): KeyRecord | undefined {
    return this.db.prepare('SELECT * FROM keys WHERE id = ?').get(id) as KeyRecord | undefined;
  }

  revokeKey(id: string, at: number): boolean {
    return this.db.prepare('UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0;
  }

  writeBatch(lines: LedgerLine[], keysUsed: Map<string, number>): void {
    this.batch.immediate(lines, keysUsed);
  }

  private where(q: LedgerQuery): { sql: string; params: unknown[] } {
    const parts: string[] = [];
    const params: unknown[] = [];
    if (q.since !== undefined) { parts.push('ts >= ?'); params.push(q.since); }
    if (q.until !== undefined) { parts.push('ts < ?'); params.push(q.until); }
    if (q.user !== undefined) { parts.push('user = ?'); params.push(q.user); }
    if (q.team !== undefined) { parts.push('team = ?'); params.push(q.team); }
    if (q.project !== undefined) { parts.push('project = ?'); params.push(q.project); }
    if (q.keyId !== undefined) { parts.push('key_id = ?'); params.push(q.keyId); }
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
  }

  queryLedger(q: LedgerQuery): LedgerLine[] {
    const w = this.where(q);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    return (this.db.prepare(`SELECT * FROM ledger ${w.sql} ORDER BY ts, id${limit}`).all(...w.params) as Row[]).map(toLine);
  }

  summarize(by: SummaryDimension, q: LedgerQuery): SummaryRow[] {
    const w = this.where(q);
    const g = GROUP_EXPR[by];
    return this.db.prepare(`SELECT ${g} AS "group", COUNT(*) AS requests,
        SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
        SUM(cache_read_input_tokens) AS cache_read_input_tokens,
        SUM(cache_creation_5m_input_tokens) AS cache_creation_5m_input_tokens,
        SUM(cache_creation_1h_input_tokens) AS cache_creation_1h_input_tokens,
        SUM(web_search_requests) AS web_search_requests,
        SUM(cost_nanousd) AS cost_nanousd, SUM(1 - priced) AS unpriced_requests
      FROM ledger ${w.sql} GROUP BY 1 ORDER BY cost_nanousd DESC, 1`).all(...w.params) as SummaryRow[];
  }

  listBudgets(): BudgetRecord[] {
    return (this.db.prepare('SELECT * FROM budgets ORDER BY scope, scope_value, period').all() as Row[]).map((r) => ({ ...r, alert_at: JSON.parse(String(r.alert_at)) as number[] }) as BudgetRecord);
  }

  upsertBudget(b: BudgetRecord): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM budgets WHERE scope = ? AND COALESCE(scope_value, '') = COALESCE(?, '') AND period = ?").run(b.scope, b.scope_value, b.period);
      this.db.prepare(`INSERT INTO budgets (id, scope, scope_value, period, limit_nanousd, mode, alert_at, created_at, updated_at)
        VALUES (@id, @scope, @scope_value, @period, @limit_nanousd, @mode, @alert_at, @created_at, @updated_at)`).run({ ...b, alert_at: JSON.stringify(b.alert_at) });
    }).immediate();
  }

  removeBudget(scope: BudgetScope, value: string | null, period?: BudgetPeriod): number {
    const sql = "DELETE FROM budgets WHERE scope = ? AND COALESCE(scope_value, '') = COALESCE(?, '')" + (period ? ' AND period = ?' : '');
    return this.db.prepare(sql).run(...(period ? [scope, value, period] : [scope, value])).changes;
  }

  spend(scope: BudgetScope, value: string | null, since: number, until: number): number {
    const col = { key: 'key_id', user: 'user', team: 'team', project: 'project', org: null }[scope];
    const sql = `SELECT COALESCE(SUM(cost_nanousd), 0) FROM ledger WHERE ts >= ? AND ts < ?${col ? ` AND ${col} = ?` : ''}`;
    return Number(this.db.prepare(sql).pluck().get(...(col ? [since, until, value] : [since, until])));
  }

  markAlertSent(budgetId: string, periodStart: number, threshold: number, at: number): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO alerts_sent (budget_id, period_start, threshold, sent_at) VALUES (?, ?, ?, ?)').run(budgetId, periodStart, threshold, at).changes > 0;
  }

  appendAudit(e: AuditEntry): void {
    this.db.prepare('INSERT INTO audit (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)').run(e.ts, e.actor, e.action, e.target, e.details ? JSON.stringify(e.details) : null);
  }

  listAudit(limit: number): AuditEntry[] {
    return (this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map((r) => ({ ...r, details: r.details ? JSON.parse(String(r.details)) : null }) as AuditEntry);
  }

  report(by: ReportDimension[], q: LedgerQuery): ReportRow[] {
    const expr: Record<ReportDimension, string> = {
      ...GROUP_EXPR,
      // Weeks start on Monday: the date of that Monday names the week.
      week: "date(ts / 1000, 'unixepoch', '-' || ((CAST(strftime('%w', ts / 1000, 'unixepoch') AS INTEGER) + 6) % 7) || ' days')",
      month: "strftime('%Y-%m', ts / 1000, 'unixepoch')",
    };
    const w = this.where(q);
    const cols = by.map((d) => `${expr[d]} AS "${d}"`);
    const sql = `SELECT ${[...cols, `COUNT(*) AS requests,
        SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,
        SUM(cache_read_input_tokens) AS cache_read_input_tokens,
        SUM(cache_creation_5m_input_tokens) AS cache_creation_5m_input_tokens,
        SUM(cache_creation_1h_input_tokens) AS cache_creation_1h_input_tokens,
        SUM(web_search_requests) AS web_search_requests,
        SUM(cost_nanousd) AS cost_nanousd, SUM(1 - priced) AS unpriced_requests`].join(', ')}
      FROM ledger ${w.sql}${by.length ? ` GROUP BY ${by.map((_, i) => i + 1).join(', ')}` : ''}
      ORDER BY ${[...by.map((_, i) => i + 1), 'cost_nanousd DESC'].join(', ')}`;
    return this.db.prepare(sql).all(...w.params) as ReportRow[];
  }

  close(): void {
    if (this.checkpointer) {
      // What the worker would have copied at its next tick, copied now on this connection.
      try {
        this.db.pragma('wal_checkpoint(PASSIVE)');
      } catch {
        // Best effort: the next start checkpoints what is left.
      }
      this.checkpointer.postMessage('stop');
      this.checkpointer = null;
    }
    this.db.close();
  }
}
