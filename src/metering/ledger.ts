// Group commit for the ledger. The promise a request awaits resolves only once its line is
// committed, so a response is never completed to the client before its ledger line is durable.
// When the gateway is quiet a line is committed at the end of the current task (no added
// wait); under load, lines that finish within the same event-loop turn share one transaction.
import { performance } from 'node:perf_hooks';
import type { LedgerLine, Store } from '../store/types.js';

/** A commit within this many ms of the previous one waits for the turn's batch. */
const BUSY_MS = 1;
/** A key's last_used_at is refreshed at most this often (ms): listings are accurate to it. */
const TOUCH_EVERY_MS = 60_000;

interface Pending {
  line: LedgerLine;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class LedgerWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private lastFlush = -Infinity;
  private readonly touched = new Map<string, number>();
  /** Lines written since start (for /health and tests). */
  written = 0;

  constructor(private readonly store: Store, private readonly onError: (err: Error) => void) {}

  write(line: LedgerLine): Promise<void> {
    if (this.closed) return Promise.reject(new Error('ledger writer closed'));
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
    const keysUsed = new Map<string, number>();
    for (const p of batch) {
      const k = p.line.key_id;
      if (!k || p.line.ts - (this.touched.get(k) ?? -Infinity) < TOUCH_EVERY_MS) continue;
      keysUsed.set(k, Math.max(keysUsed.get(k) ?? 0, p.line.ts));
    }
    try {
      this.store.writeBatch(batch.map((p) => p.line), keysUsed);
      this.written += batch.length;
      for (const [k, at] of keysUsed) this.touched.set(k, at);
      for (const p of batch) p.resolve();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.onError(e);
      for (const p of batch) p.reject(e);
    }
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}
