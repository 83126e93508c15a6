// What every CLI command needs: the config, the store, and output helpers.
import { UserError } from '../util/errors.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { openStore as open } from '../store/open.js';
import type { Store } from '../store/types.js';

export interface GlobalOpts {
  config?: string;
  /** A remote gateway's base URL: keys and budgets go through its admin API. */
  url?: string;
}

export function openConfig(opts: GlobalOpts): LoadedConfig {
  return loadConfig(opts.config);
}

export function openStore(loaded: LoadedConfig): Store {
  return open(loaded, 'cli');
}

/** Runs fn with the configured store open, and closes it whatever happens. */
export async function withStore<T>(g: GlobalOpts, fn: (store: Store, loaded: LoadedConfig) => T | Promise<T>): Promise<T> {
  const loaded = openConfig(g);
  const store = openStore(loaded);
  try {
    return await fn(store, loaded);
  } finally {
    store.close();
  }
}

/** Writes to stdout, waiting when the pipe is full, so a long listing runs in bounded memory. */
export class StreamOut {
  private buf: string[] = [];
  private size = 0;

  async write(s: string): Promise<void> {
    this.buf.push(s);
    this.size += s.length;
    if (this.size >= 65536) await this.flush();
  }

  async flush(): Promise<void> {
    if (!this.buf.length) return;
    const chunk = this.buf.join('');
    this.buf = [];
    this.size = 0;
    if (!process.stdout.write(chunk)) await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
  }
}

/** Positive integer option values. */
export function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name}: expected a positive integer`);
    return n;
  };
}

/** A plain-text table with aligned columns. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n') + '\n';
}

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

/** Errors meant for the user: printed without a stack, exit status 2. */
export class UsageError extends UserError {}
