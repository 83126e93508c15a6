// Moving an installation from the embedded SQLite store to PostgreSQL (tollgate store copy):
// every table, read from the SQLite file in pages and written with PostgreSQL's ON CONFLICT, so
// a copy can be rerun (after an interruption, or once more after the gateway was stopped) and
// never duplicates or loses a line. The SQLite file is opened read-only.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import type { PostgresStore } from './postgres/index.js';

/** How a copied row meets one already there: kept, or replaced by the source's (the source is
 * what is being moved; rows that only grow, like ledger lines, are kept). */
export interface CopyTable {
  table: string;
  /** Columns converted from SQLite's 0/1 to booleans. */
  bools?: string[];
  order: string;
}

export const COPY_TABLES: CopyTable[] = [
  { table: 'keys', order: 'rowid' },
  { table: 'budgets', order: 'rowid' },
  { table: 'alerts_sent', order: 'rowid' },
  { table: 'audit', order: 'id' },
  { table: 'ledger', bools: ['streamed', 'priced', 'client_aborted'], order: 'rowid' },
  { table: 'rollup_hour', order: 'hour' },
  { table: 'rollup_day', order: 'day' },
  { table: 'telemetry_events', order: 'rowid' },
  { table: 'telemetry_metrics', order: 'rowid' },
  { table: 'telemetry_cumulative', order: 'rowid' },
  { table: 'external_usage', bools: ['priced'], order: 'rowid' },
  { table: 'identities', order: 'rowid' },
  { table: 'sessions', order: 'rowid' },
  { table: 'tokens', order: 'rowid' },
  { table: 'secrets', order: 'rowid' },
  { table: 'fleet_reports', order: 'rowid' },
  { table: 'served_settings', order: 'rowid' },
];

export interface CopyResult {
  table: string;
  read: number;
  written: number;
}

/** The rows of each table, keyset-paged on `order`. */
function* pages(db: Database.Database, t: CopyTable, size: number): Generator<Record<string, unknown>[]> {
  const cols = (db.prepare(`PRAGMA table_info(${t.table})`).all() as { name: string }[]).map((c) => c.name);
  if (!cols.length) return;
  const orderCol = t.order === 'rowid' ? 'rowid' : t.order;
  // Rollups have a composite key: whole-bucket pages (a bucket's rows never split).
  if (t.table.startsWith('rollup_')) {
    let after = -1;
    for (;;) {
      const next = db.prepare(`SELECT MIN(${orderCol}) FROM ${t.table} WHERE ${orderCol} > ?`).pluck().get(after) as number | null;
      if (next === null) return;
      yield db.prepare(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${t.table} WHERE ${orderCol} = ?`).all(next) as Record<string, unknown>[];
      after = next;
    }
  }
  let after = -Infinity;
  for (;;) {
    const rows = db
      .prepare(`SELECT ${orderCol} AS __k, ${cols.map((c) => `"${c}"`).join(', ')} FROM ${t.table} WHERE ${orderCol} > ? ORDER BY ${orderCol} LIMIT ?`)
      .all(after === -Infinity ? -9e15 : after, size) as Record<string, unknown>[];
    if (!rows.length) return;
    after = Number(rows[rows.length - 1]!.__k);
    for (const r of rows) {
      delete r.__k;
      for (const b of t.bools ?? []) if (b in r) r[b] = r[b] === 1;
    }
    yield rows;
    if (rows.length < size) return;
  }
}

/** Copies everything; `progress` hears each table's running count. */
export function copySqliteToPostgres(file: string, target: PostgresStore, progress: (r: CopyResult) => void = () => {}): CopyResult[] {
  if (!existsSync(file)) throw new Error(`no SQLite store at ${file}`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // One read transaction: a gateway still writing to the file does not tear the copy (rerun
    // the copy after stopping it to take what came later).
    return db.transaction(() => {
      const out: CopyResult[] = [];
      for (const t of COPY_TABLES) {
        const r: CopyResult = { table: t.table, read: 0, written: 0 };
        for (const rows of pages(db, t, 2000)) {
          r.read += rows.length;
          r.written += target.importRows(t.table, rows);
          progress(r);
        }
        out.push(r);
      }
      const prunedBefore = Number(db.prepare("SELECT value FROM meta WHERE name = 'pruned_before'").pluck().get() ?? 0);
      target.finishImport(prunedBefore);
      return out;
    })();
  } finally {
    db.close();
  }
}
