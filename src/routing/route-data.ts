// data/routes.json: per-route protocol facts (anthropic_version, betas a route rejects,
// Bedrock geography prefixes by region).
import { readFileSync } from 'node:fs';
import { dataPath } from '../util/paths.js';

interface RouteFacts {
  anthropic_version: string;
  drop_betas: { flags: string[] };
  /** Body fields removed on the route (they travel with a dropped beta). */
  drop_body_fields?: { fields: string[] };
  geo_prefixes?: Record<string, string>;
}

interface RoutesFile {
  bedrock: RouteFacts & { unsupported_server_tools?: { prefixes: string[] } };
  vertex: RouteFacts & { global_endpoint_models?: { models: string[] }; global_fallback_region?: { region: string } };
}

let cached: RoutesFile | undefined;

export function routeData(): RoutesFile {
  return (cached ??= JSON.parse(readFileSync(dataPath('routes.json'), 'utf8')) as RoutesFile);
}

/** Geography prefix of a Bedrock cross-region profile for a region (longest prefix wins). */
export function bedrockGeoPrefix(region: string): string | null {
  const table = routeData().bedrock.geo_prefixes ?? {};
  let best: string | null = null;
  let bestLen = -1;
  for (const [prefix, geo] of Object.entries(table)) {
    if (prefix.startsWith('//')) continue;
    if (region.startsWith(prefix) && prefix.length > bestLen) {
      best = geo;
      bestLen = prefix.length;
    }
  }
  return best;
}
