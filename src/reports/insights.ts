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

interface SessionState {
  id: string;
  count: number;
  cost: number;
  lastTs: number;
  uses1h: boolean;
  /** Lines after a gap over 5 minutes that wrote the cache, with what writing instead of
   * reading cost: rebuilds once the session's TTL (5 min, or 1 h with 1-hour writes) is known. */
  gaps: { id: string; gap: number; extra: number }[];
  firstId: string;
  /** The first line's cache writes: what a restart re-creates (short sessions). */
  firstWrite: number;
  firstWrittenAsRead: number;
  firstPrompt: number;
  lastPrompt: number;
  lastId: string;
}

interface UserState {
  user: string;
  total: number;
  reads: number;
  inputSide: number;
  writeCost: number;
  writtenAsRead: number;
  outputCost: number;
  sessions: Map<string, SessionState>;
  /** Cost per model per ISO week (Monday, UTC). */
  weeks: Map<number, Map<string, number>>;
}

const prompt = (l: UsageLine) => l.input_tokens + l.cache_read_input_tokens + l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens;

const DAY_MS = 86_400_000;

/** The ISO week (from Monday, UTC) as a number: day 0 (1970-01-01) was a Thursday. Dates are
 * made only for the weeks a finding names, not for every line. */
function weekOf(ts: number): number {
  return Math.floor((Math.floor(ts / DAY_MS) + 3) / 7);
}

function mondayOf(week: number): string {
  return new Date((week * 7 - 3) * DAY_MS).toISOString().slice(0, 10);
}

/**
 * Findings from ledger lines in time order (any mix of users). Each line is folded into running
 * figures per user and per session and then dropped, so memory follows the number of users and
 * sessions, not the number of lines.
 */
export class InsightsBuilder {
  private readonly users = new Map<string, UserState>();

  constructor(
    private readonly prices: PriceBook,
    private readonly opts: { shortSession?: number; longSession?: number } = {},
  ) {}

  add(l: UsageLine): void {
    if (l.endpoint !== 'messages' || l.http_status >= 400) return;
    const name = l.user ?? '(none)';
    let u = this.users.get(name);
    if (!u) {
      u = { user: name, total: 0, reads: 0, inputSide: 0, writeCost: 0, writtenAsRead: 0, outputCost: 0, sessions: new Map(), weeks: new Map() };
      this.users.set(name, u);
    }
    const written = l.cache_creation_5m_input_tokens + l.cache_creation_1h_input_tokens;
    const writeCost = classCost(this.prices, l, {
      cache_creation_5m_input_tokens: l.cache_creation_5m_input_tokens,
      cache_creation_1h_input_tokens: l.cache_creation_1h_input_tokens,
    });
    const asRead = classCost(this.prices, l, { cache_read_input_tokens: written });
    u.total += l.cost_nanousd;
    u.reads += l.cache_read_input_tokens;
    u.inputSide += prompt(l);
    u.writeCost += writeCost;
    u.writtenAsRead += asRead;
    u.outputCost += classCost(this.prices, l, { output_tokens: l.output_tokens });
    const week = weekOf(l.ts);
    const m = u.weeks.get(week) ?? u.weeks.set(week, new Map()).get(week)!;
    const model = l.model_served ?? l.model_requested ?? '?';
    m.set(model, (m.get(model) ?? 0) + l.cost_nanousd);
    if (!l.session_id) return;
    const s = u.sessions.get(l.session_id);
    if (!s) {
      u.sessions.set(l.session_id, {
        id: l.session_id,
        count: 1,
        cost: l.cost_nanousd,
        lastTs: l.ts,
        uses1h: l.cache_creation_1h_input_tokens > 0,
        gaps: [],
        firstId: l.id,
        firstWrite: writeCost,
        firstWrittenAsRead: asRead,
        firstPrompt: prompt(l),
        lastPrompt: prompt(l),
        lastId: l.id,
      });
      return;
    }
    // Idle gaps: after longer than the TTL the prompt cache has expired and is written again.
    const gap = l.ts - s.lastTs;
    if (gap > FIVE_MIN && written > 0) s.gaps.push({ id: l.id, gap, extra: writeCost - asRead });
    s.count++;
    s.cost += l.cost_nanousd;
    s.lastTs = l.ts;
    s.uses1h ||= l.cache_creation_1h_input_tokens > 0;
    s.lastPrompt = prompt(l);
    s.lastId = l.id;
  }

  /** Every finding, what could be saved first. Users in name order, each user's findings in
   * a fixed order (cache, then per session, short sessions, output share, model drift). */
  findings(): Finding[] {
    const out: Finding[] = [];
    const names = [...this.users.keys()].sort((a, b) => a.localeCompare(b));
    for (const name of names) this.userFindings(this.users.get(name)!, out);
    return out.sort((a, b) => b.avoidable_usd - a.avoidable_usd || b.cost_usd - a.cost_usd);
  }

