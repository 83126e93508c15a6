// tollgate ingest <kind> <files…>: usage kept outside the gateway, into the store.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { appProfiles, IMPORT_KINDS, Importer, type ImportKind, type ImportResult } from '../../ingest/importers.js';
import { expandPaths } from '../../ingest/files.js';
import { admin } from '../remote.js';
import { PriceBook } from '../../metering/prices.js';
import { loadCatalog } from '../../routing/catalog.js';
import { out, UsageError, withStore, type GlobalOpts } from '../shared.js';

/** Each file to a remote gateway's admin API, one request per file (directories walked here),
 * the answers summed. */
async function upload(url: string, kind: string, paths: string[], o: { user?: string; quiet?: boolean; json?: boolean }): Promise<ImportResult> {
  let files: string[];
  try {
    files = expandPaths(paths);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const total: ImportResult = {
    files: 0,
    records: 0,
    imported: 0,
    duplicates: 0,
    skipped: 0,
    malformed: 0,
    updated: 0,
    problems: [],
    wrongKind: [],
    bytes: 0,
    seconds: 0,
  };
  const t0 = performance.now();
  for (const [i, f] of files.entries()) {
    if (!o.quiet && !o.json && process.stderr.isTTY) process.stderr.write(`\rupload ${i + 1}/${files.length}: ${basename(f)}`.padEnd(60));
    const r = (await admin(url, 'POST', `/admin/ingest/${kind}`, undefined, {
      query: { name: basename(f), user: o.user },
      raw: readFileSync(f),
    })) as ImportResult;
    for (const k of ['files', 'records', 'imported', 'duplicates', 'skipped', 'malformed', 'updated', 'bytes'] as const) total[k] += r[k];
    total.problems.push(...r.problems.map((p) => `${f}: ${p}`));
    total.wrongKind.push(...r.wrongKind.map((w) => `${f}: ${w}`));
  }
  if (!o.quiet && !o.json && process.stderr.isTTY) process.stderr.write('\n');
  total.seconds = (performance.now() - t0) / 1000;
  return total;
}

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('ingest')
    .description('import usage kept outside the gateway (gzip and directories accepted; importing the same file twice changes nothing)')
    .argument('<kind>', IMPORT_KINDS.join(' | '))
    .argument('<files...>', 'files or directories')
    .option('--user <principal>', 'claude-transcripts: whose transcripts these are (an external id mapped with tollgate identities)')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress on stderr')
    .action(async (kind: string, files: string[], o: { user?: string; json?: boolean; quiet?: boolean }) => {
      if (!(IMPORT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`${kind}: expected one of ${IMPORT_KINDS.join(', ')}`);
      const g = globals();
      const run = async (): Promise<ImportResult> => {
        if (g.url) return upload(g.url, kind, files, o);
        return withStore(g, async (store, loaded) => {
          const catalog = loadCatalog();
          const prices = PriceBook.load(catalog, { file: loaded.config.prices.file, overrides: loaded.config.prices.overrides });
          const importer = new Importer(store, prices, {
            principal: o.user,
            appProfiles: appProfiles(loaded.config, catalog),
            progress: !o.quiet && !o.json && Boolean(process.stderr.isTTY),
          });
          return importer.run(kind as ImportKind, files).catch((err: Error) => {
            throw new UsageError(err.message);
          });
        });
      };
      const r = await run();
      if (o.json) out(JSON.stringify(r, null, 2));
      else {
        out(
          `${kind}: ${r.files} file(s), ${r.records} record(s): ${r.imported} imported, ${r.updated} updated to a later snapshot, ${r.duplicates} already there, ${r.skipped} not usage, ${r.malformed} malformed; ${(r.bytes / 1048576).toFixed(1)} MB in ${r.seconds.toFixed(1)} s`,
        );
        for (const p of r.problems) out(`  malformed: ${p}`);
      }
      // A file of the wrong kind is an error, not an import of nothing.
      if (r.wrongKind.length) {
        for (const w of r.wrongKind) process.stderr.write(`tollgate: ${w}\n`);
        process.exitCode = 2;
      }
    });
}
