// tollgate dev seed-ledger: a ledger to try the reports (and the console) on, written through
// the store's own write path, rollups included.
import type { Command } from 'commander';
import { PriceBook } from '../../metering/prices.js';
import { seedFleet, seedLedger } from '../../reports/seed.js';
import { loadCatalog } from '../../routing/catalog.js';
import type { LedgerLine } from '../../store/types.js';
import { wallClock } from '../../util/time.js';
import { out, positiveInt, UsageError, withStore, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  const dev = program.command('dev').description('tools for trying tollgate out');
  dev
    .command('seed-ledger')
    .description('fill an EMPTY ledger: a deterministic demo month (5 users, 3 teams, 3 routes), or with --lines a fleet of any size (about 1M lines a week)')
    .option('--days <n>', 'demo: how many days, ending today', '30')
    .option('--lines <n>', 'fleet: this many lines, ending now', positiveInt('--lines'))
    .option('--users <n>', 'fleet: this many engineers (teams of 20)', positiveInt('--users'), 2000)
    .option('--seed <n>', 'random seed', '42')
    .action((o: { days: string; seed: string; lines?: number; users: number }) => {
      const days = Number(o.days);
      if (!Number.isInteger(days) || days < 1 || days > 366) throw new UsageError('--days: 1 to 366');
      return withStore(globals(), (store) => {
        if (!store.ledgerEmpty()) throw new UsageError('the ledger is not empty: seed-ledger only fills an empty store (use a scratch --config)');
        const prices = PriceBook.load(loadCatalog());
        if (o.lines === undefined) {
          const today = new Date(wallClock());
          const start = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()) - (days - 1) * 86400e3;
          const lines = seedLedger(prices, { start, days, seed: Number(o.seed) });
          store.writeBatch(lines, new Map());
          out(`wrote ${lines.length} demo ledger lines over ${days} days`);
          return;
        }
        const started = Date.now();
        let batch: LedgerLine[] = [];
        let n = 0;
        const tty = process.stderr.isTTY;
        for (const l of seedFleet(prices, { lines: o.lines, users: o.users, end: wallClock(), seed: Number(o.seed) })) {
          batch.push(l);
          if (batch.length === 5000) {
            store.writeBatch(batch, new Map());
            n += batch.length;
            batch = [];
            if (tty && n % 100_000 === 0) process.stderr.write(`\r${n} of ${o.lines} lines`);
          }
        }
        store.writeBatch(batch, new Map());
        n += batch.length;
        if (tty) process.stderr.write('\r');
        out(`wrote ${n} fleet ledger lines (${o.users} users) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      });
    });
}
