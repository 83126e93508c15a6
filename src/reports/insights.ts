// Cost drivers an invoice does not show, from the ledger: cache hit rate, cache rebuilds after
// idle gaps longer than the cache TTL, short sessions that restart (and re-create) their
// context, output share of cost, model mix drift week over week, and input growth within long
// sessions. Each finding is in dollars with the ledger lines behind it.
import type { PriceBook } from '../metering/prices.js';
import { emptyUsage, type Usage } from '../metering/usage.js';
import type { UsageLine } from '../store/types.js';

export interface Finding {
  kind: 'cache_hit_rate' | 'idle_cache_rebuild' | 'short_sessions' | 'output_share' | 'model_drift' | 'input_growth';
  user: string;
  session?: string;
  /** Dollars that could have been avoided (what the same tokens would have cost read from the
   * cache instead of written again); 0 for findings that only inform. */
  avoidable_usd: number;
  /** What the requests or sessions concerned cost in all (context for avoidable_usd). */
  cost_usd: number;
  detail: string;
  lines: string[];
}

export interface InsightsSummary {
  findings: number;
  avoidable_usd: number;
  avoidable_by_kind: Partial<Record<Finding['kind'], number>>;
  ledger_usd: number;
}

/** Totals first: how much of the spend the findings say could have been avoided, by kind. */
export function summarizeInsights(found: Finding[], ledgerNano: number): InsightsSummary {
  const byKind: Partial<Record<Finding['kind'], number>> = {};
  let nano = 0;
  for (const f of found) {
    const n = Math.round(f.avoidable_usd * 1e9);
    if (n === 0) continue;
    nano += n;
    byKind[f.kind] = ((byKind[f.kind] ?? 0) * 1e9 + n) / 1e9;
  }
  return { findings: found.length, avoidable_usd: nano / 1e9, avoidable_by_kind: byKind, ledger_usd: ledgerNano / 1e9 };
}

const FIVE_MIN = 5 * 60e3;
const ONE_HOUR = 60 * 60e3;

function classCost(prices: PriceBook, l: UsageLine, set: Partial<Usage>): number {
  const u = { ...emptyUsage(), ...set };
  return prices.cost(l.model_served ?? l.model_requested ?? undefined, u, { route: l.route, endpointType: l.endpoint_type }).nanoUsd;
}

const usd = (n: number) => Math.round(n / 1e5) / 1e4;

