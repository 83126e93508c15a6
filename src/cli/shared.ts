// What every CLI command needs: the config, the store, and output helpers.
import { loadConfig, resolveFrom, type LoadedConfig } from '../config/load.js';
import { SqliteStore } from '../store/sqlite/index.js';
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
  return new SqliteStore(resolveFrom(loaded, loaded.config.store.sqlite), { sync: loaded.config.store.sync });
}

/** A plain-text table with aligned columns. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [fmt(headers), fmt(widths.map((w) => '-'.repeat(w))), ...cells.map(fmt)].join('\n') + '\n';
}

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : s + '\n');
}

/** Errors meant for the user: printed without a stack, exit status 2. */
export class UsageError extends Error {}
