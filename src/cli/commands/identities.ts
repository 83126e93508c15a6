// tollgate identities add|list|remove: who is who across systems (IAM ARNs, assumed-role
// session names, emails, OTel user.id), so imported usage joins the ledger's people.
import type { Command } from 'commander';
import { out, table, UsageError, withStore, type GlobalOpts } from '../shared.js';
import { admin } from '../remote.js';
import type { Identity } from '../../store/types.js';

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
    .action(async (ext: string, o: { user: string; team?: string }) => {
      const g = globals();
      const i = { external_id: ext, user: o.user, team: o.team ?? null };
      if (g.url) await admin(g.url, 'PUT', '/admin/identities', i);
      else await withStore(g, (store) => store.upsertIdentity(i));
      out(`${ext} → ${o.user}${o.team ? ` (${o.team})` : ''}`);
    });
  ids
    .command('list')
    .description('every mapping')
    .option('--json')
    .action(async (o: { json?: boolean }) => {
      const g = globals();
      const rows = g.url ? ((await admin(g.url, 'GET', '/admin/identities')) as Identity[]) : await withStore(g, (store) => store.listIdentities());
      out(
        o.json
          ? JSON.stringify(rows, null, 2)
          : table(
              ['EXTERNAL ID', 'USER', 'TEAM'],
              rows.map((r) => [r.external_id, r.user, r.team]),
            ),
      );
    });
  ids
    .command('remove')
    .description('forget a mapping')
    .argument('<external-id>')
    .action(async (ext: string) => {
      const g = globals();
      if (g.url) await admin(g.url, 'DELETE', `/admin/identities/${encodeURIComponent(ext)}`);
      else
        await withStore(g, (store) => {
          if (!store.removeIdentity(ext)) throw new UsageError(`no identity ${ext}`);
        });
      out(`removed ${ext}`);
    });
}
