// `tollgate setup`: Claude Code settings for a route, with all three model aliases pinned to
// the right ids for that route and region, and the other routes' flags switched off so a
// forgotten one cannot take over.
import type { ModelCatalog } from '../routing/catalog.js';
import { bedrockGeoPrefix, routeData } from '../routing/route-data.js';

export type SetupRoute = 'anthropic' | 'bedrock' | 'vertex' | 'gateway';

export interface SetupOptions {
  route: SetupRoute;
  region?: string;
  profile?: 'geo' | 'global' | 'regional';
  project?: string;
  gatewayUrl?: string;
  keyHelper?: string;
  models?: { opus?: string; sonnet?: string; haiku?: string };
}

export interface GeneratedSettings {
  env: Record<string, string>;
  apiKeyHelper?: string;
}

export class SetupError extends Error {}

export function generateSettings(o: SetupOptions, catalog: ModelCatalog): GeneratedSettings {
  const env: Record<string, string> = {};
  const off = (...flags: string[]) => {
    for (const f of flags) env[f] = '0';
  };
  const pick = (alias: 'opus' | 'sonnet' | 'haiku'): string => {
    const wanted = o.models?.[alias] ?? catalog.aliases[alias]?.default;
    const m = wanted ? catalog.resolve(wanted) : undefined;
    if (!m) throw new SetupError(`--${alias} ${wanted}: not a model in the catalog (see tollgate models)`);
    if (o.route === 'bedrock') {
      if (!m.ids.bedrock) throw new SetupError(`${m.display_name} is not available on Bedrock; choose another with --${alias}`);
      const profile = o.profile ?? 'geo';
      if (profile === 'regional') return m.ids.bedrock;
      if (profile === 'global') return `global.${m.ids.bedrock}`;
      const geo = bedrockGeoPrefix(o.region as string);
      if (!geo) throw new SetupError(`no cross-region geography known for ${o.region}; use --profile global or regional`);
      return `${geo}.${m.ids.bedrock}`;
    }
    if (o.route === 'vertex') {
      if (!m.ids.vertex) throw new SetupError(`${m.display_name} is not available on Vertex; choose another with --${alias}`);
      return m.ids.vertex;
    }
    if (!m.ids.first_party) throw new SetupError(`${m.display_name} has no first-party id`);
    return m.ids.first_party;
  };
  switch (o.route) {
    case 'bedrock':
      if (!o.region) throw new SetupError('--region is required for --route bedrock (e.g. eu-west-1)');
      if (!/^[a-z]{2}(-gov)?-[a-z]+-\d+$/.test(o.region)) throw new SetupError(`--region ${o.region}: an AWS region such as eu-west-1`);
      env.CLAUDE_CODE_USE_BEDROCK = '1';
      env.AWS_REGION = o.region;
      off('CLAUDE_CODE_USE_VERTEX');
      break;
    case 'vertex':
      if (!o.project) throw new SetupError('--project is required for --route vertex');
      env.CLAUDE_CODE_USE_VERTEX = '1';
      env.CLOUD_ML_REGION = o.region ?? 'global';
      env.ANTHROPIC_VERTEX_PROJECT_ID = o.project;
      off('CLAUDE_CODE_USE_BEDROCK');
      break;
    case 'gateway':
      if (!o.gatewayUrl) throw new SetupError('--gateway-url is required for --route gateway');
      try {
        new URL(o.gatewayUrl);
      } catch {
        throw new SetupError(`--gateway-url ${o.gatewayUrl}: not a URL`);
      }
      env.ANTHROPIC_BASE_URL = o.gatewayUrl.replace(/\/+$/, '');
      off('CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX');
      break;
    case 'anthropic':
      off('CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX');
      break;
  }
  env.ANTHROPIC_DEFAULT_OPUS_MODEL = pick('opus');
  env.ANTHROPIC_DEFAULT_SONNET_MODEL = pick('sonnet');
  env.ANTHROPIC_DEFAULT_HAIKU_MODEL = pick('haiku');
  if (o.route === 'vertex' && env.CLOUD_ML_REGION === 'global') {
    // Pinned models not on the global endpoint get a regional override.
    for (const alias of ['opus', 'sonnet', 'haiku'] as const) {
      const m = catalog.resolve(env[`ANTHROPIC_DEFAULT_${alias.toUpperCase()}_MODEL`] as string);
      if (m?.vertex_region_env_var && !isOnGlobal(m.id)) env[m.vertex_region_env_var] = 'us-east5';
    }
  }
  const out: GeneratedSettings = { env };
  if (o.keyHelper) out.apiKeyHelper = o.keyHelper;
  return out;
}

function isOnGlobal(id: string): boolean {
  return (routeData().vertex.global_endpoint_models?.models ?? []).includes(id);
}

/** Merges generated settings into an existing settings object (other keys kept). */
export function mergeSettings(existing: Record<string, unknown>, gen: GeneratedSettings): Record<string, unknown> {
  const env = { ...(existing.env && typeof existing.env === 'object' ? (existing.env as Record<string, unknown>) : {}), ...gen.env };
  // Variables that belong to another route would only confuse the next reader (and the doctor).
  if (gen.env.CLAUDE_CODE_USE_BEDROCK !== '1') delete env.ANTHROPIC_BEDROCK_BASE_URL;
  if (gen.env.CLAUDE_CODE_USE_VERTEX !== '1') delete env.ANTHROPIC_VERTEX_BASE_URL;
  delete env.ANTHROPIC_SMALL_FAST_MODEL;
  const out: Record<string, unknown> = { ...existing, env };
  if (gen.apiKeyHelper) out.apiKeyHelper = gen.apiKeyHelper;
  return out;
}

export function shellExports(gen: GeneratedSettings): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return (
    Object.entries(gen.env)
      .map(([k, v]) => `export ${k}=${q(v)}`)
      .join('\n') +
    '\n' +
    (gen.apiKeyHelper
      ? `# apiKeyHelper cannot be an environment variable: add "apiKeyHelper": ${JSON.stringify(gen.apiKeyHelper)} to ~/.claude/settings.json\n`
      : '')
  );
}
