// A documented, deterministic demo ledger (`tollgate dev seed-ledger`): realistic users and
// teams, sessions with idle gaps, several models and routes, over a number of days. Used by
// the report tests and for trying the reports out. Costs come from the price data like real
// lines.
import type { PriceBook } from '../metering/prices.js';
import type { LedgerLine } from '../store/types.js';

interface Persona {
  user: string;
  team: string;
  project: string;
  /** Probability of working on a given weekday. */
  activity: number;
  sessionsPerDay: number;
  requestsPerSession: number;
  model: string;
  route: 'anthropic' | 'bedrock' | 'vertex';
  region: string | null;
  endpointType: string | null;
}

export const PERSONAS: Persona[] = [
  {
    user: 'alice',
    team: 'web',
    project: 'storefront',
    activity: 1,
    sessionsPerDay: 3,
    requestsPerSession: 40,
    model: 'claude-opus-5-5',
    route: 'anthropic',
    region: null,
    endpointType: null,
  },
  {
    user: 'bob',
    team: 'web',
    project: 'storefront',
    activity: 0.2,
    sessionsPerDay: 6,
    requestsPerSession: 60,
    model: 'claude-opus-5-5',
    route: 'anthropic',
    region: null,
    endpointType: null,
  },
  {
    user: 'carol',
    team: 'data',
    project: 'pipeline',
    activity: 0.3,
    sessionsPerDay: 1,
    requestsPerSession: 8,
    model: 'claude-sonnet-4-6',
    route: 'vertex',
    region: 'us-east5',
    endpointType: 'regional',
  },
  {
    user: 'dan',
    team: 'data',
    project: 'pipeline',
    activity: 0.9,
    sessionsPerDay: 2,
    requestsPerSession: 15,
    model: 'claude-sonnet-4-6',
    route: 'vertex',
    region: 'us-east5',
    endpointType: 'regional',
  },
  {
    user: 'frank',
    team: 'eu-finance',
    project: 'ledger',
    activity: 0.8,
    sessionsPerDay: 2,
    requestsPerSession: 20,
    model: 'claude-sonnet-4-5',
    route: 'bedrock',
    region: 'eu-west-1',
    endpointType: 'geo',
  },
];

/** Mulberry32: small, deterministic (seeded ledgers, and the tests' random ledgers). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function seedLedger(prices: PriceBook, opts: { start: number; days: number; seed?: number }): LedgerLine[] {
  const r = rng(opts.seed ?? 42);
  const lines: LedgerLine[] = [];
  let n = 0;
  for (let d = 0; d < opts.days; d++) {
    const day = opts.start + d * 86400e3;
    const wd = new Date(day).getUTCDay();
    if (wd === 0 || wd === 6) continue;
    for (const p of PERSONAS) {
      if (r() >= p.activity) continue;
      for (let s = 0; s < p.sessionsPerDay; s++) {
        const session = `${p.user}-${d}-${s}`;
        let t = day + (9 + s * 2.5) * 3600e3 + Math.floor(r() * 1800e3);
        let context = 20_000;
        for (let i = 0; i < p.requestsPerSession; i++) {
          // Mostly quick turns; now and then an idle gap longer than the 5-minute cache TTL.
          t += r() < 0.1 ? (6 + Math.floor(r() * 20)) * 60e3 : Math.floor(5e3 + r() * 50e3);
          const idle = i > 0 && r() < 0.1;
          const out = 200 + Math.floor(r() * 1500);
          const usage = {
            input_tokens: 50 + Math.floor(r() * 400),
            output_tokens: out,
            cache_read_input_tokens: idle || i === 0 ? 0 : context,
            cache_creation_5m_input_tokens: idle || i === 0 ? context : 1000 + Math.floor(r() * 3000),
            cache_creation_1h_input_tokens: 0,
            web_search_requests: r() < 0.02 ? 1 : 0,
            web_fetch_requests: 0,
          };
          // Context grows with the conversation until Claude Code compacts it.
          context = Math.min(180_000, context + usage.cache_creation_5m_input_tokens + out);
          const cost = prices.cost(p.model, usage, { route: p.route, endpointType: p.endpointType });
          lines.push({
            id: `seed_${String(n++).padStart(8, '0')}`,
            ts: t,
            key_id: `key_${p.user}`,
            user: p.user,
            team: p.team,
            project: p.project,
            session_id: session,
            endpoint: 'messages',
            model_requested: p.model,
            model_served: p.model,
            upstream: p.route,
            route: p.route,
            region: p.region,
            http_status: 200,
            error_type: null,
            error_code: null,
            stop_reason: 'end_turn',
            streamed: true,
            ...usage,
            cost_nanousd: cost.nanoUsd,
            priced: cost.priced,
            ttfb_ms: 500,
            duration_ms: 4000,
            client_aborted: false,
            upstream_request_id: null,
            message_id: null,
            upstream_model: p.model,
            endpoint_type: p.endpointType,
            attempts: [],
          });
        }
      }
    }
  }
  return lines;
}

const FLEET_MODELS: { model: string; share: number }[] = [
  { model: 'claude-sonnet-4-6', share: 0.55 },
  { model: 'claude-opus-5-5', share: 0.25 },
  { model: 'claude-haiku-4-5', share: 0.2 },
];
const FLEET_ROUTES: { route: 'anthropic' | 'bedrock' | 'vertex'; region: string | null; endpointType: string | null }[] = [
  { route: 'anthropic', region: null, endpointType: null },
  { route: 'bedrock', region: 'eu-west-1', endpointType: 'geo' },
  { route: 'vertex', region: 'us-east5', endpointType: 'regional' },
];

/** Lines per week a fleet writes in the shape the benchmark assumes (2,000 engineers). */
export const FLEET_LINES_PER_WEEK = 1_000_000;

