// tollgate usage [summary]
import type { Command } from 'commander';
import { formatUsd, nanoToUsd } from '../../metering/prices.js';
import { lineFromJson, lineToJson, summaryFromJson, summaryRows, summaryToJson, type SummaryResultRow } from '../../reports/queries.js';
import { admin } from '../remote.js';
import { SUMMARY_DIMENSIONS, type LedgerLine, type LedgerQuery, type Store, type SummaryDimension } from '../../store/types.js';
import { externalRecords, USAGE_SOURCES, type UsageSource } from '../../reports/sources.js';
import { loadCatalog } from '../../routing/catalog.js';
import { parseTime } from '../../util/time.js';
import { iso, openConfig, openStore, out, positiveInt, StreamOut, table, UsageError, withStore, type GlobalOpts } from '../shared.js';

interface FilterOpts {
  since?: string;
  until?: string;
  user?: string;
  team?: string;
  project?: string;
  key?: string;
}

function query(o: FilterOpts): LedgerQuery {
  return {
    since: o.since ? parseTime(o.since) : undefined,
    until: o.until ? parseTime(o.until) : undefined,
    user: o.user,
    team: o.team,
    project: o.project,
    keyId: o.key,
  };
}

/** The filters as the admin API's query parameters. */
function remoteFilters(o: FilterOpts, extra: Record<string, string | number | undefined>): Record<string, string | number | undefined> {
  return { since: o.since, until: o.until, user: o.user, team: o.team, project: o.project, key: o.key, ...extra };
}

function filters(c: Command): Command {
  return c
    .option('--since <time>', 'from this time (ISO date/time, or 24h, 7d …)')
    .option('--until <time>', 'up to this time (exclusive)')
    .option('--user <user>')
    .option('--team <team>')
    .option('--project <project>')
    .option('--key <id>', 'key id');
}

const LINE_HEADERS = ['TIME', 'USER', 'TEAM', 'MODEL', 'STATUS', 'IN', 'OUT', 'CACHE R', 'CACHE W5M', 'CACHE W1H', 'COST USD', 'SESSION'];

function lineCells(l: LedgerLine): (string | number | null)[] {
  return [
    iso(l.ts),
    l.user,
    l.team,
    l.model_served ?? l.model_requested,
    l.http_status + (l.client_aborted ? ' (aborted)' : ''),
    l.input_tokens,
    l.output_tokens,
    l.cache_read_input_tokens,
    l.cache_creation_5m_input_tokens,
    l.cache_creation_1h_input_tokens,
    l.priced ? formatUsd(l.cost_nanousd, 6) : 'unpriced',
    l.session_id,
  ];
}

/** Ledger lines as a JSON array (the same text JSON.stringify(all, null, 2) gives) or a table,
 * written as they are read: memory stays bounded however many lines the range holds. The
 * table's column widths come from the first 1,000 rows. */
async function streamLines(lines: Iterable<LedgerLine>, json: boolean): Promise<void> {
  const w = new StreamOut();
  if (json) {
    let first = true;
    await w.write('[');
    for (const l of lines) {
      // Stringified as the element of a one-element array: already indented as it will
      // be printed (no second pass over the text to indent it).
      const text = JSON.stringify([lineToJson(l)], null, 2);
      await w.write((first ? '\n' : ',\n') + text.slice(2, -2));
      first = false;
    }
    await w.write(first ? ']\n' : '\n]\n');
    return w.flush();
  }
  const it = lines[Symbol.iterator]();
  const head: LedgerLine[] = [];
  for (let r = it.next(); !r.done; r = it.next()) {
    head.push(r.value);
    if (head.length >= 1000) break;
  }
  const cells = head.map(lineCells).map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const widths = LINE_HEADERS.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd() + '\n';
  await w.write(fmt(LINE_HEADERS) + fmt(widths.map((n) => '-'.repeat(n))));
  for (const r of cells) await w.write(fmt(r));
  for (let r = it.next(); !r.done; r = it.next()) await w.write(fmt(lineCells(r.value).map((c) => (c === null ? '-' : String(c)))));
  return w.flush();
}

