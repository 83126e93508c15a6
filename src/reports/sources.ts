// Usage from outside the gateway in the same reports as the ledger: imported transcripts,
// Bedrock invocation logs and CUR line items, attributed to users and teams through the
// identity map, grouped by the same dimensions, so a team's spend outside the gateway shows
// next to its spend through it. Sums stay exact (integer nano-USD).
import { IdentityMap } from '../ingest/identities.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { ExternalSource, ExternalUsage, LedgerQuery, ReportDimension, ReportRow, Store } from '../store/types.js';

export const USAGE_SOURCES = ['ledger', 'transcripts', 'logs', 'cur', 'all'] as const;
export type UsageSource = (typeof USAGE_SOURCES)[number];

/** The imported sources each choice covers, by their name in the store. */
const STORED: Record<Exclude<UsageSource, 'ledger'>, ExternalSource[]> = {
  transcripts: ['transcript'],
  logs: ['bedrock_log'],
  cur: ['cur'],
  all: ['transcript', 'bedrock_log', 'cur'],
};
const LABEL: Record<string, string> = { transcript: 'transcripts', bedrock_log: 'logs', cur: 'cur' };

function dayOf(ts: number): string {
  return new Date(ts).toISOString().slice(0, 10);
}

/** Weeks start on Monday (as the ledger's reports): the date of that Monday names the week. */
function weekOf(ts: number): string {
  const d = new Date(ts);
  const back = (d.getUTCDay() + 6) % 7;
  return dayOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - back));
}

/** An imported record with the person it belongs to (through the identity map; "unmapped:…"
 * when unknown) and its model's canonical id. */
interface Attributed extends ExternalUsage {
  user: string | null;
  team: string | null;
  canonicalModel: string | null;
}

/** The imported records of a source in a range, oldest first, attributed and filtered like
 * ledger lines (filters only the ledger has, project and key, match none of them). */
function* attributed(store: Store, catalog: ModelCatalog, source: Exclude<UsageSource, 'ledger'>, q: LedgerQuery): IterableIterator<Attributed> {
  if (q.project !== undefined || q.keyId !== undefined) return;
  const ids = new IdentityMap(store.listIdentities());
  for (const e of store.iterateExternalUsage({ sources: STORED[source], since: q.since, until: q.until })) {
    const who = ids.resolve(e.principal);
    const user = who?.user ?? (e.principal ? `unmapped:${e.principal}` : null);
    const team = who?.team ?? null;
    if (q.user !== undefined && user !== q.user) continue;
    if (q.team !== undefined && team !== q.team) continue;
    yield { ...e, user, team, canonicalModel: e.model ? (catalog.resolve(e.model)?.id ?? e.model) : null };
  }
}

/**
 * Report rows for imported usage, grouped by `by` plus a leading `source` field. Cache writes
 * are not split by lifetime in imported records: they are shown as 5-minute writes. Records of
 * people the identity map does not know group as user "unmapped:<principal>".
 */
export function externalReport(
  store: Store,
  catalog: ModelCatalog,
  source: Exclude<UsageSource, 'ledger'>,
  by: ReportDimension[],
  q: LedgerQuery,
): ReportRow[] {
  const groups = new Map<string, ReportRow>();
  for (const e of attributed(store, catalog, source, q)) {
    const value: Record<ReportDimension, string | null> = {
      user: e.user,
      team: e.team,
      project: null,
      key: null,
      upstream: null,
      session: e.session_id,
      region: e.region,
      route: e.source === 'transcript' ? null : 'bedrock',
      model: e.canonicalModel,
      day: dayOf(e.ts),
      week: weekOf(e.ts),
      month: dayOf(e.ts).slice(0, 7),
    };
    const fields = [LABEL[e.source] ?? e.source, ...by.map((d) => value[d])];
    const k = JSON.stringify(fields);
    let r = groups.get(k);
    if (!r) {
      r = {
        source: fields[0] as string,
        ...Object.fromEntries(by.map((d) => [d, value[d]])),
        requests: 0,
        input_tokens: 0,
        output_tokens: 0,
        cache_read_input_tokens: 0,
        cache_creation_5m_input_tokens: 0,
        cache_creation_1h_input_tokens: 0,
        web_search_requests: 0,
        cost_nanousd: 0,
        unpriced_requests: 0,
      };
      groups.set(k, r);
    }
    const add = (f: string, v: number) => {
      (r as Record<string, number>)[f] = Number(r![f] ?? 0) + v;
    };
    // A CUR line item is a bill line, not a request.
    add('requests', e.source === 'cur' ? 0 : e.calls);
    add('input_tokens', e.input_tokens);
    add('output_tokens', e.output_tokens);
    add('cache_read_input_tokens', e.cache_read_input_tokens);
    add('cache_creation_5m_input_tokens', e.cache_creation_input_tokens);
    add('cost_nanousd', e.cost_nanousd);
    if (!e.priced) add('unpriced_requests', 1);
  }
  return [...groups.values()].sort((a, b) => {
    for (const f of ['source', ...by]) {
      const c = String(a[f] ?? '').localeCompare(String(b[f] ?? ''));
      if (c) return c;
    }
    return Number(b.cost_nanousd) - Number(a.cost_nanousd);
  });
}

/** Imported records one by one (as `usage` lists ledger lines), oldest first, attributed through
 * the identity map. */
export function* externalRecords(
  store: Store,
  catalog: ModelCatalog,
  source: Exclude<UsageSource, 'ledger'>,
  q: LedgerQuery,
): IterableIterator<Record<string, unknown>> {
  for (const e of attributed(store, catalog, source, q))
    yield {
      id: e.id,
      source: LABEL[e.source] ?? e.source,
      ts: e.ts,
      user: e.user,
      team: e.team,
      principal: e.principal,
      session_id: e.session_id,
      model: e.canonicalModel,
      region: e.region,
      input_tokens: e.input_tokens,
      output_tokens: e.output_tokens,
      cache_read_input_tokens: e.cache_read_input_tokens,
      cache_creation_input_tokens: e.cache_creation_input_tokens,
      cost_nanousd: e.cost_nanousd,
      priced: e.priced,
    };
}
