// The PostgreSQL store: the same Store as the embedded SQLite one, for a fleet's several
// gateway replicas and a database the platform team already runs and backs up. Each call is
// made synchronous by a worker thread (worker.ts) holding the connection, so every command and
// report runs unchanged on either store. Listings are read in pages (keyset on ts, id), never
// all at once.
import { createSyncFn } from 'synckit';
import { ledgerDailyFrom, summarizeFrom } from '../derived.js';
import type {
  AlertSent,
  AuditEntry,
  BudgetClaimGrant,
  BudgetClaimRequest,
  BudgetPeriod,
  BudgetRecord,
  BudgetScope,
  DailyUsage,
  DeviceGrant,
  ExternalSource,
  ExternalUsage,
  ExternalUsageQuery,
  ExternalUsageRow,
  ExternalWriteResult,
  FleetReport,
  Identity,
  KeyRecord,
  LedgerLine,
  LedgerQuery,
  PruneResult,
  ReportDimension,
  ReportRow,
  SignInSession,
  SpendGroup,
  SpendLine,
  Store,
  StoreVersions,
  SummaryDimension,
  SummaryRow,
  TelemetryEvent,
  TelemetryPoint,
  TokenRecord,
  UsageLine,
} from '../types.js';
import type { LedgerPage, PgOptions } from './ops.js';

type Call = (handle: number, method: string, args: unknown[]) => unknown;
let call: Call | null = null;
const PAGE = 2000;

/** Hides the password of a connection URL (for messages and logs). */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
}

export class PostgresStore implements Store {
  private handle: number;
  private readonly call: Call;

  constructor(
    readonly url: string,
    opts: PgOptions = {},
  ) {
    call ??= createSyncFn(new URL('./worker.js', import.meta.url).pathname) as unknown as Call;
    this.call = call;
    try {
      this.handle = this.call(0, 'open', [url, opts]) as number;
    } catch (err) {
      throw new Error(`cannot open the PostgreSQL store at ${redactUrl(url)}: ${(err as Error).message}`);
    }
  }

  protected op<T>(method: string, ...args: unknown[]): T {
    return this.call(this.handle, method, args) as T;
  }

  /** Applies the migrations still missing; the versions applied. */
  migrate(): number[] {
    return this.op('migrate');
  }

  schemaVersion(): number {
    return this.op('schemaVersion');
  }

  versions(): StoreVersions {
    return this.op('versions');
  }

  insertKey(k: KeyRecord): void {
    this.op('insertKey', k);
  }
  listKeys(): KeyRecord[] {
    return this.op('listKeys');
  }
  findKeyByHash(hash: string): KeyRecord | undefined {
    return this.op('findKeyByHash', hash);
  }
  findKey(id: string): KeyRecord | undefined {
    return this.op('findKey', id);
  }
  revokeKey(id: string, at: number): boolean {
    return this.op('revokeKey', id, at);
  }

  writeBatch(lines: LedgerLine[], keysUsed: Map<string, number>): void {
    this.op('writeBatch', lines, [...keysUsed]);
  }

  private *pages<T>(q: LedgerQuery, cols: 'all' | 'usage'): IterableIterator<T> {
    let after: LedgerPage['last'] = null;
    let left = q.limit !== undefined ? Math.max(0, Math.floor(q.limit)) : Infinity;
    while (left > 0) {
      const page: LedgerPage = this.op('ledgerPage', q, cols, after, Math.min(PAGE, left));
      for (const l of page.lines) yield l as T;
      left -= page.lines.length;
      if (page.lines.length < PAGE || !page.last) return;
      after = page.last;
    }
  }

  iterateLedger(q: LedgerQuery): IterableIterator<LedgerLine> {
    return this.pages<LedgerLine>(q, 'all');
  }
  iterateUsageLines(q: LedgerQuery): IterableIterator<UsageLine> {
    return this.pages<UsageLine>(q, 'usage');
  }
  queryLedger(q: LedgerQuery): LedgerLine[] {
    return [...this.iterateLedger(q)];
  }
  ledgerEmpty(): boolean {
    return this.op('ledgerEmpty');
  }
  summarize(by: SummaryDimension, q: LedgerQuery): SummaryRow[] {
    return summarizeFrom((b, x) => this.report(b, x), by, q);
  }
  report(by: ReportDimension[], q: LedgerQuery): ReportRow[] {
    return this.op('report', by, q);
  }
  ledgerHead(): number {
    return this.op('ledgerHead');
  }
  ledgerTail(seq: number, limit: number): SpendLine[] {
    return this.op('ledgerTail', seq, limit);
  }
  prune(before: number, opts?: { maxLines?: number }): PruneResult {
    return this.op('prune', before, opts ?? {});
  }
  rebuildRollups(): { lines: number } {
    return this.op('rebuildRollups');
  }