/** Lines of one user, oldest first (messages that succeeded only). */
function analyzeUser(user: string, ls: UsageLine[], prices: PriceBook, shortN: number, longN: number, out: Finding[]): void {
  ls.sort((a, b) => a.ts - b.ts || a.id.localeCompare(b.id));
  const total = ls.reduce((a, l) => a + l.cost_nanousd, 0);
  // Cache hit rate: cache reads over everything on the input side.
  const reads = ls.reduce((a, l) => a + l.cache_read_input_tokens, 0);
  const inputSide = ls.reduce(
    (a, l) => a + l.input_tokens + l.cache_read_input_tokens + l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens,
    0,
  );
  const rate = inputSide ? reads / inputSide : 0;
  // What reading, instead of writing, the written tokens would have saved: the ceiling of better caching.
  const writeCost = ls.reduce(
    (a, l) =>
      a +
      classCost(prices, l, {
        cache_creation_5m_input_tokens: l.cache_creation_5m_input_tokens,
        cache_creation_1h_input_tokens: l.cache_creation_1h_input_tokens,
      }),
    0,
  );
  const writtenAsRead = ls.reduce(
    (a, l) => a + classCost(prices, l, { cache_read_input_tokens: l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens }),
    0,
  );
  out.push({
    kind: 'cache_hit_rate',
    user,
    avoidable_usd: usd(Math.max(0, writeCost - writtenAsRead)),
    cost_usd: usd(writeCost),
    detail: `cache hit rate ${(rate * 100).toFixed(1)}% (${reads} of ${inputSide} input-side tokens read from cache); $${usd(writeCost)} went on cache writes, at most $${usd(Math.max(0, writeCost - writtenAsRead))} of it avoidable had every written token been a cache hit`,
    lines: [],
  });

  const sessions = new Map<string, UsageLine[]>();
  for (const l of ls) if (l.session_id) (sessions.get(l.session_id) ?? sessions.set(l.session_id, []).get(l.session_id)!).push(l);
  let shortCost = 0;
  let shortAvoidable = 0;
  let shortSessionsCost = 0;
  const shortLines: string[] = [];
  let shortCount = 0;
  for (const [session, sl] of sessions) {
    // Idle gaps: after longer than the TTL the prompt cache has expired and is written again.
    const uses1h = sl.some((l) => l.cache_creation_1h_input_tokens > 0);
    const ttl = uses1h ? ONE_HOUR : FIVE_MIN;
    let rebuild = 0;
    const rebuildLines: string[] = [];
    for (let i = 1; i < sl.length; i++) {
      const gap = sl[i]!.ts - sl[i - 1]!.ts;
      const l = sl[i]!;
      const written = l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens;
      if (gap > ttl && written > 0) {
        // The extra cost: writing the context again instead of reading it.
        const extra =
          classCost(prices, l, {
            cache_creation_5m_input_tokens: l.cache_creation_5m_input_tokens,
            cache_creation_1h_input_tokens: l.cache_creation_1h_input_tokens,
          }) - classCost(prices, l, { cache_read_input_tokens: written });
        rebuild += Math.max(0, extra);
        rebuildLines.push(l.id);
      }
    }
    if (rebuild > 0)
      out.push({
        kind: 'idle_cache_rebuild',
        user,
        session,
        avoidable_usd: usd(rebuild),
        cost_usd: usd(sl.reduce((a, l) => a + l.cost_nanousd, 0)),
        detail: `${rebuildLines.length} cache rebuild(s) after idle gaps over ${uses1h ? '1 h' : '5 min'} cost $${usd(rebuild)} more than reading the cache`,
        lines: rebuildLines,
      });
    if (sl.length < shortN) {
      shortCount++;
      const first = sl[0]!;
      const written = first.cache_creation_5m_input_tokens + first.cache_creation_1h_input_tokens;
      shortCost += classCost(prices, first, {
        cache_creation_5m_input_tokens: first.cache_creation_5m_input_tokens,
        cache_creation_1h_input_tokens: first.cache_creation_1h_input_tokens,
      });
      shortAvoidable += Math.max(
        0,
        classCost(prices, first, {
          cache_creation_5m_input_tokens: first.cache_creation_5m_input_tokens,
          cache_creation_1h_input_tokens: first.cache_creation_1h_input_tokens,
        }) - classCost(prices, first, { cache_read_input_tokens: written }),
      );
      shortSessionsCost += sl.reduce((a, l) => a + l.cost_nanousd, 0);
      shortLines.push(first.id);
    }
    if (sl.length >= longN) {
      const prompt = (l: UsageLine) => l.input_tokens + l.cache_read_input_tokens + l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens;
      const a = prompt(sl[0]!);
      const b = prompt(sl[sl.length - 1]!);
      if (a > 0 && b > 2 * a) {
        const cost = sl.reduce((x, l) => x + l.cost_nanousd, 0);
        out.push({
          kind: 'input_growth',
          user,
          session,
          avoidable_usd: 0,
          cost_usd: usd(cost),
          detail: `prompt grew ${(b / a).toFixed(1)}× over ${sl.length} requests (${a} → ${b} tokens); the session cost $${usd(cost)}: tool results and history accumulate — compact or start fresh sooner`,
          lines: [sl[0]!.id, sl[sl.length - 1]!.id],
        });
      }
    }
  }
  if (shortCount > 0)
    out.push({
      kind: 'short_sessions',
      user,
      avoidable_usd: usd(shortAvoidable),
      cost_usd: usd(shortSessionsCost),
      detail: `${shortCount} of ${sessions.size} sessions had fewer than ${shortN} requests; each restart wrote its context to the cache again ($${usd(shortCost)} of writes, $${usd(shortAvoidable)} more than reading it)`,
      lines: shortLines,
    });

  const outputCost = ls.reduce((a, l) => a + classCost(prices, l, { output_tokens: l.output_tokens }), 0);
  if (total > 0)
    out.push({
      kind: 'output_share',
      user,
      avoidable_usd: 0,
      cost_usd: usd(outputCost),
      detail: `output is ${((outputCost / total) * 100).toFixed(1)}% of cost ($${usd(outputCost)} of $${usd(total)})`,
      lines: [],
    });

  // Model mix per ISO week (Monday, UTC) and its drift.
  const weeks = new Map<string, Map<string, number>>();
  for (const l of ls) {
    const d = new Date(l.ts);
    const monday = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - ((d.getUTCDay() + 6) % 7))).toISOString().slice(0, 10);
    const m = weeks.get(monday) ?? weeks.set(monday, new Map()).get(monday)!;
    const model = l.model_served ?? l.model_requested ?? '?';
    m.set(model, (m.get(model) ?? 0) + l.cost_nanousd);
  }
  const ordered = [...weeks.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (let i = 1; i < ordered.length; i++) {
    const [w0, m0] = ordered[i - 1]!;
    const [w1, m1] = ordered[i]!;
    const t0 = [...m0.values()].reduce((a, b) => a + b, 0) || 1;
    const t1 = [...m1.values()].reduce((a, b) => a + b, 0) || 1;
    for (const model of new Set([...m0.keys(), ...m1.keys()])) {
      const s0 = (m0.get(model) ?? 0) / t0;
      const s1 = (m1.get(model) ?? 0) / t1;
      if (Math.abs(s1 - s0) >= 0.25) {
        out.push({
          kind: 'model_drift',
          user,
          avoidable_usd: 0,
          cost_usd: usd(m1.get(model) ?? 0),
          detail: `${model}: ${(s0 * 100).toFixed(0)}% of spend in the week of ${w0} → ${(s1 * 100).toFixed(0)}% in the week of ${w1} ($${usd(m1.get(model) ?? 0)})`,
          lines: [],
        });
      }
    }
  }
}

