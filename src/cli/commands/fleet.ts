// tollgate fleet: which machines run stale, edited or unmanaged Claude Code managed settings
// (from the checksums they report with CLAUDE_CODE_GATEWAY_HINT_HEADERS=1).
import type { Command } from 'commander';
import { fleetRows, type FleetRow } from '../../clientconfig/fleet.js';
import { admin } from '../remote.js';
import { iso, out, table, withStore, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('fleet')
    .description('managed settings per machine: current, stale, edited or unmanaged (needs CLAUDE_CODE_GATEWAY_HINT_HEADERS=1 in the settings served)')
    .option('--json')
    .option('--all', 'also the machines that run what they should')
    .action(async (o: { json?: boolean; all?: boolean }) => {
      const g = globals();
      const all = g.url
        ? ((await admin(g.url, 'GET', '/admin/fleet')) as (Omit<FleetRow, 'seen_at'> & { seen_at: string })[])
        : await withStore(g, (store, loaded) =>
            fleetRows(store.listFleet(), store.servedSettings(), loaded.config.managed_settings).map((r) => ({ ...r, seen_at: iso(r.seen_at) as string })),
          );
      const rows = all.filter((r) => o.all || r.status !== 'current');
      // The checksum is sensitive: shown shortened, in full only in JSON.
      if (o.json) return out(JSON.stringify(rows, null, 2));
      out(
        table(
          ['USER', 'TEAM', 'STATUS', 'RUNS', 'SHOULD RUN', 'LAST SEEN', 'IDENTITY'],
          rows.map((r) => [r.user, r.team, r.status, r.checksum.slice(7, 19), r.expected?.slice(7, 19) ?? '-', r.seen_at, r.identity]),
        ),
      );
    });
}
