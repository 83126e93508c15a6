import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadCatalog } from '../routing/catalog.js';
import { packageRoot } from '../util/paths.js';
import { costOf, formatUsd, parseUsdPerMtok, PriceBook, PriceError } from './prices.js';
import { emptyUsage, type Usage } from './usage.js';

interface RefModel { id: string; provider_ids: Record<string, string | null>; prices: Record<string, number | Record<string, number>> }
const reference = JSON.parse(readFileSync(resolve(packageRoot(), 'test', 'fixtures', 'claude-models.json'), 'utf8')) as { models: RefModel[] };

const u = (p: Partial<Usage>): Usage => ({ ...emptyUsage(), ...p });

describe('prices', () => {
  const book = PriceBook.load(loadCatalog());

  it('parses decimal prices exactly, rejecting floats-in-disguise and junk', () => {
    assert.equal(parseUsdPerMtok('0.08', 'x'), 80_000n);
    assert.equal(parseUsdPerMtok('0.125', 'x'), 125_000n);
    assert.equal(parseUsdPerMtok(3.75, 'x'), 3_750_000n);
    assert.equal(parseUsdPerMtok('0.1375', 'x'), 137_500n);
    for (const bad of ['-1', '1e3', 'abc', '0.1234567', '', null]) assert.throws(() => parseUsdPerMtok(bad, 'x'), PriceError);
  });

  it('covers every model in the reference catalog, under every id form, at the reference list price', () => {
    for (const m of reference.models) {
      const ids = [m.id, ...Object.values(m.provider_ids).filter((v): v is string => Boolean(v))];
      for (const id of ids) {
        const p = book.lookup(id);
        assert.ok(p, `price for ${id}`);
        assert.ok(p.source && p.date, `${id} has source and date`);
        for (const k of ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read'] as const) {
          assert.equal(p[k], BigInt(Math.round((m.prices[k] as number) * 1e6)), `${id} ${k}`);
        }
      }
    }
  });

  it('prices every token class exactly, matching the float formula Claude Code uses to 1e-9 USD', () => {
    const usage = u({ input_tokens: 123_457, output_tokens: 9_876, cache_read_input_tokens: 1_000_003, cache_creation_5m_input_tokens: 33_333, cache_creation_1h_input_tokens: 7_777, web_search_requests: 3 });
    for (const m of reference.models) {
      const r = m.prices as Record<string, number>;
      const lp = (m.prices.long_prompt ?? null) as Record<string, number> | null;
      const prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_5m_input_tokens + usage.cache_creation_1h_input_tokens;
      const rate = lp && prompt > lp.above_prompt_tokens! ? lp : r;
      const expected = (usage.input_tokens * rate.input! + usage.output_tokens * rate.output! + usage.cache_read_input_tokens * rate.cache_read!
        + usage.cache_creation_5m_input_tokens * rate.cache_write_5m! + usage.cache_creation_1h_input_tokens * rate.cache_write_1h!) / 1e6 + usage.web_search_requests * r.web_search!;
      const c = book.cost(m.id, usage);
      assert.equal(c.priced, true);
      assert.ok(Math.abs(c.nanoUsd / 1e9 - expected) < 1e-9, `${m.id}: ${c.nanoUsd} vs ${expected}`);
    }
  });

  it('applies long-prompt rates only above the threshold (Haiku 5.5)', () => {
    const p = book.lookup('claude-haiku-5-5')!;
    assert.equal(costOf(u({ input_tokens: 100_000 }), p), 100_000 * 100);
    assert.equal(costOf(u({ input_tokens: 50_000, cache_read_input_tokens: 50_001, output_tokens: 10 }), p), 50_000 * 500 + 50_001 * 50 + 10 * 2500);
  });

  it('a single token of each class costs exactly its price', () => {
    const p = book.lookup('claude-sonnet-4-5')!;
    assert.equal(costOf(u({ input_tokens: 1 }), p), 3000);
    assert.equal(costOf(u({ output_tokens: 1 }), p), 15000);
    assert.equal(costOf(u({ cache_creation_5m_input_tokens: 1 }), p), 3750);
    assert.equal(costOf(u({ cache_creation_1h_input_tokens: 1 }), p), 6000);
    assert.equal(costOf(u({ cache_read_input_tokens: 1 }), p), 300);
    assert.equal(costOf(u({ web_search_requests: 1 }), p), 10_000_000);
  });

  it('leaves unknown models unpriced and warns once', () => {
    const warnings: string[] = [];
    const b = PriceBook.load(loadCatalog(), {}, (m) => warnings.push(m));
    assert.deepEqual(b.cost('gpt-4o', u({ input_tokens: 10 })), { nanoUsd: 0, priced: false });
    b.cost('gpt-4o', u({ input_tokens: 10 }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /gpt-4o/);
  });

  it('lets the operator override a price, by any id form, and add new models', () => {
    const b = PriceBook.load(loadCatalog(), { overrides: { 'my-model': { input: '1', output: '2', cache_write_5m: '0', cache_write_1h: '0', cache_read: '0' } } });
    // An unknown dated id is its own model; override by a known form instead.
    const b2 = PriceBook.load(loadCatalog(), { overrides: { opus: { input: '1' } } });
    assert.equal(b2.lookup('claude-opus-5-5')!.input, 1_000_000n);
    assert.equal(b2.lookup('claude-opus-5-5')!.output, 20_000_000n, 'other fields kept');
    assert.equal(b.cost('my-model', u({ input_tokens: 2, output_tokens: 1 })).nanoUsd, 4000, '2 in × $1/M + 1 out × $2/M = 4 µUSD');
    assert.throws(() => PriceBook.load(loadCatalog(), { overrides: { 'x-model': { input: 'cheap' } } }), /x-model.*input/);
  });

  it('applies route surcharges from data: 1.1× on Bedrock geo/regional and Vertex regional/multi-region for newer models', () => {
    const usage = u({ input_tokens: 1_000_000, output_tokens: 1_000_000, cache_read_input_tokens: 1_000_000, cache_creation_5m_input_tokens: 1_000_000 });
    const list = book.cost('claude-haiku-4-5', usage).nanoUsd;
    assert.equal(list, (1 + 5 + 0.1 + 1.25) * 1e9);
    for (const [route, type, factor] of [['bedrock', 'geo', 1.1], ['bedrock', 'regional', 1.1], ['bedrock', 'global', 1], ['vertex', 'regional', 1.1], ['vertex', 'multi-region', 1.1], ['vertex', 'global', 1], ['anthropic', null, 1]] as const) {
      assert.equal(book.cost('claude-haiku-4-5', usage, { route, endpointType: type }).nanoUsd, Math.round(list * factor), `${route} ${type}`);
    }
    // Older models keep list price on every endpoint.
    const old = book.cost('claude-3-7-sonnet', usage).nanoUsd;
    assert.equal(book.cost('claude-3-7-sonnet', usage, { route: 'bedrock', endpointType: 'geo' }).nanoUsd, old);
    // Exact to the nano-dollar for odd token counts: 7 × $0.125/M × 1.1 = 0.9625 µUSD.
    assert.equal(book.cost('claude-haiku-5-5', u({ cache_creation_5m_input_tokens: 7 }), { route: 'vertex', endpointType: 'regional' }).nanoUsd, 963);
    const m = book.multiplier('claude-haiku-4-5', 'bedrock', 'geo')!;
    assert.ok(m.source && m.date);
  });

  it('formats nano-USD without float rounding', () => {
    assert.equal(formatUsd(17_100_000), '0.017100000');
    assert.equal(formatUsd(123_456_789_012n, 2), '123.45');
    assert.equal(formatUsd(-5), '-0.000000005');
  });
});
