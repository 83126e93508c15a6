// Embedded store on SQLite (better-sqlite3). WAL mode: readers (the CLI, reports) never block
// the gateway's writer, and a committed transaction survives a kill of the process.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ledgerDailyFrom, summarizeFrom } from '../derived.js';
import { migrations } from '../migrations.js';
import { DAY_MS } from '../segments.js';
import { USAGE_LINE_FIELDS, type DeviceGrant, type FleetReport, type SignInSession, type TokenRecord, type UsageLine } from '../types.js';
import type {
  AlertSent,
  AuditEntry,
  BudgetPeriod,
  BudgetRecord,
  BudgetScope,
  DailyUsage,
  ExternalSource,
  ExternalUsage,
  ExternalUsageQuery,
  ExternalUsageRow,
  ExternalWriteResult,
  Identity,
  KeyRecord,
  LedgerLine,
  LedgerQuery,
  PruneResult,
  ReportDimension,
  ReportRow,
  SpendGroup,
  SpendLine,
  Store,
  StoreVersions,
  SummaryDimension,
  SummaryRow,
  TelemetryEvent,
  TelemetryPoint,
} from '../types.js';
import { ExternalTables } from './external.js';
import { SignInTables } from './signin.js';
import { LEDGER_COLUMNS, LEDGER_SELECT, reportSql, Rollups, spendGroups, spendOf, toLineFromRaw, toValues } from './ledger.js';

