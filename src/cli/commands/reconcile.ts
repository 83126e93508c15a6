// tollgate reconcile: the ledger next to Claude Code's telemetry estimate.
import type { Command } from 'commander';
import { reconcile, type ReconcileBy, type ReconcileResult } from '../../reports/reconcile.js';
import { admin } from '../remote.js';
import { parseTime, wallClock } from '../../util/time.js';
import { formatUsdAmount } from '../../metering/prices.js';
import { loadCatalog } from '../../routing/catalog.js';
import { openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';

async function remote(url: string, query: Record<string, string | number>): Promise<ReconcileResult> {
  const r = (await admin(url, 'GET', '/admin/reconcile', undefined, { query })) as { rows: ReconcileResult['rows']; not_set_up: ReconcileResult['notSetUp'] };
  return { rows: r.rows, notSetUp: r.not_set_up };
}

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('reconcile')
    .description(
      "side by side per group and day: the gateway ledger, Claude Code's telemetry and transcripts, Bedrock invocation logs, CloudTrail and the bill (CUR); every difference flagged with its likely cause",
    )
    .option('--since <time>', 'from (ISO date/time, or 7d …)', '30d')
    .option('--until <time>')
    .option('--by <dim>', 'user | team | model | day', 'user')
    .option('--threshold <pct>', 'flag differences above this percentage (and $0.01)', '1')
    .option('--json')
    .action(async (o: { since: string; until?: string; by: string; threshold: string; json?: boolean }) => {
      if (!['user', 'team', 'model', 'day'].includes(o.by)) throw new UsageError('--by: user, team, model or day');
      const pct = Number(o.threshold);
      if (!Number.isFinite(pct) || pct < 0) throw new UsageError('--threshold: a percentage such as 1');
      const since = parseTime(o.since);
      const until = o.until ? parseTime(o.until) : wallClock() + 60_000;
      const g = globals();
      const store = g.url ? null : openStore(openConfig(g));
      try {
        const { rows, notSetUp } = store
          ? reconcile(store, loadCatalog(), o.by as ReconcileBy, since, until, { pct, usd: 0.01 })
          : await remote(g.url as string, { since: new Date(since).toISOString(), until: new Date(until).toISOString(), by: o.by, threshold: pct });
        // Said once, not as a flag on every row.
        if (notSetUp.length) process.stderr.write(`not compared (no records imported or received): ${notSetUp.join(', ')}\n`);
        if (o.json) return out(JSON.stringify(rows, null, 2));
        out(
          table(
            [
              'DAY',
              o.by.toUpperCase(),
              'LEDGER USD',
              'TELEMETRY USD',
              'BEDROCK LOGS USD',
              'BYPASS USD',
              'CUR USD',
              'TRANSCRIPTS USD',
              'CLOUDTRAIL CALLS',
              'DIFF USD',
              'FLAGS',
            ],
            rows.map((r) => [
              r.day,
              r.group,
              ...[r.ledger_usd, r.telemetry_usd, r.bedrock_logs_usd, r.bypass_usd, r.cur_usd, r.transcripts_usd].map((v) => formatUsdAmount(v, 4)),
              r.cloudtrail_calls,
              formatUsdAmount(r.difference_usd, 4),
              r.flags.map((f) => `! ${f}`).join(' '),
            ]),
          ),
        );
      } finally {
        store?.close();
      }
    });
}
