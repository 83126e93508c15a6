// `tollgate doctor`: what Claude Code will do with this configuration (provider, credential,
// endpoint, region, project, each model alias on that route) and what is wrong with it, each
// problem with the line that fixes it. Covers the pitfalls of the billing-route articles:
// ids pasted across routes, geography/region mismatches, missing AWS_REGION, a stray API key
// over a subscription, a forgotten cloud flag, deprecated or unpinned small/fast models, a
// Vertex project silently overridden, global-endpoint gaps, stale base URLs.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CatalogModel, ModelCatalog } from '../routing/catalog.js';
import { bedrockGeoPrefix, routeData } from '../routing/route-data.js';
import type { ClaudeConfig, EnvValue } from './settings.js';

export type Provider = 'anthropic' | 'bedrock' | 'vertex' | 'foundry' | 'mantle';
export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  code: string;
  message: string;
  /** A line to paste that fixes it. */
  fix: string;
}

export interface ModelView {
  alias: 'main' | 'opus' | 'sonnet' | 'haiku';
  variable: string;
  configured: string | null;
  source: string;
  /** The id Claude Code will send on this route, or null when it cannot be known. */
  resolves: string | null;
  region: string | null;
}

export interface DoctorReport {
  provider: Provider;
  credential: { kind: string; source: string; fingerprint: string | null };
  endpoint: string;
  region: string | null;
  project: string | null;
  models: ModelView[];
  findings: Finding[];
  files: { scope: string; path: string; exists: boolean; error: string | null }[];
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());

