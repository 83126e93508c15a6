// A gateway replica's store on PostgreSQL: every ledger batch is first made durable in a small
// local SQLite file (the spool), which is what a response waits on, and then shipped to
// PostgreSQL — at once while it is reachable, in order and idempotently (lines are keyed by
// id), and from the spool when it comes back after an outage. So a slow or stopped database
// loses no line, and a replica killed mid-load finds its unshipped lines in its spool when it
// starts again.
//
// While PostgreSQL is unreachable nothing on the request path waits for it: what the gateway
// polls (change counters, the ledger's tail) answers from what was last read, and reconnection
// is probed asynchronously, off the event loop, with backoff. Reads that need the database
// (reports, listings, unknown keys) fail with a clear error meanwhile.
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BudgetScope, LedgerLine, LedgerQuery, ReportDimension, ReportRow, StoreVersions } from '../types.js';
import { StoreUnavailableError } from '../errors.js';
import { PostgresStore } from './index.js';
import { PgOps } from './ops.js';

/** Errors that mean the database cannot be reached (rather than a bad statement). */
function unreachable(err: unknown): boolean {
  const m = (err as Error)?.message ?? '';
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|timeout expired|Connection terminated|terminating connection|the database system is (starting up|shutting down)|connection error|not queryable|Client has encountered/i.test(
    m,
  );
}

/** What a replica answers from memory while PostgreSQL is unreachable: nothing changed that it
 * could learn about, no new ledger lines from others, and alerts are sent (an alert repeated
 * after an outage is better than one lost). Settings reports are dropped (the next one comes). */
const FALLBACK: Record<string, (s: SpooledStore, args: unknown[]) => unknown> = {
  versions: (s) => s.knownVersions(),
  ledgerTail: () => [],
  ledgerHead: () => 0,
  listKeys: () => [],
  listBudgets: () => [],
  spend: () => 0,
  spendGroups: () => [],
  beginSnapshot: () => null,
  endSnapshot: () => null,
  markAlertSent: () => true,
  // Rate limits then count this replica alone.
  syncRates: () => [],
  reportSettings: () => null,
  recordServedSettings: () => null,
  servedSettings: () => [],
  pruneSignIn: () => 0,
  prune: () => ({ deleted: 0, prunedBefore: 0 }),
};

/** Batches shipped per PostgreSQL transaction when catching up. */
const SHIP_BATCHES = 200;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

export interface SpoolStatus {
  /** Lines in the spool, not yet in PostgreSQL. */
  lines: number;
  /** Why PostgreSQL is not reachable, or null. */
  down: string | null;
  /** Lines shipped since start. */
  shipped: number;
  /** Why PostgreSQL, reachable, refused the spool's oldest batch (retried with backoff; the
   * lines stay in the spool meanwhile), or null. */
  refused: string | null;
}

/** The PostgreSQL store with a local spool; every Store method not about the ledger's writes
 * goes straight to PostgreSQL. */
export class SpooledStore extends PostgresStore {
  private readonly spool: Database.Database;
  private readonly insert: Database.Statement;
  private down: string | null = null;
  private backoff = BACKOFF_MIN_MS;
  private refused: string | null = null;
  private refusedUntil = 0;
  private refusedBackoff = BACKOFF_MIN_MS;
  private probing = false;
  private shipping = false;
  private inSnapshot = 0;
  private closed = false;
  /** The background shipper's own connection (asynchronous, in this thread). */
  private async: PgOps | null = null;
  private readonly timer: NodeJS.Timeout;
  private lastVersions: StoreVersions = { keys: -1, budgets: -1, sessions: -1 };
  private spooled = 0;
  shipped = 0;

