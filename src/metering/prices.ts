// Price catalog (data/prices.json plus operator overrides) and exact cost arithmetic.
// Prices are decimal strings in USD per million tokens; internally they are integers in
// pico-USD per token (1 USD/Mtok = 1,000,000 pUSD/token), so every shipped price and every
// route multiplier is exact. A request's cost is computed in BigInt pico-USD and stored in
// integer nano-USD (the ledger's unit), rounded half-up once per request.
import { readFileSync } from 'node:fs';
import { dataPath } from '../util/paths.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { IterationUsage, UsageExtras, Usage } from './usage.js';

export interface Rates {
  input: bigint;
  output: bigint;
  cache_write_5m: bigint;
  cache_write_1h: bigint;
  cache_read: bigint;
}

export interface ModelPrice extends Rates {
  /** pico-USD per web search request. */
  web_search: bigint;
  /** Higher rates for every token class when the prompt exceeds a size (some models). */
  long_prompt?: Rates & { above_prompt_tokens: number };
  /** Fast mode's rates (usage.speed "fast"), for the models that have it. */
  fast?: Rates;
  source: string;
  date: string;
}

type RawPrice = Record<string, unknown>;

/** A route's surcharge: e.g. Bedrock geo/in-region endpoints at 1.1× list for newer models. */
export interface RouteMultiplier {
  route: string;
  endpoint_types: string[];
  models: string[];
  /** Exact rational: num/den. */
  num: bigint;
  den: bigint;
  source: string;
  date: string;
}

interface PriceFile {
  models: Record<string, RawPrice>;
  route_multipliers?: Record<string, unknown>[];
  inference_geo_multipliers?: Record<string, unknown>;
  service_tier_multipliers?: Record<string, unknown>;
}

/** Which rates priced a request (recorded on its ledger line). */
export type PriceTier = 'standard' | 'long_prompt' | 'per_iteration' | 'fast' | 'unpriced' | 'unpriced_ceiling' | 'service_tier_unpriced';

/** "1.1" → 11n/10n. */
function parseMultiplier(v: unknown, where: string): { num: bigint; den: bigint } {
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^\d+(\.\d{1,6})?$/.test(s)) throw new PriceError(`${where}: expected a decimal multiplier such as "1.1"`);
  const [i, f = ''] = s.split('.');
  return { num: BigInt((i as string) + f), den: 10n ** BigInt(f.length) };
}

export class PriceError extends Error {}

/** "0.125" (USD per Mtok) → 125000n pico-USD per token. Up to 6 decimals, no floats. */
export function parseUsdPerMtok(v: unknown, where: string): bigint {
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^\d+(\.\d{1,6})?$/.test(s.trim())) {
    throw new PriceError(`${where}: expected a non-negative decimal with at most 6 decimals, got ${JSON.stringify(v)}`);
  }
  const [int, frac = ''] = s.trim().split('.');
  return BigInt(int as string) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
}

const RATE_KEYS = ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read'] as const;

function parseRates(raw: RawPrice, where: string): Rates {
  const out: Partial<Record<(typeof RATE_KEYS)[number], bigint>> = {};
  for (const k of RATE_KEYS) out[k] = parseUsdPerMtok(raw[k], `${where}.${k}`);
  return out as Rates;
}

export function parsePrice(raw: RawPrice, where: string): ModelPrice {
  const p: ModelPrice = {
    ...parseRates(raw, where),
    // web_search is USD per request: "0.01" → 10,000,000,000 pico-USD, i.e. ×1e12.
    web_search: raw.web_search === undefined ? 0n : parseUsdPerMtok(raw.web_search, `${where}.web_search`) * 1_000_000n,
    source: typeof raw.source === 'string' ? raw.source : 'operator override',
    date: typeof raw.date === 'string' ? raw.date : '',
  };
  const lp = raw.long_prompt;
  if (lp && typeof lp === 'object') {
    const l = lp as RawPrice;
    const above = l.above_prompt_tokens;
    if (typeof above !== 'number' || !Number.isSafeInteger(above) || above < 0) {
      throw new PriceError(`${where}.long_prompt.above_prompt_tokens: expected a token count`);
    }
    p.long_prompt = { ...parseRates(l, `${where}.long_prompt`), above_prompt_tokens: above };
  }
  if (raw.fast && typeof raw.fast === 'object') p.fast = parseRates(raw.fast as RawPrice, `${where}.fast`);
  return p;
}

export interface Cost {
  /** Integer nano-USD, rounded half-up from the exact pico-USD figure. */
  nanoUsd: number;
  priced: boolean;
  tier: PriceTier;
}

type Ratio = { num: bigint; den: bigint };
const ONE: Ratio = { num: 1n, den: 1n };

