import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PriceBook } from '../metering/prices.js';
import { loadCatalog } from '../routing/catalog.js';
import type { LedgerLine } from '../store/types.js';
import { insights } from './insights.js';

const prices = PriceBook.load(loadCatalog());
const M = 'claude-opus-5-5'; // $4 in, $20 out, $5 cache write 5m, $0.20 cache read (per M)

function l(id: string, ts: number, session: string, u: Partial<LedgerLine>, model = M): LedgerLine {
  const line = {
    id,
    ts,
    key_id: 'k',
    user: 'uma',
    team: 't',
    project: null,
    session_id: session,
    endpoint: 'messages',
    model_requested: model,
    model_served: model,
    upstream: 'anthropic',
    route: 'anthropic',
    region: null,
    http_status: 200,
    error_type: null,
    error_code: null,
    stop_reason: 'end_turn',
    streamed: true,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_5m_input_tokens: 0,
    cache_creation_1h_input_tokens: 0,
    web_search_requests: 0,
    web_fetch_requests: 0,
    cost_nanousd: 0,
    priced: true,
    ttfb_ms: 1,
    duration_ms: 1,
    client_aborted: false,
    upstream_request_id: null,
    message_id: null,
    upstream_model: null,
    endpoint_type: null,
    attempts: [],
    ...u,
  } as LedgerLine;
  line.cost_nanousd = prices.cost(model, line).nanoUsd;
  return line;
}

const MIN = 60e3;
const t0 = Date.parse('2026-11-02T09:00:00Z'); // Monday

describe('insights', () => {
  const lines = [
    // Session a: write 10k, read it a minute later, then a 10-minute idle gap → written again.
    l('a1', t0, 'a', { input_tokens: 100, cache_creation_5m_input_tokens: 10_000, output_tokens: 500 }),
    l('a2', t0 + MIN, 'a', { input_tokens: 100, cache_read_input_tokens: 10_000, output_tokens: 500 }),
    l('a3', t0 + 11 * MIN, 'a', { input_tokens: 100, cache_creation_5m_input_tokens: 10_500, output_tokens: 500 }),
    // Session b: a one-request restart.
    l('b1', t0 + 60 * MIN, 'b', { input_tokens: 100, cache_creation_5m_input_tokens: 20_000, output_tokens: 100 }),
    // A week later, all on another model: drift.
    l('c1', t0 + 7 * 1440 * MIN, 'c', { input_tokens: 1000, output_tokens: 1000 }, 'claude-sonnet-4-6'),
    l('c2', t0 + 7 * 1440 * MIN + MIN, 'c', { input_tokens: 1000, output_tokens: 1000 }, 'claude-sonnet-4-6'),
  ];
  const found = insights(lines, prices);
  const of = (k: string) => found.filter((f) => f.kind === k);

  it('prices the cache rebuild after an idle gap longer than the TTL, with its line', () => {
    const r = of('idle_cache_rebuild');
    assert.equal(r.length, 1);
    assert.equal(r[0]!.session, 'a');
    assert.deepEqual(r[0]!.lines, ['a3']);
    // 10,500 tokens written at $5/M instead of read at $0.20/M: $0.0504.
    assert.equal(r[0]!.avoidable_usd, 0.0504);
    assert.ok(r[0]!.cost_usd > r[0]!.avoidable_usd, "the session's whole cost is apart from what was avoidable");
  });

  it('computes the cache hit rate over all input-side tokens', () => {
    const c = of('cache_hit_rate')[0]!;
    // reads 10,000 of (100×3 + 100 + 2,000 input) + 10,000 read + 40,500 written = 52,900
    assert.match(c.detail, /cache hit rate 18\.9% \(10000 of 52900 input-side tokens/);
    assert.equal(c.cost_usd, 0.2025, 'cache writes: 40,500 × $5/M');
    assert.equal(c.avoidable_usd, 0.1944, 'had they been reads: 40,500 × $0.20/M = $0.0081 less');
  });

  it('counts short sessions and what their restarts cost', () => {
    const s = of('short_sessions')[0]!;
    assert.match(s.detail, /2 of 3 sessions had fewer than 3 requests/);
    assert.deepEqual(s.lines, ['b1', 'c1']);
    assert.equal(s.avoidable_usd, 0.096, 'b1 wrote 20,000 tokens at $5/M that a continued session reads at $0.20/M; c1 wrote none');
  });

  it('states the output share of cost', () => {
    const total = lines.reduce((a, x) => a + x.cost_nanousd, 0);
    const outCost = 1500 * 20_000 + 100 * 20_000 + 2000 * 15_000; // nano-USD
    const o = of('output_share')[0]!;
    assert.equal(o.cost_usd, outCost / 1e9);
    assert.equal(o.avoidable_usd, 0, 'informs only');
    assert.match(o.detail, new RegExp(`output is ${((outCost / total) * 100).toFixed(1)}% of cost`));
  });

  it('flags model mix drift week over week', () => {
    const d = of('model_drift').map((f) => f.detail);
    assert.ok(
      d.some((x) => /^claude-opus-5-5: 100% of spend in the week of 2026-11-02 → 0% in the week of 2026-11-09/.test(x)),
      d.join('\n'),
    );
    assert.ok(d.some((x) => /^claude-sonnet-4-6: 0% .* → 100%/.test(x)));
  });

  it('flags input growth within long sessions', () => {
    const long = Array.from({ length: 25 }, (_, i) =>
      l(`g${i}`, t0 + i * MIN, 'long', { input_tokens: 50, cache_read_input_tokens: 5000 + i * 4000, cache_creation_5m_input_tokens: 4000 }),
    );
    const g = insights(long, prices).filter((f) => f.kind === 'input_growth');
    assert.equal(g.length, 1);
    assert.match(g[0]!.detail, /prompt grew 11\.6× over 25 requests \(9050 → 105050 tokens\)/);
    assert.deepEqual(g[0]!.lines, ['g0', 'g24']);
  });
});