export function register(program: Command, globals: () => GlobalOpts): void {
  const usage = filters(
    program
      .command('usage')
      .description('print ledger lines, one per request, oldest first (see also: usage summary)')
      // Options after "summary" belong to it (both have --json).
      .enablePositionalOptions(),
  )
    .option('--limit <n>', 'at most n lines (the latest)', positiveInt('--limit'))
    .option('--json', 'print a JSON array of ledger lines')
    .option('--source <source>', `whose records: ${USAGE_SOURCES.join(' | ')} (imported records through tollgate identities)`, 'ledger')
    .action(async (o: FilterOpts & { json?: boolean; limit?: number; source: string }) => {
      if (!(USAGE_SOURCES as readonly string[]).includes(o.source)) throw new UsageError(`--source ${o.source}: use one of ${USAGE_SOURCES.join(', ')}`);
      const g = globals();
      if (g.url) {
        if (o.source !== 'ledger') throw new UsageError('--source: with --url only the ledger (imported records: usage summary or report --source)');
        const rows = (await admin(g.url, 'GET', '/admin/usage', undefined, { query: remoteFilters(o, { limit: o.limit }) })) as Record<string, unknown>[];
        if (o.json) return out(JSON.stringify(rows, null, 2));
        return streamLines(rows.map(lineFromJson), false);
      }
      return withStore(g, async (store) => {
        if (o.source !== 'ledger') {
          const ledger = o.source === 'all' ? store.queryLedger(query(o)).map((l) => ({ source: 'ledger', ...lineToJson(l) })) : [];
          let recs: Record<string, unknown>[] = [
            ...ledger,
            ...[...externalRecords(store, loadCatalog(), o.source as Exclude<UsageSource, 'ledger'>, query(o))].map(({ ts, cost_nanousd, ...r }) => ({
              ...r,
              time: iso(ts as number),
              cost_usd: nanoToUsd(cost_nanousd as number),
              cost_nanousd,
            })),
          ];
          recs.sort((a, b) => String(a.time).localeCompare(String(b.time)));
          if (o.limit !== undefined) recs = recs.slice(-o.limit);
          if (o.json) return out(JSON.stringify(recs, null, 2));
          out(
            table(
              ['TIME', 'SOURCE', 'USER', 'MODEL', 'IN', 'OUT', 'CACHE R', 'COST USD'],
              recs.map((r) => [
                String(r.time),
                String(r.source),
                r.user as string | null,
                (r.model ?? r.model_served ?? r.model_requested) as string | null,
                Number(r.input_tokens),
                Number(r.output_tokens),
                Number(r.cache_read_input_tokens),
                formatUsd(Number(r.cost_nanousd), 6),
              ]),
            ),
          );
          return;
        }
        // The latest n: read newest first with a LIMIT, print oldest first.
        const lines = o.limit !== undefined ? store.queryLedger({ ...query(o), limit: o.limit, latest: true }).reverse() : store.iterateLedger(query(o));
        await streamLines(lines, Boolean(o.json));
      });
    });

  filters(usage.command('summary').description('totals grouped by one dimension'))
    .requiredOption('--by <dim>', `one of ${SUMMARY_DIMENSIONS.join(', ')}`)
    .option('--source <source>', `whose records: ${USAGE_SOURCES.join(' | ')} (imported usage through tollgate identities)`, 'ledger')
    .option('--json', 'print a JSON array')
    .action(async (o: FilterOpts & { by: string; json?: boolean; source: string }) => {
      if (!(SUMMARY_DIMENSIONS as readonly string[]).includes(o.by)) throw new UsageError(`--by ${o.by}: expected one of ${SUMMARY_DIMENSIONS.join(', ')}`);
      if (!(USAGE_SOURCES as readonly string[]).includes(o.source)) throw new UsageError(`--source ${o.source}: use one of ${USAGE_SOURCES.join(', ')}`);
      const by = o.by as SummaryDimension;
      const source = o.source as UsageSource;
      const g = globals();
      let rows: SummaryResultRow[] = [];
      let store: Store | null = null;
      if (g.url) {
        const remote = (await admin(g.url, 'GET', '/admin/usage/summary', undefined, { query: remoteFilters(o, { by, source }) })) as Record<string, unknown>[];
        if (o.json) return out(JSON.stringify(remote, null, 2));
        rows = summaryFromJson(by, remote);
      } else {
        store = openStore(openConfig(g));
      }
      try {
        if (store) rows = summaryRows(store, loadCatalog(), by, query(o), source);
        if (o.json) return out(JSON.stringify(summaryToJson(by, rows), null, 2));
        const total = rows.reduce((a, r) => a + BigInt(r.cost_nanousd), 0n);
        const withSource = source !== 'ledger';
        out(
          table(
            [
              ...(withSource ? ['SOURCE'] : []),
              by.toUpperCase(),
              'REQUESTS',
              'IN',
              'OUT',
              'CACHE R',
              'CACHE W5M',
              'CACHE W1H',
              'WEB SEARCH',
              'COST USD',
              'UNPRICED',
            ],
            [
              ...rows.map((r) => [
                ...(withSource ? [r.source] : []),
                r.group,
                r.requests,
                r.input_tokens,
                r.output_tokens,
                r.cache_read_input_tokens,
                r.cache_creation_5m_input_tokens,
                r.cache_creation_1h_input_tokens,
                r.web_search_requests,
                formatUsd(r.cost_nanousd, 6),
                r.unpriced_requests,
              ]),
              // Across sources the same spend can recur (ledger, its log, the bill): no grand total then.
              ...(source === 'ledger' || source !== 'all'
                ? [[...(withSource ? [''] : []), 'TOTAL', rows.reduce((a, r) => a + r.requests, 0), '', '', '', '', '', '', formatUsd(total, 6), '']]
                : []),
            ],
          ),
        );
      } finally {
        store?.close();
      }
    });
}
