// Group commit for the ledger. The promise a request awaits resolves only once its line is
// committed, so a response is never completed to the client before its ledger line is durable.
// When the gateway is quiet a line is committed at the end of the current task (no added
// wait); under load, lines that finish within the same event-loop turn share one transaction.
//
// When the store fails (disk full, read-only, I/O error) the lines of the failed batch are
// kept in memory and retried until the store takes them, so a line the upstream billed is not
// lost to a transient fault; the writer reports itself unhealthy meanwhile, and the gateway
// stops sending new requests upstream (store.on_failure: closed).
import { performance } from 'node:perf_hooks';
import type { LedgerLine, Store } from '../store/types.js';

/** A commit within this many ms of the previous one waits for the turn's batch. */
const BUSY_MS = 1;
/** A key's last_used_at is refreshed at most this often (ms): listings are accurate to it. */
const TOUCH_EVERY_MS = 60_000;
/** Unwritten lines held for retry at most; past this the oldest are dropped (and counted). */
const MAX_HELD_LINES = 50_000;

interface Pending {
  line: LedgerLine;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A ledger line could not be committed; the cause is the store's error. */
export class LedgerWriteError extends Error {
  constructor(readonly storeError: Error) {
    super(`the ledger could not be written: ${storeError.message}`);
  }
}

export class LedgerWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private lastFlush = -Infinity;
  private readonly touched = new Map<string, number>();
  /** Lines whose commit failed, oldest first, waiting for the store to recover. */
  private held: LedgerLine[] = [];
  /** Lines written since start (for /health and tests). */
  written = 0;
  /** Transactions that wrote them (written / commits: how much group commit batches). */
  commits = 0;
  /** Lines given up on because more than MAX_HELD_LINES were waiting. */
  dropped = 0;
  /** The store's last write error while it is failing; null when writes succeed. */
  failure: Error | null = null;

  constructor(
    private readonly store: Store,
    private readonly onError: (err: Error) => void,
    private readonly onRecover: (lines: number) => void = () => {},
    /** Seconds each successful commit took (the store-write histogram). */
    private readonly onCommit: (seconds: number) => void = () => {},
  ) {}

  get healthy(): boolean {
    return this.failure === null;
  }

  /** Lines not yet in the store (held after a failure). */
  get pending(): number {
    return this.held.length + this.queue.length;
  }

  write(line: LedgerLine): Promise<void> {
    if (this.closed) return Promise.reject(new LedgerWriteError(new Error('ledger writer closed')));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        if (performance.now() - this.lastFlush < BUSY_MS) setImmediate(() => this.flush());
        else queueMicrotask(() => this.flush());
      }
    });
  }

  flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.lastFlush = performance.now();
    // Held lines go first (and in the same transaction) so a recovered store gets them back
    // in order; INSERT OR IGNORE makes a retry of an already committed line harmless.
    const lines = this.held.length ? [...this.held, ...batch.map((p) => p.line)] : batch.map((p) => p.line);
    const err = this.commit(lines);
    if (err) {
      for (const p of batch) p.reject(new LedgerWriteError(err));
      return;
    }
    for (const p of batch) p.resolve();
  }

  /** Writes the held lines if the store takes them again (called on the gateway's poll). */
  retry(): void {
    if (this.held.length === 0 || this.closed) return;
    this.commit([...this.held]);
  }

  private commit(lines: LedgerLine[]): Error | null {
    const keysUsed = new Map<string, number>();
    for (const l of lines) {
      const k = l.key_id;
      if (!k || l.ts - (this.touched.get(k) ?? -Infinity) < TOUCH_EVERY_MS) continue;
      keysUsed.set(k, Math.max(keysUsed.get(k) ?? 0, l.ts));
    }
    const t0 = performance.now();
    try {
      this.store.writeBatch(lines, keysUsed);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const first = this.failure === null;
      this.failure = e;
      this.held = lines.length > MAX_HELD_LINES ? lines.slice(lines.length - MAX_HELD_LINES) : lines;
      this.dropped += lines.length - this.held.length;
      if (first) this.onError(e);
      return e;
    }
    this.onCommit((performance.now() - t0) / 1000);
    const recovered = this.held.length;
    if (recovered) this.held = [];
    this.written += lines.length;
    this.commits++;
    for (const [k, at] of keysUsed) this.touched.set(k, at);
    if (this.failure) {
      this.failure = null;
      this.onRecover(recovered);
    }
    return null;
  }

  close(): void {
    this.flush();
    this.retry();
    this.closed = true;
  }
}
