// tollgate identities add|list|remove: who is who across systems (IAM ARNs, assumed-role
// session names, emails, OTel user.id), so imported usage joins the ledger's people.
import type { Command } from 'commander';
import { out, table, UsageError, withStore, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  const ids = program
    .command('identities')
    .description('map external identities (IAM ARNs, assumed-role session names, emails, OTel user.id) to users and teams');
  ids
    .command('add')
    .description('map an external id to a user (and team)')
    .argument('<external-id>')
    .requiredOption('--user <user>')
    .option('--team <team>')
    .action((ext: string, o: { user: string; team?: string }) =>
      withStore(globals(), (store) => {
        store.upsertIdentity({ external_id: ext, user: o.user, team: o.team ?? null });
        out(`${ext} → ${o.user}${o.team ? ` (${o.team})` : ''}`);
      }),
    );
  ids
    .command('list')
    .description('every mapping')
    .option('--json')
    .action((o: { json?: boolean }) =>
      withStore(globals(), (store) => {
        const rows = store.listIdentities();
        out(
          o.json
            ? JSON.stringify(rows, null, 2)
            : table(
                ['EXTERNAL ID', 'USER', 'TEAM'],
                rows.map((r) => [r.external_id, r.user, r.team]),
              ),
        );
      }),
    );
  ids
    .command('remove')
    .description('forget a mapping')
    .argument('<external-id>')
    .action((ext: string) =>
      withStore(globals(), (store) => {
        if (!store.removeIdentity(ext)) throw new UsageError(`no identity ${ext}`);
        out(`removed ${ext}`);
      }),
    );
}
