#!/usr/bin/env node
// Regenerates data/models.json and data/prices.json from a Claude Code model catalog dump
// (the format of shared/data/claude-models.json). Operators normally edit the data files or
// override them from config; this script is for maintainers refreshing the shipped defaults.
import { readFileSync, writeFileSync } from 'node:fs';

const [src, date] = process.argv.slice(2);
if (!src || !date) {
  console.error('usage: import-claude-catalog.mjs <claude-models.json> <YYYY-MM-DD>');
  process.exit(2);
}
const cat = JSON.parse(readFileSync(src, 'utf8'));
const source = cat.source;

const models = cat.models.map((m) => {
  const p = m.provider_ids;
  // Claude Code's catalog stores the US cross-region profile; the base id is the same without
  // the geography prefix, and the gateway adds the prefix that matches the upstream's region.
  const bedrockBase = p.bedrock ? p.bedrock.replace(/^(us|eu|apac|global|jp|au|us-gov|ca)\./, '') : null;
  return {
    id: m.id,
    family: m.family,
    display_name: m.display_name,
    ids: {
      first_party: p.first_party,
      bedrock: bedrockBase,
      vertex: p.vertex,
      mantle: p.mantle,
      foundry: p.foundry,
    },
    context_window: m.context?.window ?? 200000,
    max_context_window: m.context?.maximum_window ?? m.context?.window ?? 200000,
    supports_1m: Boolean(m.context?.supports_1m_suffix || m.context?.supports_1m_beta || m.context?.native_1m),
    vertex_region_env_var: m.vertex_region_env_var ?? null,
    max_output_tokens: m.max_output_tokens ?? null,
    fallback: m.fallback_on_cloud_routes ?? null,
  };
});

const str = (v) => (v === undefined ? undefined : String(v));
const prices = {};
for (const m of cat.models) {
  const pr = m.prices;
  const e = {
    input: str(pr.input),
    output: str(pr.output),
    cache_write_5m: str(pr.cache_write_5m),
    cache_write_1h: str(pr.cache_write_1h),
    cache_read: str(pr.cache_read),
    web_search: str(pr.web_search),
  };
  if (pr.long_prompt) {
    const lp = pr.long_prompt;
    e.long_prompt = {
      above_prompt_tokens: lp.above_prompt_tokens,
      input: str(lp.input),
      output: str(lp.output),
      cache_write_5m: str(lp.cache_write_5m),
      cache_write_1h: str(lp.cache_write_1h),
      cache_read: str(lp.cache_read),
    };
  }
  e.source = `${source} (list price tier ${m.price_tier})`;
  e.date = date;
  prices[m.id] = e;
}

writeFileSync(
  'data/models.json',
  JSON.stringify(
    {
      '//': 'Model catalog: every Claude model, its id on each route, aliases and context. Data, not code: edit or override without a release.',
      source,
      date,
      aliases: cat.aliases,
      models,
    },
    null,
    2,
  ) + '\n',
);

const old = (() => {
  try {
    return JSON.parse(readFileSync('data/prices.json', 'utf8'));
  } catch {
    return {};
  }
})();
writeFileSync(
  'data/prices.json',
  JSON.stringify(
    {
      '//': 'List prices. USD per 1,000,000 tokens; web_search in USD per request. Decimal strings so no price is ever a binary float. Each entry has its source and date.',
      unit: 'USD per 1M tokens (web_search: USD per request)',
      ...(old.route_multipliers ? { route_multipliers: old.route_multipliers } : {}),
      models: prices,
    },
    null,
    2,
  ) + '\n',
);
console.log(`wrote ${models.length} models`);