  constructor(
    url: string,
    private readonly spoolFile: string,
    opts: { migrate?: boolean; sync?: 'normal' | 'full' } = {},
  ) {
    // Lazy: a replica starts (and serves, spooling) while PostgreSQL is down.
    super(url, { migrate: opts.migrate, connectTimeoutMs: 2000, lazy: true });
    mkdirSync(dirname(spoolFile), { recursive: true, mode: 0o700 });
    // Ledger lines name people: the spool is the owner's alone, like the SQLite store.
    if (!existsSync(spoolFile)) closeSync(openSync(spoolFile, 'a', 0o600));
    chmodSync(spoolFile, 0o600);
    this.spool = new Database(spoolFile);
    this.spool.pragma('journal_mode = WAL');
    // As the SQLite store (store.sync): normal keeps a committed line across a kill of the
    // process; full also across a power loss, at a disk flush per batch.
    this.spool.pragma(`synchronous = ${opts.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    // n: lines in the batch (the spool's depth without parsing it).
    this.spool.exec('CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, lines TEXT NOT NULL, keys TEXT NOT NULL, n INTEGER NOT NULL)');
    this.insert = this.spool.prepare('INSERT INTO spool (lines, keys, n) VALUES (?, ?, ?)');
    this.spooled = this.countSpooled();
    this.versions();
    // Lines left by an earlier run (a crash, a kill, an outage at shutdown) go first.
    this.kick();
    this.timer = setInterval(() => this.tick(), 500);
    this.timer.unref();
  }

  /** Hears PostgreSQL becoming unreachable (a reason) and reachable again (null). */
  onChange: (down: string | null, status: SpoolStatus) => void = () => {};

  private countSpooled(): number {
    return Number(this.spool.prepare('SELECT COALESCE(SUM(n), 0) FROM spool').pluck().get());
  }

  status(): SpoolStatus {
    return { lines: this.spooled, down: this.down, shipped: this.shipped, refused: this.refused };
  }

  /** Durable in the spool before it returns (the response waits on this); shipped right after,
   * off the event loop. */
  override writeBatch(lines: LedgerLine[], keysUsed: Map<string, number>): void {
    this.insert.run(JSON.stringify(lines), JSON.stringify([...keysUsed]), lines.length);
    this.spooled += lines.length;
    this.kick();
  }

  /** The oldest spooled batches, merged. */
  private nextBatch(): { last: number; lines: LedgerLine[]; keys: Map<string, number> } | null {
    const rows = this.spool.prepare('SELECT seq, lines, keys FROM spool ORDER BY seq LIMIT ?').all(SHIP_BATCHES) as {
      seq: number;
      lines: string;
      keys: string;
    }[];
    if (!rows.length) return null;
    const lines: LedgerLine[] = [];
    const keys = new Map<string, number>();
    for (const r of rows) {
      for (const l of JSON.parse(r.lines) as LedgerLine[]) lines.push(l);
      for (const [k, at] of JSON.parse(r.keys) as [string, number][]) keys.set(k, Math.max(keys.get(k) ?? 0, at));
    }
    return { last: rows[rows.length - 1]!.seq, lines, keys };
  }

  /** Shipped (idempotent on id: a crash before this delete only ships those lines again, and
   * a batch shipped twice, by the background shipper and by a read, counts once). */
  private shippedUpTo(last: number): void {
    if (this.refused !== null) {
      this.refused = null;
      this.refusedBackoff = BACKOFF_MIN_MS;
      this.onRefused(null, this.status());
    }
    const n = Number(this.spool.prepare('SELECT COALESCE(SUM(n), 0) FROM spool WHERE seq <= ?').pluck().get(last));
    this.spool.prepare('DELETE FROM spool WHERE seq <= ?').run(last);
    this.spooled = Math.max(0, this.spooled - n);
    this.shipped += n;
  }

  /** Starts the background shipper (its own connection, asynchronous) unless it runs. */
  private kick(): void {
    if (this.shipping || this.down || this.closed || this.waitingAfterRefusal()) return;
    this.shipping = true;
    void (async () => {
      try {
        for (;;) {
          const b = this.nextBatch();
          if (!b) return;
          this.async ??= await PgOps.open(this.url, { migrate: false, allowBehind: true, lazy: true, connectTimeoutMs: 2000 });
          await this.async.writeBatch(b.lines, [...b.keys]);
          // Closed meanwhile: close() shipped (or kept) the spool itself.
          if (this.closed) return;
          this.shippedUpTo(b.last);
        }
      } catch (err) {
        if (!this.closed) this.shipFailed(err);
        const a = this.async;
        this.async = null;
        await a?.close();
      } finally {
        this.shipping = false;
        // Closed while shipping: this connection was opened or in use after close() ran.
        if (this.closed && this.async) {
          const a = this.async;
          this.async = null;
          await a.close();
        }
      }
    })();
  }

  /** Ships the whole spool now, synchronously (before a read of the ledger through this store,
   * so it sees this replica's own lines; and at close). False when PostgreSQL is down. */
  ship(): boolean {
    // Inside a read snapshot the connection is in a read-only transaction: the snapshot's
    // start shipped already.
    if (this.down || this.inSnapshot > 0 || this.waitingAfterRefusal()) return false;
    for (;;) {
      const b = this.nextBatch();
      if (!b) return true;
      try {
        super.writeBatch(b.lines, b.keys);
      } catch (err) {
        this.shipFailed(err);
        return false;
      }
      this.shippedUpTo(b.last);
    }
  }

  private waitingAfterRefusal(): boolean {
    return this.refused !== null && Date.now() < this.refusedUntil;
  }

  /** A batch did not ship. Unreachable: the outage path. Reachable but refused (a constraint,
   * a bug, a full disk on the server): the replica keeps serving — the lines are durable in its
   * spool — retries with backoff up to a minute, and says so once, loudly, and on /health. */
  private shipFailed(err: unknown): void {
    if (unreachable(err)) {
      this.markDown(err);
      return;
    }
    const why = (err as Error).message?.split('\n')[0] ?? String(err);
    const first = this.refused === null;
    this.refused = why;
    this.refusedUntil = Date.now() + this.refusedBackoff;
    this.refusedBackoff = Math.min(60_000, this.refusedBackoff * 2);
    if (first) this.onRefused(why, this.status());
  }

  /** PostgreSQL refused the spool's oldest batch (why), or took it again after that (null). */
  onRefused: (why: string | null, status: SpoolStatus) => void = () => {};

  override readSnapshot<T>(fn: () => T): T {
    this.ship();
    this.inSnapshot++;
    try {
      return super.readSnapshot(fn);
    } finally {
      this.inSnapshot--;
    }
  }

  // Reads of the ledger through this store see this replica's own lines.
  override queryLedger(q: LedgerQuery): LedgerLine[] {
    this.ship();
    return super.queryLedger(q);
  }
  override iterateLedger(q: LedgerQuery): IterableIterator<LedgerLine> {
    this.ship();
    return super.iterateLedger(q);
  }
  override report(by: ReportDimension[], q: LedgerQuery): ReportRow[] {
    this.ship();
    return super.report(by, q);
  }
  override spend(scope: BudgetScope, value: string | null, since: number, until: number): number {
    this.ship();
    return super.spend(scope, value, since, until);
  }

  private markDown(err: unknown): void {
    const why = (err as Error).message?.split('\n')[0] ?? String(err);
    const first = this.down === null;
    this.down = why;
    if (first) this.onChange(why, this.status());
  }

  private markUp(): void {
    if (this.down === null) return;
    this.down = null;
    this.backoff = BACKOFF_MIN_MS;
    this.kick();
    this.onChange(null, this.status());
  }

  /** While down: probe asynchronously (never blocking the event loop), with backoff. */
  private tick(): void {
    if (!this.down) {
      if (this.spooled > 0) this.kick();
      return;
    }
    if (this.probing) return;
    this.probing = true;
    const url = this.url;
    void (async () => {
      try {
        const probe = await PgOps.open(url, { migrate: false, allowBehind: true, connectTimeoutMs: 2000 });
        await probe.close();
        this.markUp();
      } catch {
        this.backoff = Math.min(BACKOFF_MAX_MS, this.backoff * 2);
        await new Promise((r) => setTimeout(r, this.backoff).unref());
      } finally {
        this.probing = false;
      }
    })();
  }

  /** While PostgreSQL is unreachable, what the gateway reads on every poll or request answers
   * from what this replica knows (FALLBACK); anything else fails at once (StoreUnavailableError,
   * a 503) instead of waiting on a connection. */
  protected override op<T>(method: string, ...args: unknown[]): T {
    const fallback = FALLBACK[method];
    if (this.down) {
      if (fallback) return fallback(this, args) as T;
      throw new StoreUnavailableError(this.down);
    }
    try {
      const out = super.op<T>(method, ...args);
      if (method === 'versions') this.lastVersions = out as StoreVersions;
      return out;
    } catch (err) {
      if (!unreachable(err)) throw err;
      this.markDown(err);
      if (fallback) return fallback(this, args) as T;
      throw new StoreUnavailableError(this.down ?? 'unreachable');
    }
  }

  /** The change counters last read; -1 before any (so the first real read reloads all). */
  knownVersions(): StoreVersions {
    return this.lastVersions;
  }

  override close(): void {
    this.closed = true;
    clearInterval(this.timer);
    // A shipper in flight closes its connection itself when it ends.
    if (!this.shipping) void this.async?.close();
    if (!this.shipping) this.async = null;
    // One last try: what cannot be shipped now stays in the spool for the next start.
    if (this.spooled > 0) this.ship();
    this.spool.close();
    super.close();
  }
}
