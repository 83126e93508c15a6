// Group commit for the ledger. Lines finished in the same event-loop turn are written in one
// transaction; the promise a request awaits resolves only once its line is committed, so a
// response is never completed to the client before its ledger line is durable.
import type { LedgerLine, Store } from '../store/types.js';

interface Pending {
  line: LedgerLine;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class LedgerWriter {
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  /** Lines written since start (for /health and tests). */
  written = 0;

  constructor(private readonly store: Store, private readonly onError: (err: Error) => void) {}

  write(line: LedgerLine): Promise<void> {
    if (this.closed) return Promise.reject(new Error('ledger writer closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    const keysUsed = new Map<string, number>();
    for (const p of batch) {
      const k = p.line.key_id;
      if (k) keysUsed.set(k, Math.max(keysUsed.get(k) ?? 0, p.line.ts));
    }
    try {
      this.store.writeBatch(batch.map((p) => p.line), keysUsed);
      this.written += batch.length;
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