type Row = Record<string, unknown>;

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
  private readonly batch: Database.Transaction<(lines: LedgerLine[], keysUsed: Map<string, number>) => void>;
  private readonly rollups: Rollups;
  private readonly external: ExternalTables;
  private readonly signin: SignInTables;
  private readonly versionsStmt: Database.Statement;

  private checkpointer: Worker | null = null;

  /** `backgroundCheckpoint`: the long-running gateway moves WAL checkpoints to a worker
   * thread; short-lived CLI commands keep SQLite's automatic ones. */
  constructor(
    private readonly file: string,
    opts: { sync?: 'normal' | 'full'; backgroundCheckpoint?: boolean; walLimitBytes?: number } = {},
  ) {
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
    this.insertLine = this.db.prepare(`INSERT OR IGNORE INTO ledger (${LEDGER_COLUMNS.join(',')}) VALUES (${LEDGER_COLUMNS.map(() => '?').join(',')})`);
    this.touchKey = this.db.prepare('UPDATE keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?');
    this.byHash = this.db.prepare('SELECT * FROM keys WHERE hash = ?');
    this.rollups = new Rollups(this.db);
    this.external = new ExternalTables(this.db);
    this.signin = new SignInTables(this.db, () => this.bump('sessions_version'));
    this.versionsStmt = this.db.prepare("SELECT name, value FROM meta WHERE name IN ('keys_version', 'budgets_version', 'sessions_version')");
    this.batch = this.db.transaction((lines: LedgerLine[], keysUsed: Map<string, number>) => {
      // Only lines actually inserted (not replays of an id already there) reach the rollups.
      let inserted: LedgerLine[] | null = null;
      for (let i = 0; i < lines.length; i++) {
        const l = lines[i] as LedgerLine;
        if (this.insertLine.run(toValues(l)).changes === 0) {
          inserted ??= lines.slice(0, i);
          continue;
        }
        inserted?.push(l);
      }
      this.rollups.add(inserted ?? lines);
      for (const [id, at] of keysUsed) this.touchKey.run(at, id);
    });
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < migrations.length; v++) {
      this.db
        .transaction(() => {
          this.db.exec(migrations[v] as string);
          // Rollups arrive in migration 8: fill them from the lines already there.
          if (v === 7) new Rollups(this.db).rebuild(0);
          this.db.pragma(`user_version = ${v + 1}`);
        })
        .immediate();
    }
  }

  private bump(name: 'keys_version' | 'budgets_version' | 'sessions_version'): void {
    this.db.prepare('UPDATE meta SET value = value + 1 WHERE name = ?').run(name);
  }

  versions(): StoreVersions {
    const v: StoreVersions = { keys: 0, budgets: 0, sessions: 0 };
    for (const r of this.versionsStmt.all() as { name: string; value: number }[]) {
      if (r.name === 'keys_version') v.keys = r.value;
      else if (r.name === 'budgets_version') v.budgets = r.value;
      else v.sessions = r.value;
    }
    return v;
  }

  private prunedBefore(): number {
    return Number(this.db.prepare("SELECT value FROM meta WHERE name = 'pruned_before'").pluck().get() ?? 0);
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
    this.db
      .transaction(() => {
        this.db
          .prepare(
            `INSERT INTO keys (id, hash, prefix, name, user, team, project, created_at, last_used_at, revoked_at, expires_at)
        VALUES (@id, @hash, @prefix, @name, @user, @team, @project, @created_at, @last_used_at, @revoked_at, @expires_at)`,
          )
          .run({ ...k, expires_at: k.expires_at ?? null });
        this.bump('keys_version');
      })
      .immediate();
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
    return this.db
      .transaction(() => {
        const changed = this.db.prepare('UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes > 0;
        if (changed) this.bump('keys_version');
        return changed;
      })
      .immediate();
  }

  writeBatch(lines: LedgerLine[], keysUsed: Map<string, number>): void {
    this.batch.immediate(lines, keysUsed);
  }

  private where(q: LedgerQuery): { sql: string; params: unknown[] } {
    const parts: string[] = [];
    const params: unknown[] = [];
    if (q.since !== undefined) {
      parts.push('ts >= ?');
      params.push(q.since);
    }
    if (q.until !== undefined) {
      parts.push('ts < ?');
      params.push(q.until);
    }
    if (q.user !== undefined) {
      parts.push('user = ?');
      params.push(q.user);
    }
    if (q.team !== undefined) {
      parts.push('team = ?');
      params.push(q.team);
    }
    if (q.project !== undefined) {
      parts.push('project = ?');
      params.push(q.project);
    }
    if (q.keyId !== undefined) {
      parts.push('key_id = ?');
      params.push(q.keyId);
    }
    if (q.id !== undefined) {
      parts.push('id = ?');
      params.push(q.id);
    }
    if (q.endpoint !== undefined) {
      parts.push('endpoint = ?');
      params.push(q.endpoint);
    }
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
  }

  private ordered(q: LedgerQuery, cols: string): { sql: string; params: unknown[] } {
    const w = this.where(q);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const order = q.latest ? 'ts DESC, id DESC' : 'ts, id';
    return { sql: `SELECT ${cols} FROM ledger ${w.sql} ORDER BY ${order}${limit}`, params: w.params };
  }

  *iterateLedger(q: LedgerQuery): IterableIterator<LedgerLine> {
    // Raw rows: one object per line (the line), not two.
    const { sql, params } = this.ordered(q, LEDGER_SELECT);
    for (const r of this.db
      .prepare(sql)
      .raw()
      .iterate(...params) as IterableIterator<unknown[]>)
      yield toLineFromRaw(r);
  }

  *iterateUsageLines(q: LedgerQuery): IterableIterator<UsageLine> {
    // Raw rows (arrays) and a narrow projection: a third of the cost of whole lines.
    const { sql, params } = this.ordered(q, USAGE_LINE_FIELDS.map((c) => `"${c}"`).join(', '));
    for (const r of this.db
      .prepare(sql)
      .raw()
      .iterate(...params) as IterableIterator<unknown[]>) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < USAGE_LINE_FIELDS.length; i++) o[USAGE_LINE_FIELDS[i] as string] = r[i];
      yield o as unknown as UsageLine;
    }
  }

  queryLedger(q: LedgerQuery): LedgerLine[] {
    return [...this.iterateLedger(q)];
  }

  ledgerEmpty(): boolean {
    return this.db.prepare('SELECT 1 FROM ledger LIMIT 1').get() === undefined;
  }

  summarize(by: SummaryDimension, q: LedgerQuery): SummaryRow[] {
    return summarizeFrom((b, x) => this.report(b, x), by, q);
  }

  ledgerHead(): number {
    return Number(this.db.prepare('SELECT MAX(rowid) FROM ledger').pluck().get() ?? 0);
  }

  ledgerTail(seq: number, limit: number): SpendLine[] {
    return this.db
      .prepare('SELECT rowid AS seq, id, ts, key_id, user, team, project, cost_nanousd FROM ledger WHERE rowid > ? ORDER BY rowid LIMIT ?')
      .all(seq, limit) as SpendLine[];
  }

  prune(before: number, opts: { maxLines?: number } = {}): PruneResult {
    const cut = Math.floor(before / DAY_MS) * DAY_MS;
    this.db.prepare("UPDATE meta SET value = MAX(value, ?) WHERE name = 'pruned_before'").run(cut);
    const r: PruneResult = { deleted: 0, prunedBefore: this.prunedBefore() };
    const chunk = Math.min(2000, opts.maxLines ?? 2000);
    // The newest line always stays: its rowid keeps commit sequences increasing (ledgerTail).
    // Small transactions: the gateway's writer waits on each a few milliseconds at most.
    const del = this.db.prepare(
      'DELETE FROM ledger WHERE rowid IN (SELECT rowid FROM ledger WHERE ts < ? AND rowid < (SELECT MAX(rowid) FROM ledger) LIMIT ?)',
    );
    for (;;) {
      const n = this.db.transaction(() => del.run(cut, chunk).changes).immediate();
      r.deleted += n;
      if (n < chunk || (opts.maxLines !== undefined && r.deleted >= opts.maxLines)) break;
    }
    return r;
  }

  rebuildRollups(): { lines: number } {
    return this.db.transaction(() => ({ lines: this.rollups.rebuild(this.prunedBefore()) })).immediate();
  }

  listBudgets(): BudgetRecord[] {
    return (this.db.prepare('SELECT * FROM budgets ORDER BY scope, scope_value, period').all() as Row[]).map(
      (r) => ({ ...r, alert_at: JSON.parse(String(r.alert_at)) as number[] }) as BudgetRecord,
    );
  }

  upsertBudget(b: BudgetRecord): void {
    this.db
      .transaction(() => {
        this.bump('budgets_version');
        this.db
          .prepare("DELETE FROM budgets WHERE scope = ? AND COALESCE(scope_value, '') = COALESCE(?, '') AND period = ?")
          .run(b.scope, b.scope_value, b.period);
        this.db
          .prepare(
            `INSERT INTO budgets (id, scope, scope_value, period, limit_nanousd, mode, alert_at, created_at, updated_at)
        VALUES (@id, @scope, @scope_value, @period, @limit_nanousd, @mode, @alert_at, @created_at, @updated_at)`,
          )
          .run({ ...b, alert_at: JSON.stringify(b.alert_at) });
      })
      .immediate();
  }

  removeBudget(scope: BudgetScope, value: string | null, period?: BudgetPeriod): number {
    const sql = "DELETE FROM budgets WHERE scope = ? AND COALESCE(scope_value, '') = COALESCE(?, '')" + (period ? ' AND period = ?' : '');
    return this.db
      .transaction(() => {
        const n = this.db.prepare(sql).run(...(period ? [scope, value, period] : [scope, value])).changes;
        if (n) this.bump('budgets_version');
        return n;
      })
      .immediate();
  }

  spend(scope: BudgetScope, value: string | null, since: number, until: number): number {
    const col = ({ key: 'key_id', user: 'user', team: 'team', project: 'project', org: null } as const)[scope];
    return spendOf(this.db, col, value, since, until);
  }

  readSnapshot<T>(fn: () => T): T {
    // A deferred transaction: reads from its first statement to its end see one snapshot.
    return this.db.transaction(fn).deferred();
  }

  spendGroups(since: number, until: number): SpendGroup[] {
    return spendGroups(this.db, since, until);
  }

  markAlertSent(budgetId: string, periodStart: number, threshold: number, at: number): boolean {
    return (
      this.db
        .prepare('INSERT OR IGNORE INTO alerts_sent (budget_id, period_start, threshold, sent_at) VALUES (?, ?, ?, ?)')
        .run(budgetId, periodStart, threshold, at).changes > 0
    );
  }

  listAlertsSent(limit: number): AlertSent[] {
    return this.db.prepare('SELECT budget_id, period_start, threshold, sent_at FROM alerts_sent ORDER BY sent_at DESC LIMIT ?').all(limit) as AlertSent[];
  }

  appendAudit(e: AuditEntry): void {
    this.db
      .prepare('INSERT INTO audit (ts, actor, action, target, details) VALUES (?, ?, ?, ?, ?)')
      .run(e.ts, e.actor, e.action, e.target, e.details ? JSON.stringify(e.details) : null);
  }

  listAudit(limit: number): AuditEntry[] {
    return (this.db.prepare('SELECT * FROM audit ORDER BY id DESC LIMIT ?').all(limit) as Row[]).map(
      (r) => ({ ...r, details: r.details ? JSON.parse(String(r.details)) : null }) as AuditEntry,
    );
  }

  report(by: ReportDimension[], q: LedgerQuery): ReportRow[] {
    const { sql, params } = reportSql(by, q);
    const rows = this.db.prepare(sql).all(...params) as ReportRow[];
    // An empty range still has a totals row (of zeros), as a plain SUM over no lines would.
    if (!by.length) for (const r of rows) for (const [k, v] of Object.entries(r)) if (v === null) r[k] = k === 'requests' ? 0 : null;
    return rows;
  }

  recordTelemetryEvents(events: TelemetryEvent[]): void {
    this.external.recordEvents(events);
  }

  recordTelemetryPoints(points: TelemetryPoint[]): void {
    this.external.recordPoints(points);
  }

  writeExternalUsage(rows: ExternalUsage[]): ExternalWriteResult {
    return this.external.write(rows);
  }

  iterateExternalUsage(q: ExternalUsageQuery): IterableIterator<ExternalUsageRow> {
    return this.external.iterate(q);
  }

  sourcesPresent(): Record<ExternalSource | 'telemetry', boolean> {
    return this.external.present();
  }

  ledgerDaily(since: number, until: number): DailyUsage[] {
    return ledgerDailyFrom((b, q) => this.report(b, q), since, until);
  }

  telemetryDaily(since: number, until: number): DailyUsage[] {
    return this.external.telemetryDaily(since, until);
  }

  upsertIdentity(i: Identity): void {
    this.external.upsertIdentity(i, Date.now());
  }

  removeIdentity(externalId: string): boolean {
    return this.external.removeIdentity(externalId);
  }

  listIdentities(): Identity[] {
    return this.external.listIdentities();
  }

  insertDeviceGrant(g: DeviceGrant): void {
    this.signin.insertGrant(g);
  }

  findDeviceGrant(by: { deviceHash?: string; userCode?: string; state?: string }): DeviceGrant | undefined {
    return this.signin.findGrant(by);
  }

  updateDeviceGrant(deviceHash: string, patch: Partial<Omit<DeviceGrant, 'device_hash'>>): void {
    this.signin.updateGrant(deviceHash, patch);
  }

  insertSession(s: SignInSession): void {
    this.signin.insertSession(s);
  }

  findSession(id: string): SignInSession | undefined {
    return this.signin.findSession(id);
  }

  updateSession(id: string, patch: Partial<Omit<SignInSession, 'id'>>): void {
    this.signin.updateSession(id, patch);
  }

  insertToken(t: TokenRecord): void {
    this.signin.insertToken(t);
  }

  findToken(hash: string): TokenRecord | undefined {
    return this.signin.findToken(hash);
  }

  useToken(hash: string, at: number): boolean {
    return this.signin.useToken(hash, at);
  }

  revokeSession(id: string, at: number): void {
    this.signin.revokeSession(id, at);
  }

  revokeToken(hash: string, at: number): void {
    this.signin.revokeToken(hash, at);
  }

  pruneSignIn(before: number): number {
    return this.db
      .transaction(
        () =>
          this.db.prepare('DELETE FROM tokens WHERE expires_at < ?').run(before).changes +
          this.db.prepare('DELETE FROM device_grants WHERE expires_at < ?').run(before).changes,
      )
      .immediate();
  }

  reportSettings(r: FleetReport): void {
    this.db
      .prepare('INSERT OR REPLACE INTO fleet_reports (identity, user, team, groups, checksum, seen_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.identity, r.user, r.team, JSON.stringify(r.groups), r.checksum, r.seen_at);
  }

  listFleet(): FleetReport[] {
    return (this.db.prepare('SELECT * FROM fleet_reports ORDER BY user, identity').all() as Row[]).map(
      (r) => ({ ...r, groups: JSON.parse(String(r.groups)) as string[] }) as FleetReport,
    );
  }

  recordServedSettings(checksum: string, at: number): void {
    this.db.prepare('INSERT OR IGNORE INTO served_settings (checksum, first_served_at) VALUES (?, ?)').run(checksum, at);
  }

  servedSettings(): string[] {
    return this.db.prepare('SELECT checksum FROM served_settings').pluck().all() as string[];
  }

  secret(name: string, make: () => string): string {
    this.db.prepare('INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)').run(name, make());
    return String(this.db.prepare('SELECT value FROM secrets WHERE name = ?').pluck().get(name));
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
