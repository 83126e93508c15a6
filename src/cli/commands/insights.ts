// tollgate insights: the cost drivers behind the spend.
import type { Command } from 'commander';
import { PriceBook } from '../../metering/prices.js';
import { insightsFrom, summarizeInsights } from '../../reports/insights.js';
import { loadCatalog } from '../../routing/catalog.js';
import { parseTime } from '../../util/time.js';
import { formatUsdAmount } from '../../metering/prices.js';
import { openConfig, openStore, out, positiveInt, table, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('insights')
    .description('cost drivers per user and session: cache hit rate, idle-gap cache rebuilds, short sessions, output share, model drift, input growth')
    .option('--user <user>')
    .option('--team <team>')
    .option('--since <time>', 'from (default: 30d)', '30d')
    .option('--until <time>')
    .option('--limit <n>', 'show the n findings with the most avoidable dollars (default 20; JSON: all)', positiveInt('--limit'))
    .option('--json')
    .action((o: { user?: string; team?: string; since: string; until?: string; json?: boolean; limit?: number }) => {
      const since = parseTime(o.since);
      const until = o.until ? parseTime(o.until) : undefined;
      const loaded = openConfig(globals());
      const store = openStore(loaded);
      try {
        const q = { since, until, user: o.user, team: o.team };
        // Lines in time order, folded into running figures per user and session; the total comes
        // from the rollups.
        const found = insightsFrom(
          store.iterateUsageLines(q),
          PriceBook.load(loadCatalog(), { file: loaded.config.prices.file, overrides: loaded.config.prices.overrides }),
        );
        const summary = summarizeInsights(found, Number(store.report([], q)[0]?.cost_nanousd ?? 0));
        const shown = found.slice(0, o.limit ?? (o.json ? found.length : 20));
        if (o.json) return out(JSON.stringify({ summary, findings: shown }, null, 2));
        if (found.length === 0) return out('no ledger lines in that range');
        const kinds = Object.entries(summary.avoidable_by_kind)
          .sort(([, a], [, b]) => b - a)
          .map(([k, v]) => `${k.replace(/_/g, ' ')} $${formatUsdAmount(v, 2)}`);
        out(
          `${summary.findings} findings over $${formatUsdAmount(summary.ledger_usd, 2)} of spend; avoidable: $${formatUsdAmount(summary.avoidable_usd, 2)}${kinds.length ? ` (${kinds.join(', ')})` : ''}`,
        );
        out(`showing ${shown.length} of ${found.length}, most avoidable first${shown.length < found.length ? ' (--limit for more)' : ''}:\n`);
        out(
          table(
            ['AVOIDABLE $', 'OF $', 'USER', 'SESSION', 'FINDING'],
            shown.map((f) => [formatUsdAmount(f.avoidable_usd, 4), formatUsdAmount(f.cost_usd, 4), f.user, f.session ?? '', f.kind]),
          ),
        );
        for (const f of shown)
          out(
            `${f.kind} (${f.user}${f.session ? `, ${f.session}` : ''}): ${f.detail}${f.lines.length ? `; lines: ${f.lines.slice(0, 5).join(', ')}${f.lines.length > 5 ? ` (+${f.lines.length - 5})` : ''}` : ''}`,
          );
      } finally {
        store.close();
      }
    });
}
