// tollgate report: spend and tokens grouped by any dimensions; chargeback per team or project.
import type { Command } from 'commander';
import { formatUsd } from '../../metering/prices.js';
import { REPORT_DIMENSIONS, type ReportDimension, type ReportRow } from '../../store/types.js';
import { parseTime, wallClock } from '../../util/time.js';
import { openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';
import { renderHtml } from '../../reports/html.js';
import { adviseSeats, loadSeatPlans, userUsage } from '../../reports/advisors.js';
import { writeFileSync } from 'node:fs';
import { loadCatalog } from '../../routing/catalog.js';
import { USAGE_SOURCES, type UsageSource } from '../../reports/sources.js';
import { reportRows, type ReportResult } from '../../reports/queries.js';
import { admin } from '../remote.js';

function sortByCost(rows: ReportRow[]): ReportRow[] {
  return rows.sort((a, b) => Number(b.cost_nanousd) - Number(a.cost_nanousd) || String(a).localeCompare(String(b)));
}

function sourceOf(v: string): UsageSource {
  if (!(USAGE_SOURCES as readonly string[]).includes(v)) throw new UsageError(`--source ${v}: use one of ${USAGE_SOURCES.join(', ')}`);
  return v as UsageSource;
}

function dims(v: string): ReportDimension[] {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((d) => !(REPORT_DIMENSIONS as readonly string[]).includes(d));
  if (bad.length || list.length === 0) throw new UsageError(`--by ${v}: use one or more of ${REPORT_DIMENSIONS.join(', ')} (comma-separated)`);
  return list as ReportDimension[];
}

function range(o: { since?: string; until?: string }): { since?: number; until?: number } {
  return { since: o.since ? parseTime(o.since) : undefined, until: o.until ? parseTime(o.until) : undefined };
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function print(rows: Record<string, unknown>[], by: string[], fmt: { json?: boolean; csv?: boolean }, total: number): void {
  if (fmt.json) return out(JSON.stringify(rows, null, 2));
  const cols = [
    ...by,
    'requests',
    'input_tokens',
    'output_tokens',
    'cache_read_input_tokens',
    'cache_creation_5m_input_tokens',
    'cache_creation_1h_input_tokens',
    'web_search_requests',
    'cost_usd',
  ];
  if (fmt.csv) {
    out([cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(c === 'cost_usd' ? formatUsd(Number(r.cost_nanousd)) : r[c])).join(','))].join('\n'));
    return;
  }
  out(
    table(
      cols.map((c) =>
        c
          .replace(/_input_tokens$|_tokens$|_requests$/, '')
          .replace(/_/g, ' ')
          .toUpperCase(),
      ),
      [
        ...rows.map((r) => cols.map((c) => (c === 'cost_usd' ? formatUsd(Number(r.cost_nanousd), 4) : (r[c] as string | number | null)))),
        ['TOTAL', ...by.slice(1).map(() => ''), ...cols.slice(by.length, -1).map((c) => rows.reduce((a, r) => a + Number(r[c] ?? 0), 0)), formatUsd(total, 4)],
      ],
    ),
  );
}

export function register(program: Command, globals: () => GlobalOpts): void {
  const report = program
    .command('report')
    .description('spend and tokens (every class) grouped by any dimensions over a time range')
    .option('--by <dims>', `comma-separated: ${REPORT_DIMENSIONS.join(', ')} (day/week/month in UTC)`, 'team')
    .option('--since <time>', 'from (ISO date/time, or 24h, 7d …)')
    .option('--until <time>', 'up to (exclusive)')
    .option('--json', 'JSON rows with the group fields by name and cost_usd')
    .option('--csv', 'CSV')
    .option('--html <file>', 'write a self-contained page with charts (spend over time by team, by model, top users, cache hit rate, seat vs metered)')
    .option(
      '--source <source>',
      `whose records: ${USAGE_SOURCES.join(' | ')} (imported usage, attributed through tollgate identities; rows then carry a source field)`,
      'ledger',
    )
    .enablePositionalOptions()
    .action(async (o: { by: string; since?: string; until?: string; json?: boolean; csv?: boolean; html?: string; source: string }) => {
      const by = dims(o.by);
      const source = sourceOf(o.source);
      if (o.html && source !== 'ledger') throw new UsageError('--html reports the ledger; drop --source');
      const g = globals();
      if (g.url) {
        if (o.html) throw new UsageError('--html renders from the local store; with --url use --json or the console');
        const r = (await admin(g.url, 'GET', '/admin/report', undefined, {
          query: { by: by.join(','), since: o.since, until: o.until, source },
        })) as ReportResult;
        return print(r.rows, r.by, o, r.total_nanousd);
      }
      const store = openStore(openConfig(g));
      try {
        const q = range(o);
        if (o.html) {
          const since = q.since ?? wallClock() - 30 * 86400e3;
          const until = q.until ?? wallClock();
          const html = renderHtml({
            title: 'tollgate spend report',
            range: `${new Date(since).toISOString().slice(0, 10)} to ${new Date(until).toISOString().slice(0, 10)}`,
            byTeamDay: store.report(['day', 'team'], { since, until }),
            byModel: sortByCost(store.report(['model'], { since, until })),
            byTeam: sortByCost(store.report(['team'], { since, until })),
            byRoute: sortByCost(store.report(['route'], { since, until })),
            byUser: store.report(['user'], { since, until }).sort((a, b) => Number(b.cost_nanousd) - Number(a.cost_nanousd)),
            seats: adviseSeats(userUsage(store, since, until), loadSeatPlans(), since, until),
            total: Number(store.report([], { since, until })[0]?.cost_nanousd ?? 0),
          });
          writeFileSync(o.html, html);
          out(`wrote ${o.html}`);
          return;
        }
        const r = reportRows(store, loadCatalog(), by, q, source);
        print(r.rows, r.by, o, r.total_nanousd);
      } finally {
        store.close();
      }
    });

  report
    .command('chargeback')
    .description('cost per team (or project) per month, for internal billing')
    .option('--by <dim>', 'team or project', 'team')
    .option('--since <time>')
    .option('--until <time>')
    .option('--json')
    .option('--csv')
    .action(async (o: { by: string; since?: string; until?: string; json?: boolean; csv?: boolean }) => {
      if (o.by !== 'team' && o.by !== 'project') throw new UsageError('--by: team or project');
      const by: ReportDimension[] = ['month', o.by as ReportDimension];
      const g = globals();
      if (g.url) {
        const r = (await admin(g.url, 'GET', '/admin/report', undefined, { query: { by: by.join(','), since: o.since, until: o.until } })) as ReportResult;
        return print(r.rows, r.by, o, r.total_nanousd);
      }
      const store = openStore(openConfig(g));
      try {
        const r = reportRows(store, loadCatalog(), by, range(o));
        print(r.rows, r.by, o, r.total_nanousd);
      } finally {
        store.close();
      }
    });
}
