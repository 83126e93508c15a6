// The one configuration schema. Everything that reads config gets its types from here, and
// `tollgate config schema` prints the JSON Schema generated from it for editors.
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);

export const anthropicUpstreamSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .regex(/^[a-z0-9][a-z0-9._-]*$/i, 'letters, digits, ".", "_" or "-"'),
  type: z.literal('anthropic'),
  base_url: z.url({ protocol: /^https?$/ }).default('https://api.anthropic.com'),
  api_key: z.string().optional(),
  /** Time to wait for response headers; Claude Code's own client timeout is 600 s. */
  timeout_ms: z.number().int().positive().default(600_000),
  connect_timeout_ms: z.number().int().positive().default(10_000),
  /** Longest silence allowed inside a response body before the upstream is given up on. */
  idle_timeout_ms: z.number().int().positive().default(300_000),
});

const upstreamName = z
  .string()
  .min(1)
  .regex(/^[a-z0-9][a-z0-9._-]*$/i, 'letters, digits, ".", "_" or "-"');
const timeouts = {
  timeout_ms: z.number().int().positive().default(600_000),
  connect_timeout_ms: z.number().int().positive().default(10_000),
  idle_timeout_ms: z.number().int().positive().default(300_000),
};
const modelMap = z.record(z.string().min(1), z.string().min(1));

export const bedrockUpstreamSchema = z.strictObject({
  name: upstreamName,
  type: z.literal('bedrock'),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d+$/, 'an AWS region such as eu-west-1'),
  /** Model ids: cross-region profiles with the region's geography prefix (geo), global
   * profiles (global), or in-region base ids (regional). */
  profile: z.enum(['geo', 'global', 'regional']).default('geo'),
  /** Overrides the geography prefix derived from the region (data/routes.json). */
  geo_prefix: z
    .string()
    .regex(/^[a-z-]+$/)
    .optional(),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  /** A Bedrock API key (sent as Authorization: Bearer). Without it: the standard AWS chain. */
  bearer_token: z.string().optional(),
  /** A profile from the shared AWS config/credentials files (SSO included). */
  aws_profile: z.string().optional(),
  /** Application inference profile ARN per model, so cost-allocation tags attribute spend. */
  application_inference_profiles: modelMap.optional(),
  /** Per team, application inference profile ARN per model (wins over the upstream's). */
  team_inference_profiles: z.record(z.string().min(1), modelMap).optional(),
  /** What an application inference profile wraps (ARN → global, geo or regional): it is priced
   * as that (global endpoints at list); by default the upstream's profile. A client may send a
   * configured ARN as its model. */
  application_profile_wraps: z.record(z.string().min(1), z.enum(['geo', 'global', 'regional'])).optional(),
  /** Bedrock's service tier for requests that do not ask for one (x-amzn-bedrock-service-tier):
   * flex (cheaper, slower), priority (dearer, faster), default. Priced by data/prices.json. */
  service_tier: z.enum(['default', 'flex', 'priority']).optional(),
  /** Replaces the list of betas dropped for Bedrock (data/routes.json). */
  drop_betas: z.array(z.string()).optional(),
  /** Per-model region overrides (Claude Code's ANTHROPIC_SMALL_FAST_MODEL_AWS_REGION idea), by
   * any model id form: the request goes to that region's endpoint, signed for it, with its
   * geography prefix. */
  model_regions: z.record(z.string().min(1), z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d+$/, 'an AWS region such as us-west-2')).optional(),
  ...timeouts,
});

export const vertexUpstreamSchema = z.strictObject({
  name: upstreamName,
  type: z.literal('vertex'),
  project: z.string().min(1),
  /** global, a multi-region (us, eu) or a region such as us-east5. */
  region: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default('global'),
  /** Per-model region overrides (the VERTEX_REGION_CLAUDE_* idea), by any model id form. */
  model_regions: modelMap.optional(),
  /** With region global: where models Vertex does not serve globally go (data/routes.json:
   * global_endpoint_models; default us-east5). */
  global_fallback_region: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .optional(),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  /** A service-account key file; without it, Google Application Default Credentials. */
  credentials_file: z.string().optional(),
  drop_betas: z.array(z.string()).optional(),
  ...timeouts,
});

/** Claude in Amazon Bedrock ("Mantle"): Anthropic's own API shape on AWS, with anthropic.claude-…
 * ids, billed through AWS. */
