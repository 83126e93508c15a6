// tollgate usage [summary]
import type { Command } from 'commander';
import { formatUsd, nanoToUsd } from '../../metering/prices.js';
import { SUMMARY_DIMENSIONS, type LedgerLine, type LedgerQuery, type SummaryDimension, type SummaryRow } from '../../store/types.js';
import { externalRecords, externalReport, USAGE_SOURCES, type UsageSource } from '../../reports/sources.js';
import { loadCatalog } from '../../routing/catalog.js';
import { SqliteStore } from '../../store/sqlite/index.js';
import { parseTime } from '../../util/time.js';
import { iso, openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';

interface FilterOpts { since?: string; until?: string; user?: string; team?: string; project?: string; key?: string }

function query(o: FilterOpts): LedgerQuery {
  return {
    since: o.since ? parseTime(o.since) : undefined, until: o.until ? parseTime(o.until) : undefined,
    user: o.user, team: o.team, project: o.project, keyId: o.key,
  };
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
    .option('--source <source>', `whose records: ${USAGE_SOURCES.join(' | ')} (imported records through tollgate identities)`, 'ledger')
    .action((o: FilterOpts & { json?: boolean; limit?: number; source: string }) => {
      if (!(USAGE_SOURCES as readonly string[]).includes(o.source)) throw new UsageError(`--source ${o.source}: use one of ${USAGE_SOURCES.join(', ')}`);
      const store = openStore(openConfig(globals()));
      try {
        if (o.source !== 'ledger') {
          if (!(store instanceof SqliteStore)) throw new UsageError('imported usage needs the SQLite store');
          const ledger = o.source === 'all' ? store.queryLedger(query(o)).map((l) => ({ source: 'ledger', ...lineToJson(l) })) : [];
          let recs: Record<string, unknown>[] = [...ledger, ...externalRecords(store.db, loadCatalog(), o.source as Exclude<UsageSource, 'ledger'>, query(o))
            .map(({ ts, cost_nanousd, ...r }) => ({ ...r, time: iso(ts as number), cost_usd: nanoToUsd(cost_nanousd as number), cost_nanousd }))];
          recs.sort((a, b) => String(a.time).localeCompare(String(b.time)));
          if (o.limit !== undefined) recs = recs.slice(-o.limit);
          if (o.json) return out(JSON.stringify(recs, null, 2));
          out(table(['TIME', 'SOURCE', 'USER', 'MODEL', 'IN', 'OUT', 'CACHE R', 'COST USD'],
            recs.map((r) => [String(r.time), String(r.source), r.user as string | null, (r.model ?? r.model_served ?? r.model_requested) as string | null, Number(r.input_tokens), Number(r.output_tokens),
              Number(r.cache_read_input_tokens), formatUsd(Number(r.cost_nanousd), 6)])));
          return;
        }
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
    .option('--source <source>', `whose records: ${USAGE_SOURCES.join(' | ')} (imported usage through tollgate identities)`, 'ledger')
    .option('--json', 'print a JSON array')
    .action((o: FilterOpts & { by: string; json?: boolean; source: string }) => {
      if (!(SUMMARY_DIMENSIONS as readonly string[]).includes(o.by)) throw new UsageError(`--by ${o.by}: expected one of ${SUMMARY_DIMENSIONS.join(', ')}`);
      if (!(USAGE_SOURCES as readonly string[]).includes(o.source)) throw new UsageError(`--source ${o.source}: use one of ${USAGE_SOURCES.join(', ')}`);
      const by = o.by as SummaryDimension;
      const source = o.source as UsageSource;
      const store = openStore(openConfig(globals()));
      try {
        // Each source's rows stay apart (source field): the same spend can appear in several
        // records (a gateway call in the ledger, its invocation log, the bill), so summing
        // across sources would count it twice.
        let rows: (SummaryRow & { source?: string })[];
        if (source === 'ledger') rows = store.summarize(by, query(o));
        else {
          if (!(store instanceof SqliteStore)) throw new UsageError('imported usage needs the SQLite store');
          const num = (r: Record<string, unknown>, f: string) => Number(r[f] ?? 0);
          rows = [
            ...(source === 'all' ? store.summarize(by, query(o)).map((r) => ({ source: 'ledger', ...r })) : []),
            ...externalReport(store.db, loadCatalog(), source, [by], query(o)).map((r) => ({
              source: String(r.source), group: r[by] === null || r[by] === undefined ? null : String(r[by]),
              requests: num(r, 'requests'), input_tokens: num(r, 'input_tokens'), output_tokens: num(r, 'output_tokens'), cache_read_input_tokens: num(r, 'cache_read_input_tokens'),
              cache_creation_5m_input_tokens: num(r, 'cache_creation_5m_input_tokens'), cache_creation_1h_input_tokens: num(r, 'cache_creation_1h_input_tokens'),
              web_search_requests: num(r, 'web_search_requests'), cost_nanousd: num(r, 'cost_nanousd'), unpriced_requests: num(r, 'unpriced_requests'),
            })),
          ];
        }
        if (o.json) {
          out(JSON.stringify(rows.map(({ group, cost_nanousd, ...r }) => ({ [by]: group, ...r, cost_usd: nanoToUsd(cost_nanousd), cost_nanousd })), null, 2));
          return;
        }
        const total = rows.reduce((a, r) => a + BigInt(r.cost_nanousd), 0n);
        const withSource = source !== 'ledger';
        out(table([...(withSource ? ['SOURCE'] : []), by.toUpperCase(), 'REQUESTS', 'IN', 'OUT', 'CACHE R', 'CACHE W5M', 'CACHE W1H', 'WEB SEARCH', 'COST USD', 'UNPRICED'],
          [...rows.map((r) => [...(withSource ? [r.source] : []), r.group, r.requests, r.input_tokens, r.output_tokens, r.cache_read_input_tokens, r.cache_creation_5m_input_tokens,
            r.cache_creation_1h_input_tokens, r.web_search_requests, formatUsd(r.cost_nanousd, 6), r.unpriced_requests]),
          // Across sources the same spend can recur (ledger, its log, the bill): no grand total then.
          ...(source === 'ledger' || source !== 'all' ? [[...(withSource ? [''] : []), 'TOTAL', rows.reduce((a, r) => a + r.requests, 0), '', '', '', '', '', '', formatUsd(total, 6), '']] : [])]));
      } finally {
        store.close();
      }
    });
}
