import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadCatalog } from '../routing/catalog.js';
import { packageRoot } from '../util/paths.js';
import { costOf, formatUsd, formatUsdAmount, parseUsdPerMtok, PriceBook, PriceError } from './prices.js';
import { emptyExtras, emptyUsage, type Usage, type UsageExtras } from './usage.js';

interface RefModel {
  id: string;
  provider_ids: Record<string, string | null>;
  prices: Record<string, number | Record<string, number>>;
}
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
    const usage = u({
      input_tokens: 123_457,
      output_tokens: 9_876,
      cache_read_input_tokens: 1_000_003,
      cache_creation_5m_input_tokens: 33_333,
      cache_creation_1h_input_tokens: 7_777,
      web_search_requests: 3,
    });
    for (const m of reference.models) {
      const r = m.prices as Record<string, number>;
      const lp = (m.prices.long_prompt ?? null) as Record<string, number> | null;
      const prompt = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_5m_input_tokens + usage.cache_creation_1h_input_tokens;
      const rate = lp && prompt > lp.above_prompt_tokens! ? lp : r;
      const expected =
        (usage.input_tokens * rate.input! +
          usage.output_tokens * rate.output! +
          usage.cache_read_input_tokens * rate.cache_read! +
          usage.cache_creation_5m_input_tokens * rate.cache_write_5m! +
          usage.cache_creation_1h_input_tokens * rate.cache_write_1h!) /
          1e6 +
        usage.web_search_requests * r.web_search!;
      const c = book.cost(m.id, usage);
      assert.equal(c.priced, true);
      assert.ok(Math.abs(c.nanoUsd / 1e9 - expected) < 1e-9, `${m.id}: ${c.nanoUsd} vs ${expected}`);
    }
  });

  it('applies long-prompt rates only above the threshold (Haiku 5.5)', () => {
    const p = book.lookup('claude-haiku-5-5')!;
    assert.equal(costOf(u({ input_tokens: 100_000 }), p).nanoUsd, 100_000 * 100);
    assert.equal(costOf(u({ input_tokens: 50_000, cache_read_input_tokens: 50_001, output_tokens: 10 }), p).nanoUsd, 50_000 * 500 + 50_001 * 50 + 10 * 2500);
  });

  it('a single token of each class costs exactly its price', () => {
    const p = book.lookup('claude-sonnet-4-5')!;
    assert.equal(costOf(u({ input_tokens: 1 }), p).nanoUsd, 3000);
    assert.equal(costOf(u({ output_tokens: 1 }), p).nanoUsd, 15000);
    assert.equal(costOf(u({ cache_creation_5m_input_tokens: 1 }), p).nanoUsd, 3750);
    assert.equal(costOf(u({ cache_creation_1h_input_tokens: 1 }), p).nanoUsd, 6000);
    assert.equal(costOf(u({ cache_read_input_tokens: 1 }), p).nanoUsd, 300);
    assert.equal(costOf(u({ web_search_requests: 1 }), p).nanoUsd, 10_000_000);
  });

  it('leaves unknown models unpriced and warns once', () => {
    const warnings: string[] = [];
    const b = PriceBook.load(loadCatalog(), {}, (m) => warnings.push(m));
    assert.deepEqual(b.cost('gpt-4o', u({ input_tokens: 10 })), { nanoUsd: 0, priced: false, tier: 'unpriced' });
    b.cost('gpt-4o', u({ input_tokens: 10 }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /gpt-4o/);
  });

  it('lets the operator override a price, by any id form, and add new models', () => {
    const b = PriceBook.load(loadCatalog(), {
      overrides: { 'my-model': { input: '1', output: '2', cache_write_5m: '0', cache_write_1h: '0', cache_read: '0' } },
    });
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
    for (const [route, type, factor] of [
      ['bedrock', 'geo', 1.1],
      ['bedrock', 'regional', 1.1],
      ['bedrock', 'global', 1],
      ['vertex', 'regional', 1.1],
      ['vertex', 'multi-region', 1.1],
      ['vertex', 'global', 1],
      ['anthropic', null, 1],
    ] as const) {
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
    assert.equal(formatUsd(123_456_789_012n, 2), '123.46', 'half-up at the shown precision');
    assert.equal(formatUsd(-5), '-0.000000005');
  });

  const extras = (e: Partial<UsageExtras>): UsageExtras => ({ ...emptyExtras(), ...e });
  const it1 = (input: number, cacheRead: number, output: number) => ({
    input_tokens: input,
    output_tokens: output,
    cache_read_input_tokens: cacheRead,
    cache_creation_input_tokens: 0,
    cache_1h: 0,
    cache_5m: 0,
  });

  it("prices fast mode at the model's fast rates, and only models that have them", () => {
    const usage = u({
      input_tokens: 1_000_000,
      output_tokens: 1_000_000,
      cache_read_input_tokens: 1_000_000,
      cache_creation_5m_input_tokens: 1_000_000,
      cache_creation_1h_input_tokens: 1_000_000,
    });
    const usd = (model: string, speed: string | null) => book.cost(model, usage, {}, extras({ speed })).nanoUsd / 1e9;
    assert.equal(usd('claude-opus-4-6', 'fast'), 30 + 150 + 3 + 37.5 + 60);
    assert.equal(usd('claude-opus-4-7', 'fast'), 30 + 150 + 3 + 37.5 + 60);
    assert.equal(usd('claude-opus-4-8', 'fast'), 10 + 50 + 1 + 12.5 + 20);
    assert.equal(usd('claude-opus-5', 'fast'), 10 + 50 + 1 + 12.5 + 20);
    assert.equal(usd('claude-opus-5-5', 'fast'), 8 + 40 + 0.4 + 10 + 16);
    assert.equal(usd('claude-fable-5-2', 'fast'), 16 + 80 + 0.4 + 20 + 32);
    assert.equal(usd('claude-mythos-5-2', 'fast'), 16 + 80 + 0.4 + 20 + 32);
    assert.equal(usd('claude-opus-4-6', 'standard'), 5 + 25 + 0.5 + 6.25 + 10);
    assert.equal(usd('claude-sonnet-4-6', 'fast'), usd('claude-sonnet-4-6', null), 'no fast rates: standard');
    assert.equal(book.cost('claude-opus-4-6', usage, {}, extras({ speed: 'fast' })).tier, 'fast');
  });

  it('prices US-only inference at 1.1× on tokens, not on web searches, exactly', () => {
    const usage = u({ input_tokens: 3, output_tokens: 7, web_search_requests: 2 });
    const c = book.cost('claude-sonnet-4-5', usage, {}, extras({ inference_geo: 'us' }));
    // (3 × $3 + 7 × $15) per Mtok = 114,000 nano-USD, × 1.1 = 125,400; web searches 2 × $0.01.
    assert.equal(c.nanoUsd, 125_400 + 20_000_000);
    assert.equal(book.cost('claude-sonnet-4-5', usage, {}, extras({ inference_geo: 'global' })).nanoUsd, 114_000 + 20_000_000);
    // One input token of Haiku 3.5 ($0.80/M: 800 nano-USD) at 1.1×.
    assert.equal(book.cost('claude-3-5-haiku', u({ input_tokens: 1 }), {}, extras({ inference_geo: 'us' })).nanoUsd, 880);
  });

  it('chooses the long-prompt tier per iteration when the iterations add up to the totals', () => {
    const total = u({ input_tokens: 120_000, cache_read_input_tokens: 20_000, output_tokens: 700 });
    const its = extras({ iterations: [it1(90_000, 20_000, 400), it1(30_000, 0, 300)] });
    const c = book.cost('claude-haiku-5-5', total, {}, its);
    // First iteration 110k prompt tokens (> 100k): long rates; second: standard.
    assert.equal(c.nanoUsd, 90_000 * 500 + 20_000 * 50 + 400 * 2500 + 30_000 * 100 + 300 * 500);
    assert.equal(c.tier, 'per_iteration');
    // Summed, the whole request would have been long-prompt: 5× the second iteration's input.
    assert.equal(book.cost('claude-haiku-5-5', total).tier, 'long_prompt');
    // Iterations that do not add up are ignored.
    assert.equal(book.cost('claude-haiku-5-5', total, {}, extras({ iterations: [it1(1, 0, 0)] })).tier, 'long_prompt');
  });

  it('gives 1-hour writes the iterations do not account for to iterations with room, as Claude Code does', () => {
    const total = u({ input_tokens: 2, cache_creation_5m_input_tokens: 100, cache_creation_1h_input_tokens: 300 });
    const its = extras({
      iterations: [
        { input_tokens: 1, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 150, cache_1h: 0, cache_5m: 100 },
        { input_tokens: 1, output_tokens: 0, cache_read_input_tokens: 0, cache_creation_input_tokens: 250, cache_1h: 100, cache_5m: 0 },
      ],
    });
    // Spare 1h: 300 − 100 = 200; the first iteration has room for 50, the second for 150.
    const p = book.lookup('claude-haiku-5-5')!;
    assert.equal(
      book.cost('claude-haiku-5-5', total, {}, its).nanoUsd,
      Number((2n * p.input + 300n * p.cache_write_1h + 100n * p.cache_write_5m + 500n) / 1000n),
    );
  });

  it('settles an unpriced model at the ceiling of all known rates when asked, still flagged unpriced', () => {
    const usage = u({ input_tokens: 1_000_000, output_tokens: 1_000_000 });
    const c = book.cost('gpt-x', usage, {}, undefined, 'ceiling');
    assert.equal(c.priced, false);
    assert.equal(c.tier, 'unpriced_ceiling');
    // The most expensive input and output of the catalog: fast mode on Opus 4.6/4.7.
    assert.equal(c.nanoUsd, (30 + 150) * 1e9);
  });

  it('shows money rounded half-up at the shown precision, in exact arithmetic, the same everywhere', () => {
    assert.equal(formatUsd(14_850_000, 4), '0.0149', 'the budget refusal and budgets list agree');
    assert.equal(formatUsd(14_849_999, 4), '0.0148');
    assert.equal(formatUsd(-14_850_000, 4), '-0.0149');
    assert.equal(formatUsd(2_016_067_950_000, 4), '2016.0680');
    assert.equal(formatUsd(999_999_999_999, 2), '1000.00');
    assert.equal(formatUsd(-4, 2), '0.00', 'no negative zero');
    assert.equal(formatUsd(17_100_000), '0.017100000');
    assert.equal(formatUsdAmount(0.01485, 4), '0.0149', 'a JSON amount is shown by the same rule');
  });
});