export const mantleUpstreamSchema = z.strictObject({
  name: upstreamName,
  type: z.literal('mantle'),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d+$/, 'an AWS region such as us-east-1'),
  /** Default https://bedrock-mantle.{region}.api.aws/anthropic. */
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  /** A Bedrock API key (Authorization: Bearer). Without it: SigV4 (service bedrock-mantle) with the AWS chain. */
  bearer_token: z.string().optional(),
  aws_profile: z.string().optional(),
  ...timeouts,
});

/** Claude in Microsoft Foundry: Anthropic's API shape on Azure, models by deployment name. */
export const foundryUpstreamSchema = z
  .strictObject({
    name: upstreamName,
    type: z.literal('foundry'),
    /** The Foundry resource: https://{resource}.services.ai.azure.com/anthropic. */
    resource: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/i)
      .optional(),
    base_url: z.url({ protocol: /^https?$/ }).optional(),
    /** The resource's API key (sent as api-key), e.g. ${ANTHROPIC_FOUNDRY_API_KEY}. */
    api_key: z.string().optional(),
    /** Deployment name per model, where it is not the model's own name (the catalog's foundry id). */
    deployments: modelMap.optional(),
    ...timeouts,
  })
  .refine((u) => Boolean(u.resource) !== Boolean(u.base_url), { message: 'set resource or base_url (one of them)' });

export const upstreamSchema = z.discriminatedUnion('type', [
  anthropicUpstreamSchema,
  bedrockUpstreamSchema,
  vertexUpstreamSchema,
  mantleUpstreamSchema,
  foundryUpstreamSchema,
]);

const policyRule = z.strictObject({
  /** Families (opus, sonnet, haiku …) or model ids in any form; others get 403. */
  allow: z.array(z.string().min(1)).optional(),
  /** Serve `from` (a family or model) with `to`; with when_budget_pct, only once a budget
   * covering the request has used that share of its limit (downgrade under spend pressure). */
  rewrite: z
    .array(
      z.strictObject({
        from: z.string().min(1),
        to: z.string().min(1),
        when_budget_pct: z.number().min(0).max(1000).optional(),
      }),
    )
    .optional(),
});