/** One priced unit: the whole request, or one sampling iteration of it. */
interface Part {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
  cache1h: number;
}

function partCost(p: Part, r: Rates): bigint {
  return (
    BigInt(p.input) * r.input +
    BigInt(p.output) * r.output +
    BigInt(p.cacheRead) * r.cache_read +
    BigInt(p.cache1h) * r.cache_write_1h +
    BigInt(p.cacheWrite - p.cache1h) * r.cache_write_5m
  );
}

/** The request's iterations as parts, when they add up to its totals (else the totals price
 * it, as Claude Code does). 1-hour writes the iterations do not account for are given to
 * iterations with unassigned writes, first come first served. */
function iterationParts(usage: Usage, extras: UsageExtras): Part[] | null {
  const its = extras.iterations;
  if (!its || its.length === 0) return null;
  const sum = (f: (i: IterationUsage) => number) => its.reduce((a, i) => a + f(i), 0);
  const cacheWrite = usage.cache_creation_5m_input_tokens + usage.cache_creation_1h_input_tokens;
  if (
    sum((i) => i.input_tokens) !== usage.input_tokens ||
    sum((i) => i.output_tokens) !== usage.output_tokens ||
    sum((i) => i.cache_read_input_tokens) !== usage.cache_read_input_tokens ||
    sum((i) => i.cache_creation_input_tokens) !== cacheWrite
  )
    return null;
  let spare1h = Math.max(0, usage.cache_creation_1h_input_tokens - sum((i) => i.cache_1h));
  return its.map((i) => {
    const k = Math.min(spare1h, i.cache_creation_input_tokens - i.cache_5m - i.cache_1h);
    spare1h -= k;
    return {
      input: i.input_tokens,
      output: i.output_tokens,
      cacheRead: i.cache_read_input_tokens,
      cacheWrite: i.cache_creation_input_tokens,
      cache1h: i.cache_1h + k,
    };
  });
}

/**
 * Exact cost of one request, priced as Claude Code prices it: fast mode at the model's fast
 * rates; otherwise the long-prompt tier chosen per sampling iteration (on each iteration's
 * whole prompt: uncached input plus cache reads and writes); the inference-geography multiplier
 * on tokens (not on web searches); then an exact route multiplier on the whole.
 */
export function costOf(usage: Usage, price: ModelPrice, mult: Ratio = ONE, extras?: UsageExtras, geo: Ratio = ONE): { nanoUsd: number; tier: PriceTier } {
  const whole: Part = {
    input: usage.input_tokens,
    output: usage.output_tokens,
    cacheRead: usage.cache_read_input_tokens,
    cacheWrite: usage.cache_creation_5m_input_tokens + usage.cache_creation_1h_input_tokens,
    cache1h: usage.cache_creation_1h_input_tokens,
  };
  let tokens = 0n;
  let tier: PriceTier = 'standard';
  if (extras?.speed === 'fast' && price.fast) {
    tokens = partCost(whole, price.fast);
    tier = 'fast';
  } else if (price.long_prompt) {
    const lp = price.long_prompt;
    const parts = (extras && iterationParts(usage, extras)) ?? [whole];
    let long = 0;
    for (const p of parts) {
      const isLong = p.input + p.cacheRead + p.cacheWrite > lp.above_prompt_tokens;
      if (isLong) long++;
      tokens += partCost(p, isLong ? lp : price);
    }
    tier = long === 0 ? 'standard' : parts.length > 1 && long < parts.length ? 'per_iteration' : 'long_prompt';
  } else {
    tokens = partCost(whole, price);
  }
  const web = BigInt(usage.web_search_requests) * price.web_search;
  // Round half-up once, from the exact rational ((tokens × geo) + web) × route to nano-USD.
  const num = (tokens * geo.num + web * geo.den) * mult.num;
  const den = geo.den * mult.den * 1000n;
  return { nanoUsd: Number((num + den / 2n) / den), tier };
}

/**
 * nano-USD → a decimal USD string, rounded half-up (away from zero) at the shown precision,
 * in exact integer arithmetic. The one rule for money shown to people: every table, message
 * and chart label goes through it, so figures agree wherever they appear (JSON keeps exact
 * values). "0.017100000" at 9 decimals.
 */
export function formatUsd(nano: number | bigint, decimals = 9): string {
  const d = Math.max(0, Math.min(9, Math.floor(decimals)));
  const n = BigInt(nano);
  const neg = n < 0n;
  const step = 10n ** BigInt(9 - d);
  const units = ((neg ? -n : n) + step / 2n) / step;
  const scale = 10n ** BigInt(d);
  const int = units / scale;
  const frac = (units % scale).toString().padStart(d, '0');
  return `${neg && units > 0n ? '-' : ''}${int}${d > 0 ? '.' + frac : ''}`;
}