/**
 * A fleet-sized ledger of any length, generated lazily (bounded memory): `users` engineers in
 * teams of 20, each team on one route, sessions of 5–60 requests with idle gaps, three models,
 * ending at `end` and spread at about FLEET_LINES_PER_WEEK. Deterministic for a seed.
 */
export function* seedFleet(prices: PriceBook, opts: { lines: number; users: number; end: number; seed?: number }): IterableIterator<LedgerLine> {
  const r = rng(opts.seed ?? 42);
  const span = Math.max(86400e3, Math.ceil((opts.lines / FLEET_LINES_PER_WEEK) * 7 * 86400e3));
  const start = opts.end - span;
  const step = span / opts.lines;
  const pick = () => {
    const x = r();
    let acc = 0;
    for (const m of FLEET_MODELS) if ((acc += m.share) > x) return m.model;
    return FLEET_MODELS[0]!.model;
  };
  // Sessions of random users interleave: each slot of time goes to the next request of one of
  // a handful of open sessions.
  const open: { user: number; session: string; left: number; context: number; model: string }[] = [];
  let sessions = 0;
  for (let n = 0; n < opts.lines; n++) {
    if (open.length < 64 || r() < 0.02) {
      open.push({ user: Math.floor(r() * opts.users), session: `fleet-${sessions++}`, left: 5 + Math.floor(r() * 55), context: 20_000, model: pick() });
    }
    const k = Math.floor(r() * open.length);
    const s = open[k]!;
    const u = s.user;
    const team = Math.floor(u / 20);
    const route = FLEET_ROUTES[team % FLEET_ROUTES.length]!;
    const first = s.context === 20_000;
    const idle = !first && r() < 0.08;
    const out = 200 + Math.floor(r() * 1500);
    const usage = {
      input_tokens: 50 + Math.floor(r() * 400),
      output_tokens: out,
      cache_read_input_tokens: idle || first ? 0 : s.context,
      cache_creation_5m_input_tokens: idle || first ? s.context : 1000 + Math.floor(r() * 3000),
      cache_creation_1h_input_tokens: 0,
      web_search_requests: r() < 0.02 ? 1 : 0,
      web_fetch_requests: 0,
    };
    s.context = Math.min(180_000, s.context + usage.cache_creation_5m_input_tokens + out);
    const error = r() < 0.01;
    const cost = error ? { nanoUsd: 0, priced: true } : prices.cost(s.model, usage, { route: route.route, endpointType: route.endpointType });
    yield {
      id: `fleet_${String(n).padStart(10, '0')}`,
      ts: Math.floor(start + n * step),
      key_id: `key_u${u}`,
      user: `u${u}`,
      team: `team-${team}`,
      project: `proj-${team % 7}`,
      session_id: s.session,
      endpoint: 'messages',
      model_requested: s.model,
      model_served: error ? null : s.model,
      upstream: route.route,
      route: route.route,
      region: route.region,
      http_status: error ? 529 : 200,
      error_type: error ? 'overloaded_error' : null,
      error_code: null,
      stop_reason: error ? null : 'end_turn',
      streamed: true,
      ...(error
        ? {
            input_tokens: 0,
            output_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation_5m_input_tokens: 0,
            cache_creation_1h_input_tokens: 0,
            web_search_requests: 0,
            web_fetch_requests: 0,
          }
        : usage),
      cost_nanousd: cost.nanoUsd,
      priced: cost.priced,
      ttfb_ms: 400 + Math.floor(r() * 800),
      duration_ms: 2000 + Math.floor(r() * 20000),
      client_aborted: false,
      upstream_request_id: null,
      message_id: null,
      upstream_model: s.model,
      endpoint_type: route.endpointType,
      attempts: [],
    };
    if (--s.left <= 0) open.splice(k, 1);
  }
}