/** A duration as people write it: 90s, 30m, 1h, 30d (or a number of seconds); in seconds. */
const duration = z.union([z.number().int().positive(), z.string().regex(/^\d+\s*[smhd]$/, 'a duration such as 30m, 1h or 30d')]).transform((v) => {
  if (typeof v === 'number') return v;
  const n = Number.parseInt(v, 10);
  return n * { s: 1, m: 60, h: 3600, d: 86400 }[v.trim().slice(-1) as 's' | 'm' | 'h' | 'd'];
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: port.default(8787),
      max_body_bytes: z
        .number()
        .int()
        .positive()
        .default(32 * 1024 * 1024),
      /** Longest a client may take to send its request headers, counted from the connection's
       * start (or the previous response): a connection that sends nothing is closed (408). */
      header_timeout_ms: z.number().int().positive().default(30_000),
      /** Longest a client may take to send its whole request, body included (408). */
      request_timeout_ms: z.number().int().positive().default(120_000),
      /** A kept-alive connection idle this long between requests is closed. Longer than a load
       * balancer's idle timeout (60 s on AWS ALB), so the balancer closes first. */
      idle_timeout_ms: z.number().int().positive().default(65_000),
      /** Open client connections at most. Default: what the open-file limit allows (each request
       * in flight also holds an upstream connection). At the cap, a new connection closes the
       * longest-idle one; when none is idle, it is refused. */
      max_connections: z.number().int().positive().optional(),
      /** On SIGTERM/SIGINT, how long requests in flight may run before they are cut (their
       * ledger lines are still written, TG_SHUTDOWN). Long enough for a Claude Code turn; set
       * the orchestrator's kill timeout (terminationGracePeriodSeconds, TimeoutStopSec) above it. */
      shutdown_grace_ms: z.number().int().min(0).default(300_000),
      /** On translated streams (Bedrock, Vertex), a ping after this much silence. */
      ping_interval_ms: z.number().int().positive().default(10_000),
      /** The URL engineers give Claude Code's /login (and the IdP redirects back to): where this
       * gateway is reached, through any proxy in front of it. Default: http://host:port. */
      public_url: z.url().optional(),
      /** Serve HTTPS from this certificate and key (PEM files). Claude Code's /login needs https
       * except on loopback; or terminate TLS in a proxy in front and set public_url. */
      tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    })
    .prefault({}),
  store: z
    .strictObject({
      sqlite: z.string().min(1).default('./data/tollgate.db'),
      /** A PostgreSQL connection URL (postgres://user:password@host:5432/db?sslmode=require):
       * the store of several gateway replicas, instead of the SQLite file. */
      postgres: z
        .string()
        .refine((v) => v.length > 0, { message: 'is empty (is the variable it names, e.g. $DATABASE_URL, set?)' })
        .refine((v) => /^postgres(ql)?:\/\//.test(v), { message: 'must be a postgres:// or postgresql:// URL' })
        .optional(),
      /** Apply missing PostgreSQL migrations when the gateway or a command opens the store (off:
       * only `tollgate migrate` does, and an older schema is refused). */
      migrate_on_start: z.boolean().default(true),
      /** With postgres: each gateway replica's local spool (SQLite), where a ledger line is
       * durable before its response ends and from which it is shipped to PostgreSQL (kept there
       * while PostgreSQL is unreachable). One per replica; relative to the config file. */
      spool: z.string().min(1).default('./data/spool.db'),
      /**
       * `normal` keeps every committed ledger line across a crash or kill of the gateway (WAL
       * appends reach the OS before the response ends); `full` also fsyncs each group commit so
       * lines survive power loss, at the cost of a disk flush per batch.
       */
      sync: z.enum(['normal', 'full']).default('normal'),
      /** When a ledger line cannot be written (disk full, read-only, I/O error): `closed` sends
       * no new request upstream until the store works again (503 TG_STORE_UNAVAILABLE); `open`
       * keeps serving and holds unwritten lines in memory (bounded), loudly. */
      on_failure: z.enum(['closed', 'open']).default('closed'),
      /** Below this much free space on the store's disk the gateway treats the store as failing
       * before a write fails (so no request is sent upstream that could not be recorded). */
      min_free_mb: z.number().min(0).default(64),
      /** Ledger lines older than this many days are deleted by the gateway (a little at a time,
       * checked hourly); the rollups keep their totals. Unset: lines are kept. */
      retention_days: z.number().int().min(1).optional(),
    })
    .prefault({}),
  upstreams: z.array(upstreamSchema).min(1),
  /** Which upstreams serve a request, in failover order: by key, else by team, else default. */
  routes: z
    .strictObject({
      default: z.array(z.string().min(1)).min(1).optional(),
      teams: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).optional(),
      keys: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).optional(),
    })
    .prefault({}),
  failover: z
    .strictObject({
      /** Attempts per request across all targets (first try included). */
      max_attempts: z.number().int().min(1).max(10).default(3),
      backoff_ms: z.number().int().min(0).default(200),
      max_backoff_ms: z.number().int().min(0).default(2_000),
      /** A retry-after longer than this moves on to the next target instead of waiting. */
      max_retry_after_ms: z.number().int().min(0).default(5_000),
      /** Consecutive failures that put an upstream in cooldown, and for how long. */
      cooldown_after: z.number().int().min(1).default(3),
      cooldown_ms: z.number().int().min(0).default(30_000),
    })
    .prefault({}),
  /** Spend control settings shared by all budgets. */
  spend: z
    .strictObject({
      /** Calendar periods (day, week from Monday, month) are aligned in this IANA time zone. */
      timezone: z
        .string()
        .default('UTC')
        .refine((tz) => {
          try {
            new Intl.DateTimeFormat('en-US', { timeZone: tz });
            return true;
          } catch {
            return false;
          }
        }, 'an IANA time zone such as Europe/Berlin'),
      /** Whom the refusal message tells engineers to ask. */
      contact: z.string().default('your platform team'),
      /** Output tokens reserved for a request in flight (its real cost settles at the end). */
      reserve_output_tokens: z.number().int().min(0).default(4096),
    })
    .prefault({}),
  budgets: z
    .array(
      z
        .strictObject({
          key: z.string().optional(),
          user: z.string().optional(),
          team: z.string().optional(),
          project: z.string().optional(),
          org: z.literal(true).optional(),
          period: z.enum(['day', 'week', 'month', 'total']),
          limit_usd: z.number().positive(),
          mode: z.enum(['hard', 'soft']).default('hard'),
          alert_at: z.array(z.number().int().min(1).max(1000)).default([50, 80, 100]),
        })
        .refine(
          (b) => [b.key, b.user, b.team, b.project, b.org].filter((v) => v !== undefined).length === 1,
          'exactly one of key, user, team, project or org: true',
        ),
    )
    .default([]),
  rate_limits: z
    .array(
      z
        .strictObject({
          /** A key id, user or team; "*" applies the limit to each one separately. */
          key: z.string().optional(),
          user: z.string().optional(),
          team: z.string().optional(),
          rpm: z.number().int().positive().optional(),
          tpm: z.number().int().positive().optional(),
          concurrent: z.number().int().positive().optional(),
        })
        .refine((r) => [r.key, r.user, r.team].filter((v) => v !== undefined).length === 1, 'exactly one of key, user or team')
        .refine((r) => r.rpm !== undefined || r.tpm !== undefined || r.concurrent !== undefined, 'at least one of rpm, tpm, concurrent'),
    )
    .default([]),
  /** Model access per team or key (a key's rule wins over its team's, a team's over default). */
  policy: z
    .strictObject({
      default: z.lazy(() => policyRule).optional(),
      teams: z
        .record(
          z.string(),
          z.lazy(() => policyRule),
        )
        .optional(),
      keys: z
        .record(
          z.string(),
          z.lazy(() => policyRule),
        )
        .optional(),
    })
    .prefault({}),
  alerts: z
    .array(
      z.strictObject({
        type: z.enum(['slack', 'webhook']),
        url: z.url({ protocol: /^https?$/ }),
        events: z
          .array(z.enum(['budget_threshold', 'budget_exhausted', 'failover', 'cooldown', 'unpriced_model']))
          .default(['budget_threshold', 'budget_exhausted', 'failover', 'cooldown', 'unpriced_model']),
      }),
    )
    .default([]),
  admin: z
    .strictObject({
      /** Bearer token for the admin API; $TOLLGATE_ADMIN_TOKEN is used when unset. */
      token: z.string().optional(),
    })
    .prefault({}),
  prices: z
    .strictObject({
      /** A price file in the format of data/prices.json whose entries replace the shipped ones. */
      file: z.string().optional(),
      /** A model with no price: `reserve` (default) serves it, and budgets reserve and settle it
       * at the highest rates of any known model (the line is flagged unpriced, an alert goes out
       * once), so a hard budget still holds; `refuse` answers 403 TG_MODEL_UNPRICED; `allow`
       * serves it for $0 (budgets do not see it). */
      unpriced: z.enum(['reserve', 'refuse', 'allow']).default('reserve'),
      /** Inline per-model overrides, same fields as data/prices.json. */
      overrides: z
        .record(z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.record(z.string(), z.union([z.string(), z.number()]))])))
        .optional(),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      /** `json`: one JSON object per line (time, level, msg, then the facts) for a log stack;
       * `text`: time, level, message and the facts as JSON, for a terminal. */
      format: z.enum(['text', 'json']).default('text'),
      /** One line per request served (request id, key, user, model, route, status, tokens,
       * cost, timings; never prompt text or secrets), at info; health checks and scrapes at debug. */
      access: z.boolean().default(true),
    })
    .prefault({}),
  /** Claude Code's telemetry (OpenTelemetry): OTLP/HTTP is served on the gateway's own port
   * (/v1/metrics, /v1/logs); OTLP/gRPC on a port of its own when grpc_port is set (4317 is the
   * OpenTelemetry default; 0 picks a free one). */
  telemetry: z
    .strictObject({
      grpc_port: z.number().int().min(0).max(65535).optional(),
      /** Listen address of the gRPC port (default: server.host). */
      grpc_host: z.string().min(1).optional(),
    })
    .prefault({}),
  /** Prometheus metrics at /metrics (text format). */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** A bearer token the scraper must send (bearer_token in Prometheus); unset: open, like
       * most exporters; bind to a private address or set this. */
      token: z.string().min(16, 'metrics.token: at least 16 characters').optional(),
      /** Per-user labels on the token and cost counters: off by default, as each user adds a
       * series per model and route (Prometheus's cardinality); teams are labelled. */
      user_label: z.boolean().default(false),
    })
    .prefault({}),
  /** The web console at /console. Admins sign in with the admin token, or through the identity
   * provider (auth.oidc) when in one of these groups. */
  console: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** IdP groups whose members may change things (keys, budgets, identities). */
      admin_groups: z.array(z.string().min(1)).default([]),
      /** IdP groups whose members may look but not change. */
      read_groups: z.array(z.string().min(1)).default([]),
      /** Signs console session cookies; every replica needs the same one. Unset: derived from
       * the admin token, else random per process (sessions then last until a restart and do
       * not carry across replicas). */
      session_secret: z.string().min(32, 'console.session_secret: at least 32 characters').optional(),
      /** A console session lasts this long. */
      session_ttl: duration.prefault('8h'),
    })
    .prefault({}),
  /** Sign-in with the company's identity provider (Claude Code's /login). */
  auth: z
    .strictObject({
      oidc: z
        .strictObject({
          /** Discovery at {issuer}/.well-known/openid-configuration. */
          issuer: z.url(),
          client_id: z.string().min(1),
          client_secret: z.string().optional(),
          scopes: z.string().default('openid email profile offline_access'),
          /** The ID-token claim that lists the user's groups. */
          groups_claim: z.string().min(1).default('groups'),
          /** Who may sign in: email domains and/or groups (either matches; none set: anyone the
           * IdP signs in). */
          allowed_email_domains: z.array(z.string().min(1)).default([]),
          allowed_groups: z.array(z.string().min(1)).default([]),
        })
        .optional(),
      /** Access tokens live this long (then Claude Code refreshes): 1h, 30m, 3600s. */
      token_ttl: duration.prefault('1h'),
      /** A refresh token unused this long expires (each refresh rotates it). */
      refresh_ttl: duration.prefault('30d'),
      /** Shown to the engineer in Claude Code when sign-in starts (at most 500 characters). */
      login_notice: z.string().max(500).optional(),
      /** Billing groups: with a tag name here, the access token carries it (billing_group_tag) and
       * Claude Code sends the engineer's attributionProject as {"tags": {name: value}} in each
       * request; tollgate records the value as the line's project (project budgets apply). */
      billing_group_tag: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/)
        .optional(),
      /** Requests a minute one address may make to the sign-in pages (guessing codes must not pay). */
      page_limit_per_minute: z.number().int().positive().default(30),
      /** Workload identity for CI: an ID token from a CI's OIDC issuer (GitHub Actions, GitLab…)
       * accepted as a bearer, verified by issuer, audience and the issuer's keys, and by claim
       * rules; it acts as `user` ({claim} is replaced by the token's claim) with its own budget. */
      ci: z
        .array(
          z.strictObject({
            issuer: z.url(),
            audience: z.string().min(1),
            /** Every claim listed must match ("*" matches any run of characters). */
            claims: z.record(z.string(), z.string()).default({}),
            user: z.string().min(1),
            team: z.string().min(1).optional(),
            project: z.string().min(1).optional(),
          }),
        )
        .default([]),
    })
    .prefault({}),
  /** IdP group -> tollgate team: routes, budgets, rate limits and policy follow the team. A user
   * in several mapped groups gets the first of them in this order. */
  teams_from_groups: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** Claude Code managed settings served at /managed/settings, per IdP group and/or tollgate
   * team ("*": everyone). Entries that match a user are merged in this order (later keys win,
   * objects merged, arrays replaced); a user no entry matches has no policy (404). */
  managed_settings: z
    .array(
      z
        .strictObject({
          groups: z.array(z.string().min(1)).optional(),
          teams: z.array(z.string().min(1)).optional(),
          settings: z.record(z.string(), z.unknown()),
        })
        .refine((e) => e.groups?.length || e.teams?.length, { message: 'name the groups and/or teams it applies to ("*" for everyone)' }),
    )
    .default([]),
});

