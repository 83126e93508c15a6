// tollgate usage [summary]
import type { Command } from 'commander';
import { formatUsd, nanoToUsd } from '../../metering/prices.js';
import { SUMMARY_DIMENSIONS, type LedgerLine, type LedgerQuery, type SummaryDimension } from '../../store/types.js';
import { parseTime } from '../../util/time.js';
import { iso, openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';

interface FilterOpts { since?: string; until?: string; user?: string; team?: string; project?: string; key?: string }

function query(o: FilterOpts): LedgerQuery {
  try {
    return {
      since: o.since ? parseTime(o.since) : undefined, until: o.until ? parseTime(o.until) : undefined,
      user: o.user, team: o.team, project: o.project, keyId: o.key,
    };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A ledger line as printed by `usage --json`: the ledger's field names, time as ISO, cost in USD. */
export function lineToJson(l: LedgerLine): Record<string, unknown> {
  const { ts, cost_nanousd, ...rest } = l;
  return { ...rest, time: iso(ts), cost_usd: nanoToUsd(cost_nanousd), cost_nanousd };
}

function filters(c: Command): Command {
  return c.option('--since <time>', 'from this time (ISO date/time, or 24h, 7d …)')
    .option('--until <time>', 'up to this time (exclusive)')
    .option('--user <user>').option('--team <team>').option('--project <project>').option('--key <id>', 'key id');
}

export function register(program: Command, globals: () => GlobalOpts): void {
  const usage = filters(program.command('usage')
    .description('print ledger lines, one per request (see also: usage summary)')
    // Options after "summary" belong to it (both have --json).
    .enablePositionalOptions())
    .option('--limit <n>', 'at most n lines (the latest)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new UsageError('--limit: expected a positive integer');
      return n;
    })
    .option('--json', 'print a JSON array of ledger lines')
    .action((o: FilterOpts & { json?: boolean; limit?: number }) => {
      const store = openStore(openConfig(globals()));
      try {
        let lines = store.queryLedger(query(o));
        if (o.limit !== undefined) lines = lines.slice(-o.limit);
        if (o.json) {
          out(JSON.stringify(lines.map(lineToJson), null, 2));
          return;
        }
        out(table(['TIME', 'USER', 'TEAM', 'MODEL', 'STATUS', 'IN', 'OUT', 'CACHE R', 'CACHE W5M', 'CACHE W1H', 'COST USD', 'SESSION'],
          lines.map((l) => [iso(l.ts), l.user, l.team, l.model_served ?? l.model_requested, l.http_status + (l.client_aborted ? ' (aborted)' : ''),
            l.input_tokens, l.output_tokens, l.cache_read_input_tokens, l.cache_creation_5m_input_tokens, l.cache_creation_1h_input_tokens,
            l.priced ? formatUsd(l.cost_nanousd, 6) : 'unpriced', l.session_id])));
      } finally {
        store.close();
      }
    });

  filters(usage.command('summary')
    .description('totals grouped by one dimension'))
    .requiredOption('--by <dim>', `one of ${SUMMARY_DIMENSIONS.join(', ')}`)
    .option('--json', 'print a JSON array')
    .action((o: FilterOpts & { by: string; json?: boolean }) => {
      if (!(SUMMARY_DIMENSIONS as readonly string[]).includes(o.by)) throw new UsageError(`--by ${o.by}: expected one of ${SUMMARY_DIMENSIONS.join(', ')}`);
      const by = o.by as SummaryDimension;
      const store = openStore(openConfig(globals()));
      try {
        const rows = store.summarize(by, query(o));
        if (o.json) {
          out(JSON.stringify(rows.map(({ group, cost_nanousd, ...r }) => ({ [by]: group, ...r, cost_usd: nanoToUsd(cost_nanousd), cost_nanousd })), null, 2));
          return;
        }
        const total = rows.reduce((a, r) => a + BigInt(r.cost_nanousd), 0n);
        out(table([by.toUpperCase(), 'REQUESTS', 'IN', 'OUT', 'CACHE R', 'CACHE W5M', 'CACHE W1H', 'WEB SEARCH', 'COST USD', 'UNPRICED'],
          [...rows.map((r) => [r.group, r.requests, r.input_tokens, r.output_tokens, r.cache_read_input_tokens, r.cache_creation_5m_input_tokens,
            r.cache_creation_1h_input_tokens, r.web_search_requests, formatUsd(r.cost_nanousd, 6), r.unpriced_requests]),
          ['TOTAL', rows.reduce((a, r) => a + r.requests, 0), '', '', '', '', '', '', formatUsd(total, 6), '']]));
      } finally {
        store.close();
      }
    });
}