export function fingerprint(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 8)}`;
}

const ALIAS_VARS = [
  ['main', 'ANTHROPIC_MODEL'],
  ['opus', 'ANTHROPIC_DEFAULT_OPUS_MODEL'],
  ['sonnet', 'ANTHROPIC_DEFAULT_SONNET_MODEL'],
  ['haiku', 'ANTHROPIC_DEFAULT_HAIKU_MODEL'],
] as const;

function idForm(id: string): 'bedrock-profile' | 'bedrock-base' | 'arn' | 'vertex' | 'first-party' | 'alias' {
  if (id.startsWith('arn:')) return 'arn';
  if (/^(us|eu|apac|jp|au|ca|us-gov|global)\.anthropic\./.test(id)) return 'bedrock-profile';
  if (id.startsWith('anthropic.')) return 'bedrock-base';
  if (id.includes('@')) return 'vertex';
  if (['opus', 'sonnet', 'haiku', 'opusplan', 'default', 'best'].includes(id.replace(/\[1m\]$/, ''))) return 'alias';
  return 'first-party';
}

export function diagnose(cfg: ClaudeConfig, catalog: ModelCatalog): DoctorReport {
  const e = (k: string): EnvValue | undefined => cfg.env.get(k);
  const v = (k: string): string | undefined => cfg.env.get(k)?.value;
  const findings: Finding[] = [];
  const add = (severity: Severity, code: string, message: string, fix: string) => findings.push({ severity, code, message, fix });
  const where = (k: string) => {
    const s = e(k)?.source ?? 'shell';
    return s === 'shell' ? 'your shell' : s;
  };
  const unset = (k: string) =>
    (e(k)?.source ?? 'shell') === 'shell' ? `unset ${k}` : `remove "${k}" from the env block of ${e(k)!.source.replace(/^\w+ settings \((.*)\)$/, '$1')}`;

  for (const f of cfg.files) if (f.error) add('error', 'SETTINGS_INVALID', `${f.path}: ${f.error}; Claude Code ignores this file`, `fix the JSON in ${f.path}`);

  // 1. Provider: the cloud flags outrank everything else.
  const flags = (['CLAUDE_CODE_USE_BEDROCK', 'CLAUDE_CODE_USE_VERTEX', 'CLAUDE_CODE_USE_FOUNDRY', 'CLAUDE_CODE_USE_MANTLE'] as const).filter((f) =>
    truthy(v(f)),
  );
  const provider: Provider =
    flags[0] === 'CLAUDE_CODE_USE_BEDROCK'
      ? 'bedrock'
      : flags[0] === 'CLAUDE_CODE_USE_VERTEX'
        ? 'vertex'
        : flags[0] === 'CLAUDE_CODE_USE_FOUNDRY'
          ? 'foundry'
          : flags[0] === 'CLAUDE_CODE_USE_MANTLE'
            ? 'mantle'
            : 'anthropic';
  if (flags.length > 1) add('error', 'MULTIPLE_PROVIDER_FLAGS', `${flags.join(' and ')} are all set; ${flags[0]} wins`, flags.slice(1).map(unset).join('; '));
  if (provider !== 'anthropic' && v('ANTHROPIC_BASE_URL')) {
    add(
      'error',
      'CLOUD_FLAG_OVERRIDES_BASE_URL',
      `${flags[0]} (from ${where(flags[0]!)}) takes precedence: ANTHROPIC_BASE_URL=${v('ANTHROPIC_BASE_URL')} is ignored, traffic goes to ${provider}`,
      `${unset(flags[0]!)}    # if you meant to use ${v('ANTHROPIC_BASE_URL')}`,
    );
  }

  // 2. Credential, walking Claude Code's precedence list.
  let credential: DoctorReport['credential'] = { kind: 'none', source: '', fingerprint: null };
  const secret = (k: string) => ({ kind: k, source: where(k), fingerprint: fingerprint(v(k) as string) });
  const loggedIn = existsSync(join(cfg.home, '.claude', '.credentials.json'));
  if (provider === 'bedrock') {
    if (v('AWS_BEARER_TOKEN_BEDROCK')) credential = { ...secret('AWS_BEARER_TOKEN_BEDROCK'), kind: 'bedrock_api_key' };
    else if (truthy(v('CLAUDE_CODE_SKIP_BEDROCK_AUTH')))
      credential = { kind: 'none (CLAUDE_CODE_SKIP_BEDROCK_AUTH: a gateway authenticates)', source: where('CLAUDE_CODE_SKIP_BEDROCK_AUTH'), fingerprint: null };
    else if (v('AWS_ACCESS_KEY_ID') && v('AWS_SECRET_ACCESS_KEY'))
      credential = { kind: 'aws_access_keys', source: where('AWS_ACCESS_KEY_ID'), fingerprint: fingerprint(v('AWS_ACCESS_KEY_ID') as string) };
    else if (v('AWS_PROFILE')) credential = { kind: `aws_profile:${v('AWS_PROFILE')}`, source: where('AWS_PROFILE'), fingerprint: null };
    else if (v('AWS_WEB_IDENTITY_TOKEN_FILE')) credential = { kind: 'aws_web_identity', source: where('AWS_WEB_IDENTITY_TOKEN_FILE'), fingerprint: null };
    else if (existsSync(join(cfg.home, '.aws', 'credentials')) || existsSync(join(cfg.home, '.aws', 'config')))
      credential = { kind: 'aws_default_profile', source: join(cfg.home, '.aws'), fingerprint: null };
    else {
      credential = { kind: 'aws_instance_or_container_role (assumed)', source: 'AWS credential chain', fingerprint: null };
      add(
        'warning',
        'AWS_CREDENTIALS_NOT_FOUND',
        'no AWS credentials in the environment or ~/.aws; Claude Code will only work on a host with an instance or container role',
        'aws sso login --profile <profile> && export AWS_PROFILE=<profile>    # or: export AWS_BEARER_TOKEN_BEDROCK=<Bedrock API key>',
      );
    }
    for (const k of ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN']) {
      if (v(k) && !truthy(v('CLAUDE_CODE_SKIP_BEDROCK_AUTH')))
        add('warning', 'ANTHROPIC_CREDENTIAL_IGNORED', `${k} (from ${where(k)}) is ignored on Bedrock`, unset(k));
    }
  } else if (provider === 'vertex') {
    const gac = v('GOOGLE_APPLICATION_CREDENTIALS');
    const adcFile = join(v('CLOUDSDK_CONFIG') ?? join(cfg.home, '.config', 'gcloud'), 'application_default_credentials.json');
    if (truthy(v('CLAUDE_CODE_SKIP_VERTEX_AUTH')))
      credential = { kind: 'none (CLAUDE_CODE_SKIP_VERTEX_AUTH: a gateway authenticates)', source: where('CLAUDE_CODE_SKIP_VERTEX_AUTH'), fingerprint: null };
    else if (gac) {
      credential = {
        kind: 'gcp_service_account_key',
        source: `GOOGLE_APPLICATION_CREDENTIALS (${where('GOOGLE_APPLICATION_CREDENTIALS')})`,
        fingerprint: null,
      };
      if (!existsSync(gac))
        add(
          'error',
          'ADC_FILE_MISSING',
          `GOOGLE_APPLICATION_CREDENTIALS points to ${gac}, which does not exist ("Could not load the default credentials")`,
          'export GOOGLE_APPLICATION_CREDENTIALS=/path/to/key.json    # or: gcloud auth application-default login',
        );
    } else if (existsSync(adcFile)) credential = { kind: 'gcp_adc_user', source: adcFile, fingerprint: null };
    else {
      credential = { kind: 'gcp_metadata_server (assumed)', source: 'Application Default Credentials', fingerprint: null };
      add(
        'warning',
        'ADC_NOT_FOUND',
        'no Application Default Credentials found (no GOOGLE_APPLICATION_CREDENTIALS, no gcloud ADC file); only a GCE/GKE metadata server can authenticate ("Could not load the default credentials")',
        'gcloud auth application-default login',
      );
    }
    for (const k of ['ANTHROPIC_API_KEY']) if (v(k)) add('warning', 'ANTHROPIC_CREDENTIAL_IGNORED', `${k} (from ${where(k)}) is ignored on Vertex`, unset(k));
  } else if (provider === 'anthropic') {
    if (v('ANTHROPIC_AUTH_TOKEN')) credential = secret('ANTHROPIC_AUTH_TOKEN');
    else if (v('ANTHROPIC_API_KEY')) credential = secret('ANTHROPIC_API_KEY');
    else if (cfg.apiKeyHelper)
      credential = { kind: 'apiKeyHelper', source: `${cfg.apiKeyHelper.source}: ${cfg.apiKeyHelper.value.split(/\s+/)[0]}`, fingerprint: null };
    else if (v('CLAUDE_CODE_OAUTH_TOKEN')) credential = secret('CLAUDE_CODE_OAUTH_TOKEN');
    else if (loggedIn) credential = { kind: 'subscription (/login)', source: join(cfg.home, '.claude', '.credentials.json'), fingerprint: null };
    else
      add(
        'error',
        'NO_CREDENTIAL',
        'no credential: no ANTHROPIC_AUTH_TOKEN, ANTHROPIC_API_KEY, apiKeyHelper, CLAUDE_CODE_OAUTH_TOKEN or /login subscription',
        v('ANTHROPIC_BASE_URL')
          ? 'export ANTHROPIC_AUTH_TOKEN=$(tollgate keys create --user $USER)    # a gateway key'
          : 'claude /login    # or: export ANTHROPIC_API_KEY=<key>',
      );
    if (v('ANTHROPIC_AUTH_TOKEN') && v('ANTHROPIC_API_KEY'))
      add(
        'warning',
        'AUTH_TOKEN_AND_API_KEY',
        `both ANTHROPIC_AUTH_TOKEN (${where('ANTHROPIC_AUTH_TOKEN')}) and ANTHROPIC_API_KEY (${where('ANTHROPIC_API_KEY')}) are set; ANTHROPIC_AUTH_TOKEN wins`,
        unset('ANTHROPIC_API_KEY'),
      );
    if (v('ANTHROPIC_API_KEY') && !v('ANTHROPIC_BASE_URL') && (loggedIn || v('CLAUDE_CODE_OAUTH_TOKEN'))) {
      add(
        'warning',
        'API_KEY_OVERRIDES_SUBSCRIPTION',
        `ANTHROPIC_API_KEY (from ${where('ANTHROPIC_API_KEY')}) overrides your subscription login: usage is billed to that key's organisation, and an expired key fails authentication`,
        `${unset('ANTHROPIC_API_KEY')}    # then /status shows the subscription`,
      );
    }
    if (cfg.apiKeyHelper && (v('ANTHROPIC_AUTH_TOKEN') || v('ANTHROPIC_API_KEY')))
      add(
        'info',
        'API_KEY_HELPER_UNUSED',
        `apiKeyHelper (${cfg.apiKeyHelper.source}) is not used: an environment credential outranks it`,
        unset(v('ANTHROPIC_AUTH_TOKEN') ? 'ANTHROPIC_AUTH_TOKEN' : 'ANTHROPIC_API_KEY'),
      );
  }

  // 3. Endpoint, region, project.
  let endpoint = 'https://api.anthropic.com';
  let region: string | null = null;
  let project: string | null = null;
  if (provider === 'anthropic') endpoint = v('ANTHROPIC_BASE_URL') ?? endpoint;
  if (provider === 'bedrock') {
    region = v('AWS_REGION') ?? v('AWS_DEFAULT_REGION') ?? null;
    if (!v('AWS_REGION'))
      add(
        'error',
        'AWS_REGION_MISSING',
        `CLAUDE_CODE_USE_BEDROCK is set but AWS_REGION is not${v('AWS_DEFAULT_REGION') ? ' (Claude Code does not read AWS_DEFAULT_REGION or ~/.aws/config for this)' : ''}`,
        `export AWS_REGION=${v('AWS_DEFAULT_REGION') ?? 'us-east-1'}`,
      );
    endpoint = v('ANTHROPIC_BEDROCK_BASE_URL') ?? `https://bedrock-runtime.${region ?? '<AWS_REGION>'}.amazonaws.com`;
  }
  if (provider === 'vertex') {
    region = v('CLOUD_ML_REGION') ?? null;
    project = v('ANTHROPIC_VERTEX_PROJECT_ID') ?? null;
    if (!region) add('error', 'CLOUD_ML_REGION_MISSING', 'CLAUDE_CODE_USE_VERTEX is set but CLOUD_ML_REGION is not', 'export CLOUD_ML_REGION=global');
    if (!project)
      add(
        'error',
        'VERTEX_PROJECT_MISSING',
        'CLAUDE_CODE_USE_VERTEX is set but ANTHROPIC_VERTEX_PROJECT_ID is not',
        'export ANTHROPIC_VERTEX_PROJECT_ID=<your-gcp-project>',
      );
    for (const k of ['GCLOUD_PROJECT', 'GOOGLE_CLOUD_PROJECT']) {
      if (v(k) && v(k) !== project)
        add(
          'warning',
          'VERTEX_PROJECT_OVERRIDDEN',
          `${k}=${v(k)} (from ${where(k)}) takes precedence over ANTHROPIC_VERTEX_PROJECT_ID=${project ?? '(unset)'}: requests go to project ${v(k)}`,
          unset(k),
        );
    }
    const gac = v('GOOGLE_APPLICATION_CREDENTIALS');
    if (gac && existsSync(gac)) {
      try {
        const pj = JSON.parse(readFileSync(gac, 'utf8')) as { project_id?: string; quota_project_id?: string };
        const p = pj.project_id ?? pj.quota_project_id;
        if (p && project && p !== project && !v('GCLOUD_PROJECT') && !v('GOOGLE_CLOUD_PROJECT'))
          add(
            'warning',
            'VERTEX_PROJECT_OVERRIDDEN',
            `the credentials file ${gac} names project ${p}, which can take precedence over ANTHROPIC_VERTEX_PROJECT_ID=${project}`,
            `export GOOGLE_CLOUD_PROJECT=${project}    # or use a key from project ${project}`,
          );
      } catch {
        add(
          'error',
          'ADC_FILE_INVALID',
          `${gac} is not a readable credentials JSON file`,
          'gcloud iam service-accounts keys create key.json --iam-account=<sa>    # then point GOOGLE_APPLICATION_CREDENTIALS at it',
        );
      }
    }
    const base =
      region === 'global'
        ? 'https://aiplatform.googleapis.com/v1'
        : region === 'us' || region === 'eu'
          ? `https://aiplatform.${region}.rep.googleapis.com/v1`
          : `https://${region ?? '<region>'}-aiplatform.googleapis.com/v1`;
    endpoint = v('ANTHROPIC_VERTEX_BASE_URL') ?? base;
  }

  // 4. Stale or risky base URLs.
  const baseVars: [string, Provider][] = [
    ['ANTHROPIC_BASE_URL', 'anthropic'],
    ['ANTHROPIC_BEDROCK_BASE_URL', 'bedrock'],
    ['ANTHROPIC_VERTEX_BASE_URL', 'vertex'],
  ];
  for (const [k, p] of baseVars) {
    const u = v(k);
    if (!u) continue;
    if (p !== provider && !(k === 'ANTHROPIC_BASE_URL' && provider !== 'anthropic'))
      add(
        'warning',
        'STALE_BASE_URL',
        `${k}=${u} (from ${where(k)}) is set but the ${p} route is not in use; a leftover that will silently apply if ${p} is switched on`,
        unset(k),
      );
    let parsed: URL | null = null;
    try {
      parsed = new URL(u);
    } catch {
      add('error', 'BASE_URL_INVALID', `${k}=${u} is not a URL`, `export ${k}=https://…`);
    }
    if (parsed && parsed.protocol === 'http:' && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(parsed.hostname))
      add(
        'warning',
        'BASE_URL_PLAINTEXT',
        `${k}=${u} sends credentials and prompts unencrypted over the network`,
        `export ${k}=https://${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`,
      );
    if (parsed && k === 'ANTHROPIC_VERTEX_BASE_URL' && !/\/v1\/?$/.test(parsed.pathname))
      add('warning', 'VERTEX_BASE_URL_PATH', `${k}=${u} usually ends in /v1 (Claude Code appends /projects/…)`, `export ${k}=${u.replace(/\/+$/, '')}/v1`);
  }

  // 5. Models per alias on this route.
  if (v('ANTHROPIC_SMALL_FAST_MODEL')) {
    add(
      'warning',
      'SMALL_FAST_MODEL_DEPRECATED',
      `ANTHROPIC_SMALL_FAST_MODEL (from ${where('ANTHROPIC_SMALL_FAST_MODEL')}) is deprecated`,
      `export ANTHROPIC_DEFAULT_HAIKU_MODEL=${v('ANTHROPIC_SMALL_FAST_MODEL')} && ${unset('ANTHROPIC_SMALL_FAST_MODEL')}`,
    );
  }
  const route = provider === 'foundry' || provider === 'mantle' ? provider : provider;
  const suggest = (m: CatalogModel | undefined, fallback: string): string => {
    if (!m) return fallback;
    if (route === 'bedrock') {
      const geo = region ? bedrockGeoPrefix(region) : 'us';
      return m.ids.bedrock ? `${geo ?? 'us'}.${m.ids.bedrock}` : fallback;
    }
    if (route === 'vertex') return m.ids.vertex ?? fallback;
    return m.ids.first_party ?? fallback;
  };
  const defaults = (alias: 'opus' | 'sonnet' | 'haiku'): string => {
    const a = catalog.aliases[alias];
    return (a?.per_provider?.[provider] ?? a?.default) as string;
  };
  const models: ModelView[] = [];
  for (const [alias, variable] of ALIAS_VARS) {
    const ev = alias === 'haiku' ? (e(variable) ?? e('ANTHROPIC_SMALL_FAST_MODEL')) : e(variable);
    const configured = ev?.value ?? null;
    const id = configured ?? (alias === 'main' ? null : defaults(alias));
    const m = id ? catalog.resolve(id) : undefined;
    let resolves: string | null = null;
    let mregion: string | null = region;
    if (id) {
      const form = idForm(id);
      if (route === 'bedrock') {
        if (form === 'arn' || form === 'bedrock-profile' || form === 'bedrock-base') resolves = id;
        else resolves = configured ? id : suggest(m, id);
        if (configured && (form === 'first-party' || form === 'vertex')) {
          add(
            'error',
            'MODEL_ID_WRONG_ROUTE',
            `${variable}=${configured} is a ${form === 'vertex' ? 'Vertex' : 'first-party'} id; Bedrock needs an inference-profile id`,
            `export ${variable}=${suggest(m, '<profile id>')}`,
          );
        }
        if (configured && form === 'bedrock-profile' && region) {
          const prefix = configured.split('.')[0];
          const want = bedrockGeoPrefix(region);
          if (prefix !== 'global' && want && prefix !== want)
            add(
              'error',
              'BEDROCK_GEO_MISMATCH',
              `${variable}=${configured} is a ${prefix}. profile but AWS_REGION=${region} is in the ${want} geography: "model not available"`,
              `export ${variable}=${want}.${configured.slice(prefix!.length + 1)}    # or set AWS_REGION to a ${prefix} region`,
            );
        }
      } else if (route === 'vertex') {
        resolves = m?.ids.vertex ?? (form === 'vertex' ? id : null);
        if (configured && (form === 'bedrock-profile' || form === 'bedrock-base' || form === 'arn')) {
          add(
            'error',
            'MODEL_ID_WRONG_ROUTE',
            `${variable}=${configured} is a Bedrock id; Vertex needs ids like ${m?.ids.vertex ?? 'claude-sonnet-4-6'}`,
            `export ${variable}=${suggest(m, '<vertex id>')}`,
          );
        }
        if (m) {
          const envName = m.vertex_region_env_var;
          const override = envName ? v(envName) : undefined;
          mregion = override ?? region;
          const globalOk = routeData().vertex.global_endpoint_models?.models ?? [];
          if (mregion === 'global' && !globalOk.includes(m.id))
            add(
              'error',
              'VERTEX_GLOBAL_UNSUPPORTED',
              `${m.display_name} (${variable === 'ANTHROPIC_MODEL' ? 'main model' : alias}) is not served on the global endpoint but CLOUD_ML_REGION=global`,
              `export ${envName ?? 'VERTEX_REGION_CLAUDE_…'}=us-east5`,
            );
        }
      } else {
        resolves = m?.ids.first_party ?? id;
        if (configured && form !== 'first-party' && form !== 'alias')
          add(
            'error',
            'MODEL_ID_WRONG_ROUTE',
            `${variable}=${configured} is a ${form === 'vertex' ? 'Vertex' : 'Bedrock'} id; the Anthropic API${v('ANTHROPIC_BASE_URL') ? ' (and a gateway)' : ''} needs ${m?.ids.first_party ?? 'a first-party id'}`,
            `export ${variable}=${m?.ids.first_party ?? '<first-party id>'}`,
          );
      }
      if (configured && !m && form !== 'arn' && form !== 'alias')
        add(
          'warning',
          'MODEL_UNKNOWN',
          `${variable}=${configured} is not a model tollgate's catalog knows`,
          `tollgate models --route ${route === 'foundry' || route === 'mantle' ? 'anthropic' : route}    # pick an id from this list`,
        );
      if (m && route !== 'foundry' && route !== 'mantle' && route !== 'anthropic' && !m.ids[route])
        add(
          'error',
          'MODEL_NOT_ON_ROUTE',
          `${m.display_name} (${variable}) is not available on ${route}`,
          `export ${variable}=${suggest(catalog.resolve(defaults(alias === 'main' ? 'sonnet' : alias)), '<id>')}`,
        );
    }
    models.push({
      alias,
      variable,
      configured,
      source: ev?.source ?? (alias === 'main' ? 'Claude Code default' : `Claude Code's ${alias} alias`),
      resolves,
      region: route === 'vertex' ? mregion : route === 'bedrock' ? region : null,
    });
  }
  if (!v('ANTHROPIC_DEFAULT_HAIKU_MODEL') && !v('ANTHROPIC_SMALL_FAST_MODEL')) {
    const h = catalog.resolve(defaults('haiku'));
    add(
      'warning',
      'HAIKU_UNPINNED',
      'ANTHROPIC_DEFAULT_HAIKU_MODEL is not pinned: background tasks run on whatever the default is, which can quietly inflate spend',
      `export ANTHROPIC_DEFAULT_HAIKU_MODEL=${suggest(h, 'claude-haiku-4-5')}`,
    );
  }
  if (provider === 'bedrock' || provider === 'vertex') {
    for (const [alias, variable] of ALIAS_VARS.slice(1, 3)) {
      if (!v(variable))
        add(
          'warning',
          'MODEL_UNPINNED',
          `${variable} is not pinned on ${provider}: the ${alias} alias can resolve to a version not enabled in your account and fail at start-up`,
          `export ${variable}=${suggest(catalog.resolve(defaults(alias as 'opus' | 'sonnet')), '<id>')}`,
        );
    }
  }
  // 6. Telemetry (OpenTelemetry) aimed at the gateway: a protocol its port does not speak loses
  // every record without a word from the exporter.
  telemetry(v, where, add, endpoint);

  return {
    provider,
    credential,
    endpoint,
    region,
    project,
    models,
    findings,
    files: cfg.files.map((f) => ({ scope: f.scope, path: f.path, exists: f.exists, error: f.error })),
  };
}

