// tollgate budgets set|list|remove — on the local store, or a remote gateway with --url.
import type { Command } from 'commander';
import { budgetRows } from '../../admin/operations.js';
import { configBudgetDefs } from '../../policy/budgets.js';
import { admin } from '../remote.js';
import { openConfig, out, table, UsageError, type GlobalOpts } from '../shared.js';
import { withOps } from './keys.js';
import { wallClock } from '../../util/time.js';
import { formatUsdAmount } from '../../metering/prices.js';

interface ScopeOpts {
  key?: string;
  user?: string;
  team?: string;
  project?: string;
  org?: boolean;
}

function scopeOf(o: ScopeOpts): { scope: string; value: string | null } {
  const given = (
    [
      ['key', o.key],
      ['user', o.user],
      ['team', o.team],
      ['project', o.project],
    ] as [string, string | undefined][]
  ).filter(([, v]) => v !== undefined);
  const n = given.length + (o.org ? 1 : 0);
  if (n !== 1) throw new UsageError('give exactly one of --key ID, --user U, --team T, --project P, --org');
  return o.org ? { scope: 'org', value: null } : { scope: given[0]![0], value: given[0]![1] as string };
}

function scopeOptions(c: Command): Command {
  return c
    .option('--key <id>', 'a key id')
    .option('--user <user>')
    .option('--team <team>')
    .option('--project <project>')
    .option('--org', 'the whole organisation');
}

export function register(program: Command, globals: () => GlobalOpts): void {
  const budgets = program.command('budgets').description('spend limits per key, user, team, project or the organisation');

  scopeOptions(budgets.command('set'))
    .description('set (or replace) a budget; a running gateway applies it within a second')
    .argument('<usd>', 'the limit in USD, e.g. 250 or 12.50')
    .option('--daily', 'per calendar day')
    .option('--weekly', 'per week from Monday')
    .option('--monthly', 'per calendar month')
    .option('--total', 'a fixed total, never reset')
    .option('--soft', 'alert only, never refuse (default: hard, refuse when spent)')
    .option('--alert-at <pcts>', 'alert thresholds in percent', '50,80,100')
    .addHelpText(
      'after',
      '\nPeriods are calendar-aligned in spend.timezone (config; default UTC).\nExample: tollgate budgets set --team payments --monthly 500 --alert-at 50,80,100',
    )
    .action(async (usd: string, o: ScopeOpts & { daily?: boolean; weekly?: boolean; monthly?: boolean; total?: boolean; soft?: boolean; alertAt: string }) => {
      const { scope, value } = scopeOf(o);
      const periods = (
        [
          ['day', o.daily],
          ['week', o.weekly],
          ['month', o.monthly],
          ['total', o.total],
        ] as [string, boolean | undefined][]
      ).filter(([, v]) => v);
      if (periods.length !== 1) throw new UsageError('give exactly one of --daily, --weekly, --monthly, --total');
      const alertAt = o.alertAt.split(',').map((s) => Number(s.trim()));
      if (alertAt.some((n) => !Number.isInteger(n) || n < 1 || n > 1000)) throw new UsageError(`--alert-at ${o.alertAt}: percentages such as 50,80,100`);
      const input = { scope, value, period: periods[0]![0], limit_usd: usd, mode: o.soft ? 'soft' : 'hard', alert_at: alertAt };
      const g = globals();
      if (g.url) await admin(g.url, 'PUT', '/admin/budgets', input);
      else withOps(g, (ops) => ops.setBudget(input));
      out(`budget set: ${scope}${value ? ` ${value}` : ''} ${periods[0]![0]} $${usd} (${o.soft ? 'soft' : 'hard'}; alerts at ${alertAt.join(', ')}%)`);
    });

  budgets
    .command('list')
    .description('budgets with spent, remaining, reset time and state')
    .option('--json', 'print a JSON array')
    .action(async (o: { json?: boolean }) => {
      const g = globals();
      let rows: Record<string, unknown>[];
      if (g.url) rows = (await admin(g.url, 'GET', '/admin/budgets')) as Record<string, unknown>[];
      else {
        const loaded = openConfig(g);
        rows = withOps(g, (_ops, store) => budgetRows(store, configBudgetDefs(loaded.config.budgets), loaded.config.spend.timezone, wallClock()));
      }
      if (o.json) return out(JSON.stringify(rows, null, 2));
      out(
        table(
          ['SCOPE', 'PERIOD', 'MODE', 'LIMIT USD', 'SPENT USD', 'REMAINING USD', 'RESETS AT', 'STATE', 'SOURCE'],
          rows.map(
            (r) =>
              [
                `${String(r.scope)}${r.value ? ` ${String(r.value)}` : ''}`,
                r.period,
                r.mode,
                formatUsdAmount(Number(r.limit_usd), 2),
                formatUsdAmount(Number(r.spent_usd), 4),
                formatUsdAmount(Number(r.remaining_usd), 4),
                r.resets_at ?? 'never',
                r.state,
                r.source,
              ] as (string | null)[],
          ),
        ),
      );
    });

  scopeOptions(budgets.command('remove'))
    .description('remove a budget set from the CLI or admin API (all periods unless one is given)')
    .option('--daily')
    .option('--weekly')
    .option('--monthly')
    .option('--total')
    .action(async (o: ScopeOpts & { daily?: boolean; weekly?: boolean; monthly?: boolean; total?: boolean }) => {
      const { scope, value } = scopeOf(o);
      const period = o.daily ? 'day' : o.weekly ? 'week' : o.monthly ? 'month' : o.total ? 'total' : undefined;
      const g = globals();
      let n: number;
      if (g.url) {
        const q = new URLSearchParams({ scope, ...(value ? { value } : {}), ...(period ? { period } : {}) });
        n = ((await admin(g.url, 'DELETE', `/admin/budgets?${q}`)) as { removed: number }).removed;
      } else n = withOps(g, (ops) => ops.removeBudget({ scope, value, period }));
      out(`removed ${n} budget${n === 1 ? '' : 's'}`);
    });
}