const usable = (l: UsageLine) => l.endpoint === 'messages' && l.http_status < 400;

/**
 * Findings from ledger lines ordered by user (then time): one user's lines are held at a time,
 * so memory follows the busiest user, not the ledger.
 */
export function insightsByUser(lines: Iterable<UsageLine>, prices: PriceBook, opts: { shortSession?: number; longSession?: number } = {}): Finding[] {
  const shortN = opts.shortSession ?? 3;
  const longN = opts.longSession ?? 20;
  const out: Finding[] = [];
  let user: string | null = null;
  let ls: UsageLine[] = [];
  for (const l of lines) {
    const u = l.user ?? '(none)';
    if (u !== user) {
      if (user !== null && ls.length) analyzeUser(user, ls, prices, shortN, longN, out);
      user = u;
      ls = [];
    }
    if (usable(l)) ls.push(l);
  }
  if (user !== null && ls.length) analyzeUser(user, ls, prices, shortN, longN, out);
  // What could be saved first, then what it concerns.
  return out.sort((a, b) => b.avoidable_usd - a.avoidable_usd || b.cost_usd - a.cost_usd);
}

/** Findings from lines in any order. */
export function insights(lines: UsageLine[], prices: PriceBook, opts: { shortSession?: number; longSession?: number } = {}): Finding[] {
  const sorted = [...lines].sort((a, b) => (a.user ?? '(none)').localeCompare(b.user ?? '(none)') || a.ts - b.ts || a.id.localeCompare(b.id));
  return insightsByUser(sorted, prices, opts);
}
