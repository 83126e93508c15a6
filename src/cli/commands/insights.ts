// tollgate insights: the cost drivers behind the spend.
import type { Command } from 'commander';
import { PriceBook } from '../../metering/prices.js';
import { insights } from '../../reports/insights.js';
import { loadCatalog } from '../../routing/catalog.js';
import { parseTime } from '../../util/time.js';
import { formatUsdAmount } from '../../metering/prices.js';
import { openConfig, openStore, out, UsageError, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  program.command('insights')
    .description('cost drivers per user and session: cache hit rate, idle-gap cache rebuilds, short sessions, output share, model drift, input growth')
    .option('--user <user>').option('--team <team>')
    .option('--since <time>', 'from (default: 30d)', '30d').option('--until <time>')
    .option('--json')
    .action((o: { user?: string; team?: string; since: string; until?: string; json?: boolean }) => {
      let since: number;
      let until: number | undefined;
      try {
        since = parseTime(o.since);
        until = o.until ? parseTime(o.until) : undefined;
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const loaded = openConfig(globals());
      const store = openStore(loaded);
      try {
        const lines = store.queryLedger({ since, until, user: o.user, team: o.team });
        const found = insights(lines, PriceBook.load(loadCatalog(), { file: loaded.config.prices.file, overrides: loaded.config.prices.overrides }));
        if (o.json) return out(JSON.stringify(found, null, 2));
        if (found.length === 0) return out('no ledger lines in that range');
        for (const f of found) out(`$${formatUsdAmount(f.usd, 4).padStart(10)}  ${f.user}${f.session ? ` [${f.session}]` : ''}  ${f.kind}: ${f.detail}${f.lines.length ? `\n             lines: ${f.lines.slice(0, 5).join(', ')}${f.lines.length > 5 ? ` (+${f.lines.length - 5})` : ''}` : ''}`);
      } finally {
        store.close();
      }
    });
}
