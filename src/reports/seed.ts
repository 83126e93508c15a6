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
  { user: 'alice', team: 'web', project: 'storefront', activity: 1, sessionsPerDay: 3, requestsPerSession: 40, model: 'claude-opus-5-5', route: 'anthropic', region: null, endpointType: null },
  { user: 'bob', team: 'web', project: 'storefront', activity: 0.2, sessionsPerDay: 6, requestsPerSession: 60, model: 'claude-opus-5-5', route: 'anthropic', region: null, endpointType: null },
  { user: 'carol', team: 'data', project: 'pipeline', activity: 0.3, sessionsPerDay: 1, requestsPerSession: 8, model: 'claude-sonnet-4-6', route: 'vertex', region: 'us-east5', endpointType: 'regional' },
  { user: 'dan', team: 'data', project: 'pipeline', activity: 0.9, sessionsPerDay: 2, requestsPerSession: 15, model: 'claude-sonnet-4-6', route: 'vertex', region: 'us-east5', endpointType: 'regional' },
  { user: 'frank', team: 'eu-finance', project: 'ledger', activity: 0.8, sessionsPerDay: 2, requestsPerSession: 20, model: 'claude-sonnet-4-5', route: 'bedrock', region: 'eu-west-1', endpointType: 'geo' },
];

/** Mulberry32: small, deterministic. */
function rng(seed: number): () => number {
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
            id: `seed_${String(n++).padStart(8, '0')}`, ts: t, key_id: `key_${p.user}`, user: p.user, team: p.team, project: p.project, session_id: session,
            endpoint: 'messages', model_requested: p.model, model_served: p.model, upstream: p.route, route: p.route, region: p.region,
            http_status: 200, error_type: null, error_code: null, stop_reason: 'end_turn', streamed: true, ...usage,
            cost_nanousd: cost.nanoUsd, priced: cost.priced, ttfb_ms: 500, duration_ms: 4000, client_aborted: false,
            upstream_request_id: null, message_id: null, upstream_model: p.model, endpoint_type: p.endpointType, attempts: [],
          });
        }
      }
    }
  }
  return lines;
}