  listBudgets(): BudgetRecord[] {
    return this.op('listBudgets');
  }
  upsertBudget(b: BudgetRecord): void {
    this.op('upsertBudget', b);
  }
  removeBudget(scope: BudgetScope, value: string | null, period?: BudgetPeriod): number {
    return this.op('removeBudget', scope, value, period);
  }
  spend(scope: BudgetScope, value: string | null, since: number, until: number): number {
    return this.op('spend', scope, value, since, until);
  }
  readSnapshot<T>(fn: () => T): T {
    this.op('beginSnapshot');
    try {
      return fn();
    } finally {
      this.op('endSnapshot');
    }
  }
  spendGroups(since: number, until: number): SpendGroup[] {
    return this.op('spendGroups', since, until);
  }
  markAlertSent(budgetId: string, periodStart: number, threshold: number, at: number): boolean {
    return this.op('markAlertSent', budgetId, periodStart, threshold, at);
  }
  appendAudit(e: AuditEntry): void {
    this.op('appendAudit', e);
  }
  listAlertsSent(limit: number): AlertSent[] {
    return this.op('listAlertsSent', limit);
  }

  listAudit(limit: number): AuditEntry[] {
    return this.op('listAudit', limit);
  }

  recordTelemetryEvents(events: TelemetryEvent[]): void {
    this.op('recordTelemetryEvents', events);
  }
  recordTelemetryPoints(points: TelemetryPoint[]): void {
    this.op('recordTelemetryPoints', points);
  }
  writeExternalUsage(rows: ExternalUsage[]): ExternalWriteResult {
    return this.op('writeExternalUsage', rows);
  }
  *iterateExternalUsage(q: ExternalUsageQuery): IterableIterator<ExternalUsageRow> {
    let after: { ts: number; id: string } | null = null;
    for (;;) {
      const rows: ExternalUsageRow[] = this.op('externalPage', q, after, PAGE);
      yield* rows;
      const last = rows[rows.length - 1];
      if (rows.length < PAGE || !last) return;
      after = { ts: last.ts, id: last.id };
    }
  }
  sourcesPresent(): Record<ExternalSource | 'telemetry', boolean> {
    return this.op('sourcesPresent');
  }
  ledgerDaily(since: number, until: number): DailyUsage[] {
    return ledgerDailyFrom((b, q) => this.report(b, q), since, until);
  }
  telemetryDaily(since: number, until: number): DailyUsage[] {
    return this.op('telemetryDaily', since, until);
  }

  upsertIdentity(i: Identity): void {
    this.op('upsertIdentity', i, Date.now());
  }
  removeIdentity(externalId: string): boolean {
    return this.op('removeIdentity', externalId);
  }
  listIdentities(): Identity[] {
    return this.op('listIdentities');
  }

  insertDeviceGrant(g: DeviceGrant): void {
    this.op('insertDeviceGrant', g);
  }
  findDeviceGrant(by: { deviceHash?: string; userCode?: string; state?: string }): DeviceGrant | undefined {
    return this.op('findDeviceGrant', by);
  }
  updateDeviceGrant(deviceHash: string, patch: Partial<Omit<DeviceGrant, 'device_hash'>>): void {
    this.op('updateDeviceGrant', deviceHash, patch);
  }
  insertSession(s: SignInSession): void {
    this.op('insertSession', s);
  }
  findSession(id: string): SignInSession | undefined {
    return this.op('findSession', id);
  }
  updateSession(id: string, patch: Partial<Omit<SignInSession, 'id'>>): void {
    this.op('updateSession', id, patch);
  }
  insertToken(t: TokenRecord): void {
    this.op('insertToken', t);
  }
  findToken(hash: string): TokenRecord | undefined {
    return this.op('findToken', hash);
  }
  useToken(hash: string, at: number): boolean {
    return this.op('useToken', hash, at);
  }
  revokeSession(id: string, at: number): void {
    this.op('revokeSession', id, at);
  }
  revokeToken(hash: string, at: number): void {
    this.op('revokeToken', hash, at);
  }
  pruneSignIn(before: number): number {
    return this.op('pruneSignIn', before);
  }
  reportSettings(r: FleetReport): void {
    this.op('reportSettings', r);
  }
  listFleet(): FleetReport[] {
    return this.op('listFleet');
  }
  recordServedSettings(checksum: string, at: number): void {
    this.op('recordServedSettings', checksum, at);
  }
  servedSettings(): string[] {
    return this.op('servedSettings');
  }
  /** Rows from another store (tollgate store copy); how many were written. */
  importRows(table: string, rows: Record<string, unknown>[]): number {
    return this.op('importRows', table, rows);
  }
  countLedgerIds(ids: string[]): number {
    return this.op('countLedgerIds', ids);
  }
  finishImport(prunedBefore: number): void {
    this.op('finishImport', prunedBefore);
  }

  syncRates(
    replica: string,
    now: number,
    aliveMs: number,
    mine: { counter: string; requests: number; tokens: number; inFlight: number }[],
  ): { counter: string; requests: number; tokens: number; inFlight: number }[] {
    return this.op('syncRates', replica, now, aliveMs, mine);
  }

  claimBudget(c: BudgetClaimRequest): BudgetClaimGrant {
    return this.op('claimBudget', c);
  }

  secret(name: string, make: () => string): string {
    return this.op('secret', name, make());
  }

  close(): void {
    if (this.handle === 0) return;
    const h = this.handle;
    this.handle = 0;
    this.call(h, 'close', []);
  }
}
