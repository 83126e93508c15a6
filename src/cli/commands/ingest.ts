// tollgate ingest <kind> <files…>: usage kept outside the gateway, into the store.
import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { IMPORT_KINDS, Importer, type ImportKind } from '../../ingest/importers.js';
import { PriceBook } from '../../metering/prices.js';
import { loadCatalog, type ModelCatalog } from '../../routing/catalog.js';
import { out, UsageError, withStore, type GlobalOpts } from '../shared.js';

/** Application inference profile ARN → model, from the Bedrock upstreams' config, so logs that
 * name only the ARN are priced as the model behind it. */
function appProfiles(config: Config, catalog: ModelCatalog): Map<string, string> {
  const m = new Map<string, string>();
  for (const u of config.upstreams) {
    if (u.type !== 'bedrock') continue;
    const maps = [u.application_inference_profiles ?? {}, ...Object.values(u.team_inference_profiles ?? {})];
    for (const map of maps) for (const [model, arn] of Object.entries(map)) m.set(arn, catalog.resolve(model)?.id ?? model);
  }
  return m;
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
    .action((kind: string, files: string[], o: { user?: string; json?: boolean; quiet?: boolean }) => {
      if (!(IMPORT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`${kind}: expected one of ${IMPORT_KINDS.join(', ')}`);
      return withStore(globals(), async (store, loaded) => {
        const catalog = loadCatalog();
        const prices = PriceBook.load(catalog, { file: loaded.config.prices.file, overrides: loaded.config.prices.overrides });
        const importer = new Importer(store, prices, {
          principal: o.user,
          appProfiles: appProfiles(loaded.config, catalog),
          progress: !o.quiet && !o.json && Boolean(process.stderr.isTTY),
        });
        const r = await importer.run(kind as ImportKind, files).catch((err: Error) => {
          throw new UsageError(err.message);
        });
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
    });
}
