// The OpenAPI 3.1 document of the admin API, built from the route table (routes.ts) and the
// schemas below. Served at /admin/openapi.json; a test validates it and calls every path,
// checking each answer against the schema given here.
import { ADMIN_ROUTES } from './routes.js';
import { VERSION } from '../util/version.js';
import { LEDGER_FIELDS } from '../store/types.js';

const str = { type: 'string' };
const nstr = { type: ['string', 'null'] };
const int = { type: 'integer' };
const num = { type: 'number' };
const bool = { type: 'boolean' };
const obj = (required: string[], properties: Record<string, unknown>) => ({ type: 'object', required, properties });

const TOKENS = {
  requests: int,
  input_tokens: int,
  output_tokens: int,
  cache_read_input_tokens: int,
  cache_creation_5m_input_tokens: int,
  cache_creation_1h_input_tokens: int,
  web_search_requests: int,
};

const schemas: Record<string, unknown> = {
  Error: obj(['type', 'error'], { type: { const: 'error' }, error: obj(['type', 'message'], { type: str, message: str }), request_id: str }),
  Principal: obj(['actor', 'role'], { actor: str, role: { enum: ['admin', 'read'] } }),
  Key: obj(['id', 'prefix', 'user', 'team', 'project', 'created', 'last_used', 'revoked', 'expires'], {
    id: str,
    prefix: { ...str, description: 'the first characters of the secret, to recognise it' },
    name: nstr,
    user: str,
    team: nstr,
    project: nstr,
    created: { ...str, format: 'date-time' },
    last_used: { ...nstr, format: 'date-time' },
    revoked: { ...nstr, format: 'date-time' },
    expires: { ...nstr, format: 'date-time', description: 'refused after this (null: never)' },
  }),
  KeyInput: obj(['user'], {
    user: str,
    team: str,
    project: str,
    name: str,
    expires: { ...str, description: 'a date (2027-03-31), a time, or a span from now (90d, 12h, 4w)' },
  }),
  NewKey: { allOf: [{ $ref: '#/components/schemas/Key' }, obj(['key'], { key: { ...str, description: 'the secret: shown once, stored only as a hash' } })] },
  RevokedKey: { allOf: [{ $ref: '#/components/schemas/Key' }, obj(['already_revoked'], { already_revoked: bool })] },
  Budget: obj(['id', 'scope', 'value', 'period', 'mode', 'limit_usd', 'spent_usd', 'remaining_usd', 'state', 'source', 'burn_usd_per_day', 'runs_out_at'], {
    id: str,
    scope: { enum: ['key', 'user', 'team', 'project', 'org'] },
    value: nstr,
    period: { enum: ['day', 'week', 'month', 'total'] },
    mode: { enum: ['hard', 'soft'] },
    limit_usd: num,
    spent_usd: num,
    remaining_usd: num,
    resets_at: { ...nstr, format: 'date-time' },
    state: { enum: ['ok', 'warning', 'exhausted', 'over (soft)'] },
    alert_at: { type: 'array', items: int },
    source: { enum: ['config', 'cli'] },
    burn_usd_per_day: { type: ['number', 'null'], description: 'spend per day over the period so far' },
    runs_out_at: { ...nstr, format: 'date-time', description: 'when the limit is reached at that rate, if before the period ends' },
  }),
  BudgetInput: obj(['scope', 'period', 'limit_usd'], {
    scope: { enum: ['key', 'user', 'team', 'project', 'org'] },
    value: str,
    period: { enum: ['day', 'week', 'month', 'total'] },
    limit_usd: { type: ['number', 'string'], description: 'USD, such as 250 or "12.50"' },
    mode: { enum: ['hard', 'soft'] },
    alert_at: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 1000 } },
  }),
  BudgetRecord: obj(['id', 'scope', 'scope_value', 'period', 'limit_nanousd', 'limit_usd', 'mode', 'alert_at'], {
    id: str,
    scope: str,
    scope_value: nstr,
    period: str,
    limit_nanousd: int,
    limit_usd: num,
    mode: str,
    alert_at: { type: 'array', items: int },
  }),
  AuditEntry: obj(['ts', 'time', 'actor', 'action', 'target'], {
    id: int,
    ts: int,
    time: { ...str, format: 'date-time' },
    actor: str,
    action: str,
    target: nstr,
    details: { type: ['object', 'null'] },
  }),
  Alerts: obj(['budget_alerts', 'upstreams'], {
    budget_alerts: {
      type: 'array',
      items: obj(['budget_id', 'threshold', 'time', 'period_start'], { budget_id: str, threshold: int, time: str, period_start: str }),
    },
    upstreams: {
      type: 'array',
      items: obj(['name', 'route', 'ready', 'cooling'], { name: str, route: str, region: nstr, ready: bool, problem: nstr, cooling: bool }),
    },
  }),
  LedgerLine: {
    type: 'object',
    description: 'One request: every token class, exact cost, the upstreams tried. Never prompt text.',
    required: [...LEDGER_FIELDS.filter((f) => f !== 'ts'), 'time', 'cost_usd'],
    properties: {
      id: str,
      time: { ...str, format: 'date-time' },
      user: nstr,
      team: nstr,
      http_status: int,
      cost_usd: num,
      cost_nanousd: int,
      attempts: {
        type: 'array',
        items: obj(['upstream', 'status', 'duration_ms'], { upstream: str, status: int, error: nstr, duration_ms: num }),
      },
    },
  },
  Report: obj(['by', 'rows', 'total_nanousd'], {
    by: { type: 'array', items: str },
    rows: { type: 'array', items: obj(['requests', 'cost_usd', 'cost_nanousd'], { ...TOKENS, cost_usd: num, cost_nanousd: int }) },
    total_nanousd: int,
  }),
  Reconcile: obj(['rows', 'not_set_up'], {
    rows: {
      type: 'array',
      items: obj(['group', 'day', 'ledger_usd', 'telemetry_usd', 'flags'], {
        group: nstr,
        day: str,
        ledger_usd: num,
        telemetry_usd: num,
        difference_usd: num,
        flags: { type: 'array', items: str },
      }),
    },
    not_set_up: { type: 'array', items: str },
  }),
  SeatReport: obj(['users', 'team', 'assumptions'], {
    users: { type: 'array', items: obj(['user', 'recommendation'], { user: str, recommendation: str }) },
    team: { type: 'object' },
    assumptions: { type: 'array', items: str },
  }),
  RouteAdvice: obj(['route', 'region', 'reasons'], {
    route: { enum: ['anthropic', 'bedrock', 'vertex', 'seats'] },
    region: nstr,
    reasons: { type: 'array', items: str },
  }),
  ImportResult: obj(['files', 'records', 'imported', 'duplicates', 'malformed', 'problems'], {
    files: int,
    records: int,
    imported: int,
    duplicates: int,
    updated: int,
    skipped: int,
    malformed: int,
    problems: { type: 'array', items: str },
    wrongKind: { type: 'array', items: str },
    bytes: int,
    seconds: num,
  }),
  Identity: obj(['external_id', 'user'], { external_id: str, user: str, team: nstr }),
  Policies: obj(['upstreams', 'routes', 'policy', 'rate_limits', 'teams_from_groups'], {
    upstreams: { type: 'array', items: obj(['name', 'route', 'ready'], { name: str, route: str, region: nstr, ready: bool }) },
    routes: obj(['default'], { default: { type: 'array', items: str }, teams: { type: 'object' }, keys: { type: 'object' } }),
    policy: { type: 'object' },
    rate_limits: { type: 'array' },
    teams_from_groups: { type: 'object' },
  }),
  Team: obj(['team', 'keys', 'route', 'month_cost_usd'], {
    team: str,
    users: int,
    keys: int,
    active_keys: int,
    route: { type: 'array', items: str },
    policy: { type: ['object', 'null'] },
    budgets: { type: 'array', items: str },
    month_requests: int,
    month_cost_usd: num,
  }),
  User: obj(['user', 'team', 'keys', 'route', 'month_cost_usd'], {
    user: str,
    team: nstr,
    keys: int,
    active_keys: int,
    route: { type: 'array', items: str },
    month_requests: int,
    month_cost_usd: num,
  }),
  FleetRow: obj(['identity', 'user', 'status', 'checksum', 'seen_at'], {
    identity: str,
    user: str,
    team: nstr,
    status: { enum: ['current', 'stale', 'edited', 'unmanaged'] },
    checksum: str,
    expected: nstr,
    seen_at: str,
  }),
};

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid input (the message says which field and why)',
  401: 'no or wrong credentials',
  403: 'read-only role, missing CSRF token, or the admin API is off',
  404: 'not found',
  405: 'method not allowed',
  413: 'body too large',
};

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ADMIN_ROUTES) {
    const errors = [...new Set([...(r.errors ?? []), ...(r.public ? [] : [401]), ...(r.change ? [403] : [])])].sort();
    const op: Record<string, unknown> = {
      operationId: r.id,
      summary: r.summary,
      tags: [r.tag],
      ...(r.public ? { security: [] } : {}),
      ...(r.params?.length ? { parameters: r.params } : {}),
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content:
                r.body === 'binary'
                  ? { 'application/octet-stream': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } }
                  : { 'application/json': { schema: r.body } },
            },
          }
        : {}),
      responses: {
        [r.created ? '201' : '200']: { description: 'OK', content: { 'application/json': { schema: r.response } } },
        ...Object.fromEntries(
          errors.map((s) => [
            String(s),
            { description: ERROR_TEXT[s] ?? 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          ]),
        ),
      },
    };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'tollgate admin API',
      version: VERSION,
      description:
        'Keys, budgets, usage, reports, reconciliation, imports, identities and policy of a tollgate gateway. ' +
        'Authenticate with the admin token as a bearer (TOLLGATE_ADMIN_TOKEN), or a console session cookie ' +
        '(changes then need the session’s x-csrf-token). Every change is written to the audit log; ' +
        'X-Tollgate-Actor names who made it.',
    },
    servers: [{ url: '/' }],
    security: [{ adminToken: [] }, { consoleSession: [] }],
    tags: ['meta', 'keys', 'budgets', 'usage', 'identities', 'policy', 'audit'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'the admin token (admin.token or TOLLGATE_ADMIN_TOKEN)' },
        consoleSession: { type: 'apiKey', in: 'cookie', name: 'tg_console', description: 'a console session (changes also need x-csrf-token)' },
      },
      schemas,
    },
  };
}