/** A USD amount already in JSON (exact to the nano-dollar) shown by the same rule. */
export function formatUsdAmount(usd: number, decimals: number): string {
  return formatUsd(Math.round(usd * 1e9), decimals);
}

/** nano-USD as a JSON number of USD (exact to the 9th decimal for any realistic total). */
export function nanoToUsd(nano: number): number {
  return Number(formatUsd(nano));
}

/** Distinct unpriced model names warned about; past this the ledger's unpriced flag tells. */
const MAX_WARNED_MODELS = 1000;

export class PriceBook {
  private readonly prices = new Map<string, ModelPrice>();
  private readonly warned = new Set<string>();
  private multipliers: RouteMultiplier[] = [];
  private readonly geo = new Map<string, Ratio>();
  /** route → service tier → multiple of the whole cost (Bedrock's flex, priority). */
  private readonly tiers = new Map<string, Map<string, Ratio>>();

  constructor(
    private readonly catalog: ModelCatalog,
    private readonly warn: (msg: string) => void = () => {},
  ) {}

  static load(catalog: ModelCatalog, opts: { file?: string; overrides?: Record<string, RawPrice> } = {}, warn?: (msg: string) => void): PriceBook {
    const book = new PriceBook(catalog, warn);
    book.addFile(dataPath('prices.json'));
    if (opts.file) book.addFile(opts.file);
    for (const [model, raw] of Object.entries(opts.overrides ?? {})) book.set(model, raw, `prices.overrides.${model}`);
    return book;
  }

