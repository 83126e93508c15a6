// tollgate prune --before DATE: old ledger lines out of the store (optionally into an archive
// first); the rollups keep their totals, so reports and budgets over pruned days still add up.
import type { Command } from 'commander';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import { DAY_MS } from '../../store/segments.js';
import type { Store } from '../../store/types.js';
import { parseTime, wallClock } from '../../util/time.js';
import { out, UsageError, withStore, type GlobalOpts } from '../shared.js';
import { lineToJson } from '../../reports/queries.js';

/** Writes the lines before `cut` as gzipped JSON lines, waiting on the file (bounded memory). */
async function archive(store: Store, cut: number, path: string): Promise<number> {
  const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    file.once('open', () => resolve());
    file.once('error', (err) => reject(new UsageError(`--archive ${path}: ${err.message}`)));
  });
  const gz = createGzip();
  gz.pipe(file);
  let n = 0;
  for (const l of store.iterateLedger({ until: cut })) {
    n++;
    if (!gz.write(JSON.stringify(lineToJson(l)) + '\n')) await once(gz, 'drain');
  }
  gz.end();
  await once(file, 'close');
  return n;
}

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('prune')
    .description('delete ledger lines before a date (floored to its UTC day); rollups keep the totals for reports and budgets')
    .requiredOption('--before <time>', 'ISO date, or an age such as 90d')
    .option('--archive <file>', 'first write those lines to this new file as gzipped JSON lines (.jsonl.gz)')
    .option('--json')
    .addHelpText(
      'after',
      '\nLines are deleted in small transactions, so a running gateway keeps writing. Per-line views\n(usage, insights, sessions) no longer see pruned days; totals (report, usage summary, budgets) do.',
    )
    .action((o: { before: string; archive?: string; json?: boolean }) =>
      withStore(globals(), async (store) => {
        const before = parseTime(o.before);
        if (before > wallClock()) throw new UsageError(`--before ${o.before}: that is in the future`);
        const cut = Math.floor(before / DAY_MS) * DAY_MS;
        const archived = o.archive ? await archive(store, cut, o.archive) : 0;
        const r = store.prune(cut);
        if (o.json) return out(JSON.stringify({ deleted: r.deleted, archived, pruned_before: new Date(r.prunedBefore).toISOString() }));
        out(`deleted ${r.deleted} ledger lines before ${new Date(cut).toISOString()}${o.archive ? ` (${archived} archived to ${o.archive})` : ''}`);
      }),
    );
}