  private userFindings(u: UserState, out: Finding[]): void {
    const shortN = this.opts.shortSession ?? 3;
    const longN = this.opts.longSession ?? 20;
    const user = u.user;
    // Cache hit rate: cache reads over everything on the input side; what reading, instead of
    // writing, the written tokens would have saved is the ceiling of better caching.
    const rate = u.inputSide ? u.reads / u.inputSide : 0;
    out.push({
      kind: 'cache_hit_rate',
      user,
      avoidable_usd: usd(Math.max(0, u.writeCost - u.writtenAsRead)),
      cost_usd: usd(u.writeCost),
      detail: `cache hit rate ${(rate * 100).toFixed(1)}% (${u.reads} of ${u.inputSide} input-side tokens read from cache); $${usd(u.writeCost)} went on cache writes, at most $${usd(Math.max(0, u.writeCost - u.writtenAsRead))} of it avoidable had every written token been a cache hit`,
      lines: [],
    });
    let shortCost = 0;
    let shortAvoidable = 0;
    let shortSessionsCost = 0;
    const shortLines: string[] = [];
    let shortCount = 0;
    for (const s of u.sessions.values()) {
      const ttl = s.uses1h ? ONE_HOUR : FIVE_MIN;
      let rebuild = 0;
      const rebuildLines: string[] = [];
      for (const g of s.gaps) {
        if (g.gap <= ttl) continue;
        rebuild += Math.max(0, g.extra);
        rebuildLines.push(g.id);
      }
      if (rebuild > 0)
        out.push({
          kind: 'idle_cache_rebuild',
          user,
          session: s.id,
          avoidable_usd: usd(rebuild),
          cost_usd: usd(s.cost),
          detail: `${rebuildLines.length} cache rebuild(s) after idle gaps over ${s.uses1h ? '1 h' : '5 min'} cost $${usd(rebuild)} more than reading the cache`,
          lines: rebuildLines,
        });
      if (s.count < shortN) {
        shortCount++;
        shortCost += s.firstWrite;
        shortAvoidable += Math.max(0, s.firstWrite - s.firstWrittenAsRead);
        shortSessionsCost += s.cost;
        shortLines.push(s.firstId);
      }
      if (s.count >= longN && s.firstPrompt > 0 && s.lastPrompt > 2 * s.firstPrompt) {
        const a = s.firstPrompt;
        const b = s.lastPrompt;
        out.push({
          kind: 'input_growth',
          user,
          session: s.id,
          avoidable_usd: 0,
          cost_usd: usd(s.cost),
          detail: `prompt grew ${(b / a).toFixed(1)}× over ${s.count} requests (${a} → ${b} tokens); the session cost $${usd(s.cost)}: tool results and history accumulate — compact or start fresh sooner`,
          lines: [s.firstId, s.lastId],
        });
      }
    }
    if (shortCount > 0)
      out.push({
        kind: 'short_sessions',
        user,
        avoidable_usd: usd(shortAvoidable),
        cost_usd: usd(shortSessionsCost),
        detail: `${shortCount} of ${u.sessions.size} sessions had fewer than ${shortN} requests; each restart wrote its context to the cache again ($${usd(shortCost)} of writes, $${usd(shortAvoidable)} more than reading it)`,
        lines: shortLines,
      });
    if (u.total > 0)
      out.push({
        kind: 'output_share',
        user,
        avoidable_usd: 0,
        cost_usd: usd(u.outputCost),
        detail: `output is ${((u.outputCost / u.total) * 100).toFixed(1)}% of cost ($${usd(u.outputCost)} of $${usd(u.total)})`,
        lines: [],
      });
    // Model mix per ISO week and its drift.
    const ordered = [...u.weeks.entries()].sort(([a], [b]) => a - b).map(([w, m]) => [mondayOf(w), m] as const);
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
}

/** Findings from lines in time order (as the store reads them). */
export function insightsFrom(lines: Iterable<UsageLine>, prices: PriceBook, opts: { shortSession?: number; longSession?: number } = {}): Finding[] {
  const b = new InsightsBuilder(prices, opts);
  for (const l of lines) b.add(l);
  return b.findings();
}

/** Findings from lines in any order. */
export function insights(lines: UsageLine[], prices: PriceBook, opts: { shortSession?: number; longSession?: number } = {}): Finding[] {
  return insightsFrom(
    [...lines].sort((a, b) => a.ts - b.ts || a.id.localeCompare(b.id)),
    prices,
    opts,
  );
}
