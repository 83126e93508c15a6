// tollgate ingest <kind> <files…> and tollgate identities add|list|remove
import type { Command } from 'commander';
import { addIdentity, listIdentities, removeIdentity } from '../../ingest/identities.js';
import { IMPORT_KINDS, Importer, type ImportKind } from '../../ingest/importers.js';
import { PriceBook } from '../../metering/prices.js';
import { loadCatalog } from '../../routing/catalog.js';
import { SqliteStore } from '../../store/sqlite/index.js';
import { openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';

function sqlite(g: GlobalOpts): { store: SqliteStore; prices: PriceBook; appProfiles: Map<string, string> } {
  const loaded = openConfig(g);
  const store = openStore(loaded);
  if (!(store instanceof SqliteStore)) throw new UsageError('imports need the SQLite store');
  const catalog = loadCatalog();
  // Application inference profile ARN → model, from the Bedrock upstreams' config, so logs
  // that name only the ARN are priced as the model behind it.
  const appProfiles = new Map<string, string>();
  for (const u of loaded.config.upstreams) {
    if (u.type !== 'bedrock') continue;
    const maps = [u.application_inference_profiles ?? {}, ...Object.values(u.team_inference_profiles ?? {})];
    for (const m of maps) for (const [model, arn] of Object.entries(m)) appProfiles.set(arn, catalog.resolve(model)?.id ?? model);
  }
  return { store, prices: PriceBook.load(catalog, { file: loaded.config.prices.file, overrides: loaded.config.prices.overrides }), appProfiles };
}

export function register(program: Command, globals: () => GlobalOpts): void {
  program.command('ingest')
    .description('import usage kept outside the gateway (gzip and directories accepted; importing the same file twice changes nothing)')
    .argument('<kind>', IMPORT_KINDS.join(' | '))
    .argument('<files...>', 'files or directories')
    .option('--user <principal>', 'claude-transcripts: whose transcripts these are (an external id mapped with tollgate identities)')
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress on stderr')
    .action(async (kind: string, files: string[], o: { user?: string; json?: boolean; quiet?: boolean }) => {
      if (!(IMPORT_KINDS as readonly string[]).includes(kind)) throw new UsageError(`${kind}: expected one of ${IMPORT_KINDS.join(', ')}`);
      const { store, prices, appProfiles } = sqlite(globals());
      try {
        const r = await new Importer(store.db, prices, { principal: o.user, appProfiles, progress: !o.quiet && !o.json && Boolean(process.stderr.isTTY) }).run(kind as ImportKind, files).catch((err: Error) => {
          throw new UsageError(err.message);
        });
        if (o.json) out(JSON.stringify(r, null, 2));
        else {
          out(`${kind}: ${r.files} file(s), ${r.records} record(s): ${r.imported} imported, ${r.updated} updated to a later snapshot, ${r.duplicates} already there, ${r.skipped} not usage, ${r.malformed} malformed; ${(r.bytes / 1048576).toFixed(1)} MB in ${r.seconds.toFixed(1)} s`);
          for (const p of r.problems) out(`  malformed: ${p}`);
        }
        // A file of the wrong kind is an error, not an import of nothing.
        if (r.wrongKind.length) {
          for (const w of r.wrongKind) process.stderr.write(`tollgate: ${w}\n`);
          process.exitCode = 2;
        }
      } finally {
        store.close();
      }
    });

  const ids = program.command('identities').description('map external identities (IAM ARNs, assumed-role session names, emails, OTel user.id) to users and teams');
  ids.command('add').argument('<external-id>').requiredOption('--user <user>').option('--team <team>')
    .action((ext: string, o: { user: string; team?: string }) => {
      const { store } = sqlite(globals());
      try {
        addIdentity(store.db, { external_id: ext, user: o.user, team: o.team ?? null });
        out(`${ext} → ${o.user}${o.team ? ` (${o.team})` : ''}`);
      } finally {
        store.close();
      }
    });
  ids.command('list').option('--json').action((o: { json?: boolean }) => {
    const { store } = sqlite(globals());
    try {
      const rows = listIdentities(store.db);
      out(o.json ? JSON.stringify(rows, null, 2) : table(['EXTERNAL ID', 'USER', 'TEAM'], rows.map((r) => [r.external_id, r.user, r.team])));
    } finally {
      store.close();
    }
  });
  ids.command('remove').argument('<external-id>').action((ext: string) => {
    const { store } = sqlite(globals());
    try {
      if (!removeIdentity(store.db, ext)) throw new UsageError(`no identity ${ext}`);
      out(`removed ${ext}`);
    } finally {
      store.close();
    }
  });
}
