// Price catalog (data/prices.json plus operator overrides) and exact cost arithmetic.
// Prices are decimal strings in USD per million tokens; internally they are integers in
// pico-USD per token (1 USD/Mtok = 1,000,000 pUSD/token), so every shipped price and every
// route multiplier is exact. A request's cost is computed in BigInt pico-USD and stored in
// integer nano-USD (the ledger's unit), rounded half-up once per request.
import { readFileSync } from 'node:fs';
import { dataPath } from '../util/paths.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { Usage } from './usage.js';

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

interface PriceFile { models: Record<string, RawPrice>; route_multipliers?: Record<string, unknown>[] }

/** "1.1" → 11n/10n. */
function parseMultiplier(v: unknown, where: string): { num: bigint; den: bigint } {
  const s = typeof v === 'number' ? String(v) : v;
  if (typeof s !== 'string' || !/^\d+(\.\d{1,6})?$/.test(s)) throw new PriceError(`${where}: expected a decimal multiplier such as "1.1"`);
  const [i, f = ''] = s.split('.');
  return { num: BigInt(i as string + f), den: 10n ** BigInt(f.length) };
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
  return p;
}

export interface Cost {
  /** Integer nano-USD, rounded half-up from the exact pico-USD figure. */
  nanoUsd: number;
  priced: boolean;
}

/** Exact cost of one request's usage at the given price (times an exact multiplier). */
export function costOf(usage: Usage, price: ModelPrice, mult: { num: bigint; den: bigint } = { num: 1n, den: 1n }): number {
  // Long-prompt tiers look at the whole prompt: uncached input plus cache reads and writes.
  const prompt = usage.input_tokens + usage.cache_read_input_tokens
    + usage.cache_creation_5m_input_tokens + usage.cache_creation_1h_input_tokens;
  const r: Rates = price.long_prompt && prompt > price.long_prompt.above_prompt_tokens ? price.long_prompt : price;
  const pico = BigInt(usage.input_tokens) * r.input
    + BigInt(usage.output_tokens) * r.output
    + BigInt(usage.cache_creation_5m_input_tokens) * r.cache_write_5m
    + BigInt(usage.cache_creation_1h_input_tokens) * r.cache_write_1h
    + BigInt(usage.cache_read_input_tokens) * r.cache_read
    + BigInt(usage.web_search_requests) * price.web_search;
  // Round half-up once, from the exact rational pico × num / den to nano-USD.
  const den = mult.den * 1000n;
  return Number((pico * mult.num + den / 2n) / den);
}

/** nano-USD → a decimal USD string with no float rounding ("0.017100000"). */
export function formatUsd(nano: number | bigint, decimals = 9): string {
  const n = BigInt(nano);
  const neg = n < 0n;
  const a = neg ? -n : n;
  const int = a / 1_000_000_000n;
  const frac = (a % 1_000_000_000n).toString().padStart(9, '0').slice(0, decimals);
  return `${neg ? '-' : ''}${int}${decimals > 0 ? '.' + frac : ''}`;
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

  constructor(private readonly catalog: ModelCatalog, private readonly warn: (msg: string) => void = () => {}) {}

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
    if (Array.isArray(parsed.route_multipliers)) {
      // A file that lists multipliers replaces the earlier list as a whole.
      this.multipliers = parsed.route_multipliers.map((m, i) => {
        const where = `${file}: route_multipliers[${i}]`;
        if (typeof m.route !== 'string' || !Array.isArray(m.endpoint_types) || !Array.isArray(m.models)) throw new PriceError(`${where}: needs route, endpoint_types and models`);
        return {
          route: m.route, endpoint_types: m.endpoint_types.map(String),
          models: m.models.map((x) => this.catalog.resolve(String(x))?.id ?? String(x)),
          ...parseMultiplier(m.multiplier, `${where}.multiplier`),
          source: typeof m.source === 'string' ? m.source : '', date: typeof m.date === 'string' ? m.date : '',
        };
      });
    }
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
      input: f(p.input), output: f(p.output), cache_write_5m: f(p.cache_write_5m), cache_write_1h: f(p.cache_write_1h),
      cache_read: f(p.cache_read), web_search: (Number(p.web_search / 1_000_000n) / 1e6).toString(),
      ...(p.long_prompt ? { long_prompt: { above_prompt_tokens: p.long_prompt.above_prompt_tokens, input: f(p.long_prompt.input), output: f(p.long_prompt.output), cache_write_5m: f(p.long_prompt.cache_write_5m), cache_write_1h: f(p.long_prompt.cache_write_1h), cache_read: f(p.long_prompt.cache_read) } } : {}),
      source: p.source, date: p.date,
    };
  }

  /** The price of a model id in any form, or undefined (never another model's price). */
  lookup(modelId: string): ModelPrice | undefined {
    const key = this.catalog.resolve(modelId)?.id ?? modelId.toLowerCase().replace(/\[1m\]$/, '');
    return this.prices.get(key);
  }

  /** Cost of a request; an unknown model is reported unpriced and warned about once. With a
   * route and endpoint type, that route's surcharge applies (data/prices.json). */
  cost(modelId: string | undefined, usage: Usage, where: { route?: string | null; endpointType?: string | null } = {}): Cost {
    const price = modelId ? this.lookup(modelId) : undefined;
    if (!price) {
      const name = modelId ?? '(no model)';
      // Bounded: model names come from clients (validated, but many distinct ones are cheap).
      if (!this.warned.has(name) && this.warned.size < MAX_WARNED_MODELS) {
        this.warned.add(name);
        this.warn(`no price for model "${name}": its requests are recorded with tokens but marked unpriced (add it to a price file, see prices.file)`);
      }
      return { nanoUsd: 0, priced: false };
    }
    const m = this.multiplier(modelId, where.route ?? null, where.endpointType ?? null);
    return { nanoUsd: costOf(usage, price, m), priced: true };
  }

  entries(): [string, ModelPrice][] {
    return [...this.prices.entries()];
  }
}
