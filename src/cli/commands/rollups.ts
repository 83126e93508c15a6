// tollgate rollups rebuild: recompute the hour and day rollups from the ledger.
import type { Command } from 'commander';
import { out, withStore, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  const rollups = program.command('rollups').description('the aggregate tables reports and budgets read (kept as lines are written)');
  rollups
    .command('rebuild')
    .description('recompute them from the ledger lines (days already pruned keep their rollups)')
    .action(() =>
      withStore(globals(), (store) => {
        const started = Date.now();
        const r = store.rebuildRollups();
        out(`rebuilt rollups from ${r.lines} ledger lines in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }),
    );
}