/** The port a URL names, or its scheme's default. */
function portOf(u: URL): string {
  return u.port || (u.protocol === 'https:' ? '443' : '80');
}

function telemetry(
  v: (k: string) => string | undefined,
  where: (k: string) => string,
  add: (severity: Severity, code: string, message: string, fix: string) => void,
  endpoint: string,
): void {
  if (!truthy(v('CLAUDE_CODE_ENABLE_TELEMETRY'))) return;
  const otlp = [v('OTEL_METRICS_EXPORTER'), v('OTEL_LOGS_EXPORTER')].some((x) => (x ?? '').split(',').includes('otlp'));
  const target = v('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (!otlp || !target) return;
  let t: URL;
  let gw: URL;
  try {
    t = new URL(target);
    gw = new URL(endpoint);
  } catch {
    return;
  }
  // Unset, OpenTelemetry's JavaScript exporters speak http/protobuf.
  const protocol = (v('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'http/protobuf').trim();
  const sameHost = t.hostname === gw.hostname;
  if (sameHost && portOf(t) === portOf(gw) && protocol === 'grpc')
    add(
      'error',
      'TELEMETRY_GRPC_ON_HTTP_PORT',
      `OTEL_EXPORTER_OTLP_PROTOCOL=grpc (from ${where('OTEL_EXPORTER_OTLP_PROTOCOL')}) sends OTLP/gRPC to ${target}, the gateway's HTTP port, which takes OTLP/HTTP only: every metric and event is lost`,
      `export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf    # or point OTEL_EXPORTER_OTLP_ENDPOINT at tollgate's telemetry.grpc_port`,
    );
  else if (sameHost && protocol.startsWith('http') && portOf(t) === '4317')
    add(
      'warning',
      'TELEMETRY_HTTP_ON_GRPC_PORT',
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} sends OTLP/HTTP to port 4317 (${where('OTEL_EXPORTER_OTLP_ENDPOINT')}), the gRPC port by convention; tollgate takes OTLP/HTTP on its own port`,
      `export OTEL_EXPORTER_OTLP_ENDPOINT=${gw.origin}`,
    );
  else if (sameHost && protocol === 'grpc')
    add(
      'info',
      'TELEMETRY_GRPC_PORT',
      `telemetry goes over OTLP/gRPC to ${target}: tollgate serves it there only with telemetry.grpc_port: ${portOf(t)} in its config (tollgate doctor --probe checks)`,
      `telemetry: { grpc_port: ${portOf(t)} }    # in tollgate.yaml`,
    );
  if (sameHost && !/authorization=/i.test(v('OTEL_EXPORTER_OTLP_HEADERS') ?? ''))
    add(
      'warning',
      'TELEMETRY_NO_KEY',
      `telemetry to ${target} carries no Authorization header: tollgate refuses records it cannot attribute`,
      `export OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <your tollgate key>"`,
    );
}

export function exitCode(r: DoctorReport): number {
  if (r.findings.some((f) => f.severity === 'error')) return 2;
  if (r.findings.some((f) => f.severity === 'warning')) return 1;
  return 0;
}

export function renderReport(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`provider:   ${r.provider}`);
  lines.push(
    `credential: ${r.credential.kind}${r.credential.source ? ` (from ${r.credential.source})` : ''}${r.credential.fingerprint ? ` ${r.credential.fingerprint}` : ''}`,
  );
  lines.push(`endpoint:   ${r.endpoint}`);
  if (r.region) lines.push(`region:     ${r.region}`);
  if (r.project) lines.push(`project:    ${r.project}`);
  lines.push('models:');
  for (const m of r.models) {
    lines.push(
      `  ${m.alias.padEnd(6)} ${m.variable.padEnd(31)} ${(m.configured ?? '(not set)').padEnd(44)} → ${m.resolves ?? '(Claude Code default)'}${m.region && r.provider === 'vertex' ? ` @ ${m.region}` : ''}`,
    );
  }
  lines.push('settings files:');
  for (const f of r.files) lines.push(`  ${f.scope.padEnd(8)} ${f.path}${f.exists ? '' : ' (none)'}${f.error ? ` — ${f.error}` : ''}`);
  if (r.findings.length === 0) lines.push('', 'no problems found');
  else {
    lines.push('', `${r.findings.length} problem${r.findings.length === 1 ? '' : 's'}:`);
    for (const f of r.findings) lines.push(`  [${f.severity}] ${f.code}: ${f.message}`, `      fix: ${f.fix}`);
  }
  return lines.join('\n') + '\n';
}