  addFile(file: string): void {
    let parsed: PriceFile;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as PriceFile;
    } catch (err) {
      throw new PriceError(`cannot read price file ${file}: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed.models !== 'object') throw new PriceError(`${file}: expected {"models": {...}}`);
    for (const [model, raw] of Object.entries(parsed.models)) this.set(model, raw, `${file}: models.${model}`);
    if (parsed.inference_geo_multipliers && typeof parsed.inference_geo_multipliers === 'object') {
      for (const [g, m] of Object.entries(parsed.inference_geo_multipliers)) {
        if (g === '//') continue;
        this.geo.set(g, parseMultiplier(m, `${file}: inference_geo_multipliers.${g}`));
      }
    }
    if (parsed.service_tier_multipliers && typeof parsed.service_tier_multipliers === 'object') {
      for (const [route, table] of Object.entries(parsed.service_tier_multipliers)) {
        if (route.startsWith('//') || !table || typeof table !== 'object') continue;
        const m = this.tiers.get(route) ?? new Map<string, Ratio>();
        for (const [tier, v] of Object.entries(table as Record<string, unknown>)) {
          if (tier.startsWith('//')) continue;
          m.set(tier, parseMultiplier(v, `${file}: service_tier_multipliers.${route}.${tier}`));
        }
        this.tiers.set(route, m);
      }
    }
    if (Array.isArray(parsed.route_multipliers)) {
      // A file that lists multipliers replaces the earlier list as a whole.
      this.multipliers = parsed.route_multipliers.map((m, i) => {
        const where = `${file}: route_multipliers[${i}]`;
        if (typeof m.route !== 'string' || !Array.isArray(m.endpoint_types) || !Array.isArray(m.models))
          throw new PriceError(`${where}: needs route, endpoint_types and models`);
        return {
          route: m.route,
          endpoint_types: m.endpoint_types.map(String),
          models: m.models.map((x) => this.catalog.resolve(String(x))?.id ?? String(x)),
          ...parseMultiplier(m.multiplier, `${where}.multiplier`),
          source: typeof m.source === 'string' ? m.source : '',
          date: typeof m.date === 'string' ? m.date : '',
        };
      });
    }
  }

  /** The multiple a service tier costs on a route: undefined for a tier the price data does
   * not know (the request is then flagged, priced at standard). */
  serviceTier(route: string | null | undefined, tier: string | null | undefined): Ratio | undefined {
    if (!tier || tier === 'default') return ONE;
    return route ? this.tiers.get(route)?.get(tier) : undefined;
  }

  /** The surcharge for a model served on a route and endpoint type, if any. */
  multiplier(modelId: string | undefined, route: string | null, endpointType: string | null): RouteMultiplier | undefined {
    if (!modelId || !route || !endpointType) return undefined;
    const id = this.catalog.resolve(modelId)?.id;
    return this.multipliers.find((m) => m.route === route && m.endpoint_types.includes(endpointType) && id !== undefined && m.models.includes(id));
  }

  set(model: string, raw: RawPrice, where: string): void {
    // Keyed by catalog id when the model is known, so any id form finds the same price.
    const key = this.catalog.resolve(model)?.id ?? model.toLowerCase();
    const base = this.prices.get(key);
    const merged: RawPrice = base ? { ...this.toRaw(base), ...raw } : raw;
    this.prices.set(key, parsePrice(merged, where));
  }

  private toRaw(p: ModelPrice): RawPrice {
    const f = (v: bigint) => (Number(v) / 1e6).toString();
    return {
      input: f(p.input),
      output: f(p.output),
      cache_write_5m: f(p.cache_write_5m),
      cache_write_1h: f(p.cache_write_1h),
      cache_read: f(p.cache_read),
      web_search: (Number(p.web_search / 1_000_000n) / 1e6).toString(),
      ...(p.long_prompt
        ? {
            long_prompt: {
              above_prompt_tokens: p.long_prompt.above_prompt_tokens,
              input: f(p.long_prompt.input),
              output: f(p.long_prompt.output),
              cache_write_5m: f(p.long_prompt.cache_write_5m),
              cache_write_1h: f(p.long_prompt.cache_write_1h),
              cache_read: f(p.long_prompt.cache_read),
            },
          }
        : {}),
      ...(p.fast
        ? {
            fast: {
              input: f(p.fast.input),
              output: f(p.fast.output),
              cache_write_5m: f(p.fast.cache_write_5m),
              cache_write_1h: f(p.fast.cache_write_1h),
              cache_read: f(p.fast.cache_read),
            },
          }
        : {}),
      source: p.source,
      date: p.date,
    };
  }

  /** The price of a model id in any form, or undefined (never another model's price). */
  lookup(modelId: string): ModelPrice | undefined {
    const key = this.catalog.resolve(modelId)?.id ?? modelId.toLowerCase().replace(/\[1m\]$/, '');
    return this.prices.get(key);
  }

  /** The highest rate of each token class over every model and tier: what an unpriced model is
   * reserved and settled at (prices.unpriced: reserve), so a hard budget still holds. */
  ceiling(): ModelPrice {
    const max = (a: bigint, b: bigint) => (a > b ? a : b);
    const c: ModelPrice = {
      input: 0n,
      output: 0n,
      cache_write_5m: 0n,
      cache_write_1h: 0n,
      cache_read: 0n,
      web_search: 0n,
      source: 'ceiling of every shipped and configured price',
      date: '',
    };
    for (const p of this.prices.values()) {
      for (const r of [p, p.long_prompt, p.fast]) {
        if (!r) continue;
        for (const k of RATE_KEYS) c[k] = max(c[k], r[k]);
      }
      c.web_search = max(c.web_search, p.web_search);
    }
    return c;
  }

  /** Cost of a request; an unknown model is reported unpriced and warned about once (or, with
   * `unpriced: 'ceiling'`, priced at the ceiling rates and still flagged unpriced). With a
   * route and endpoint type, that route's surcharge applies (data/prices.json); with usage
   * extras, fast mode, per-iteration long-prompt tiers and the inference-geography multiplier. */
  cost(
    modelId: string | undefined,
    usage: Usage,
    where: { route?: string | null; endpointType?: string | null; serviceTier?: string | null } = {},
    extras?: UsageExtras,
    unpriced: 'zero' | 'ceiling' = 'zero',
  ): Cost {
    const price = modelId ? this.lookup(modelId) : undefined;
    const geo = extras?.inference_geo ? this.geo.get(extras.inference_geo) : undefined;
    if (!price && unpriced === 'ceiling') {
      return { nanoUsd: costOf(usage, this.ceiling(), ONE, undefined, geo).nanoUsd, priced: false, tier: 'unpriced_ceiling' };
    }
    if (!price) {
      const name = modelId ?? '(no model)';
      // Bounded: model names come from clients (validated, but many distinct ones are cheap).
      if (!this.warned.has(name) && this.warned.size < MAX_WARNED_MODELS) {
        this.warned.add(name);
        this.warn(`no price for model "${name}": its requests are recorded with tokens but marked unpriced (add it to a price file, see prices.file)`);
      }
      return { nanoUsd: 0, priced: false, tier: 'unpriced' };
    }
    const m = this.multiplier(modelId, where.route ?? null, where.endpointType ?? null);
    // A service tier (Bedrock flex, priority) multiplies the whole, after the route's surcharge.
    const st = this.serviceTier(where.route, where.serviceTier);
    const mult = st ? { num: (m ?? ONE).num * st.num, den: (m ?? ONE).den * st.den } : (m ?? ONE);
    const c = costOf(usage, price, mult, extras, geo);
    return { nanoUsd: c.nanoUsd, priced: true, tier: st ? c.tier : 'service_tier_unpriced' };
  }

  entries(): [string, ModelPrice][] {
    return [...this.prices.entries()];
  }
}