export type Config = z.infer<typeof configSchema>;
export type PolicyRule = z.infer<typeof policyRule>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type AnthropicUpstreamConfig = z.infer<typeof anthropicUpstreamSchema>;
export type BedrockUpstreamConfig = z.infer<typeof bedrockUpstreamSchema>;
export type VertexUpstreamConfig = z.infer<typeof vertexUpstreamSchema>;
export type MantleUpstreamConfig = z.infer<typeof mantleUpstreamSchema>;
export type FoundryUpstreamConfig = z.infer<typeof foundryUpstreamSchema>;

/** Keys people commonly write by analogy with other tools; the hint names the right one. */
export const renamedKeys: Record<string, string> = {
  baseUrl: 'base_url',
  baseURL: 'base_url',
  url: 'base_url',
  apiKey: 'api_key',
  key: 'api_key',
  provider: 'type',
  listen: 'host',
  database: 'sqlite',
  db: 'sqlite',
  path: 'sqlite',
  maxBodyBytes: 'max_body_bytes',
  timeout: 'timeout_ms',
  timeoutMs: 'timeout_ms',
  apiKeyBedrock: 'bearer_token',
  api_key_bedrock: 'bearer_token',
  projectId: 'project',
  project_id: 'project',
  location: 'region',
  aws_region: 'region',
  modelRegions: 'model_regions',
  route: 'routes',
  fallback: 'routes',
};

/** What a config without `upstreams` (or no config file at all) gets: the Anthropic API with
 * the key from the environment. Applied before ${VAR} expansion so the key is looked up. */
export const defaultUpstreams = [{ name: 'anthropic', type: 'anthropic', api_key: '${ANTHROPIC_API_KEY}' }];
