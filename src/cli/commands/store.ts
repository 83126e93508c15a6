// tollgate store copy: move an installation from its SQLite file to PostgreSQL, rerunnable.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { copySqliteToPostgres, type CopyResult } from '../../store/copy.js';
import { PostgresStore, redactUrl } from '../../store/postgres/index.js';
import { SqliteStore } from '../../store/sqlite/index.js';
import { out, UsageError, type GlobalOpts } from '../shared.js';

function usd(nano: number): string {
  return `$${(nano / 1e9).toFixed(4)}`;
}

export function register(program: Command, _globals: () => GlobalOpts): void {
  const store = program.command('store').description('move an installation from its SQLite file to PostgreSQL (store copy; safe to rerun)');
  store
    .command('copy')
    .description(
      'copy everything (keys, budgets, ledger, rollups, imports, telemetry, sign-in sessions, audit) from a SQLite file to PostgreSQL; safe to rerun: nothing is duplicated, and a rerun after stopping the gateway takes what came since',
    )
    .requiredOption('--from <store>', 'the source: sqlite:PATH (e.g. sqlite:./data/tollgate.db)')
    .requiredOption('--to <url>', 'the target: postgres://user:password@host:5432/db (migrated first if needed)')
    .addHelpText(
      'after',
      '\nTo move: stop the gateway (or copy once while it runs, then stop it and copy again), copy, then start the gateway(s) with store: { postgres: … }.',
    )
    .action((o: { from: string; to: string }) => {
      const m = /^sqlite:(.+)$/.exec(o.from);
      if (!m) throw new UsageError(`--from ${o.from}: expected sqlite:PATH (copying from PostgreSQL is not supported)`);
      if (!/^postgres(ql)?:\/\//.test(o.to)) throw new UsageError(`--to ${redactUrl(o.to)}: expected a postgres:// URL`);
      const file = resolve(m[1]!);
      const target = new PostgresStore(o.to);
      try {
        const started = Date.now();
        let lastReport = 0;
        const results: CopyResult[] = copySqliteToPostgres(file, target, (r) => {
          if (Date.now() - lastReport < 2000) return;
          lastReport = Date.now();
          process.stderr.write(`  ${r.table}: ${r.read} rows read\n`);
        });
        for (const r of results) if (r.read) out(`${r.table.padEnd(22)} ${String(r.read).padStart(10)} read ${String(r.written).padStart(10)} written`);
        // Checked, not assumed: the source's totals are all in the target.
        const source = new SqliteStore(file);
        try {
          const a = source.report([], {})[0]!;
          const b = target.report([], {})[0]!;
          const { total, present } = countPresent(target, source);
          const missing = total - present;
          out(
            `ledger: source ${a.requests} lines, ${usd(Number(a.cost_nanousd))}; target ${b.requests} lines, ${usd(Number(b.cost_nanousd))}${missing ? `; ${missing} source lines MISSING in the target` : '; every source line is in the target'}`,
          );
          if (missing) process.exitCode = 1;
        } finally {
          source.close();
        }
        out(`copied ${file} to ${redactUrl(o.to)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } finally {
        target.close();
      }
    });
}

/** How many ledger lines the source has, and how many of them the target holds (by id, in
 * pages: bounded memory whatever the ledger's size). */
function countPresent(target: PostgresStore, source: SqliteStore): { total: number; present: number } {
  const ids: string[] = [];
  let n = 0;
  let total = 0;
  const flush = () => {
    n += target.countLedgerIds(ids);
    ids.length = 0;
  };
  for (const l of source.iterateLedger({})) {
    total++;
    ids.push(l.id);
    if (ids.length === 5000) flush();
  }
  flush();
  return { total, present: n };
}
