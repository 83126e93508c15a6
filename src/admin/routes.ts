// The admin API's routes as data: method, path, who may call, parameters and the shapes of
// bodies and answers. api.ts serves them; openapi.ts turns them into the OpenAPI document.
import { REPORT_DIMENSIONS, SUMMARY_DIMENSIONS } from '../store/types.js';
import { USAGE_SOURCES } from '../reports/sources.js';
import { IMPORT_KINDS } from '../ingest/importers.js';

export interface Param {
  name: string;
  in: 'query' | 'path';
  description: string;
  required?: boolean;
  schema: Record<string, unknown>;
}

export interface AdminRoute {
  id:
    | 'openapi'
    | 'whoami'
    | 'listKeys'
    | 'createKey'
    | 'revokeKey'
    | 'listBudgets'
    | 'setBudget'
    | 'removeBudget'
    | 'audit'
    | 'alerts'
    | 'usage'
    | 'line'
    | 'summary'
    | 'report'
    | 'reconcile'
    | 'seats'
    | 'route'
    | 'ingest'
    | 'listIdentities'
    | 'setIdentity'
    | 'removeIdentity'
    | 'policies'
    | 'teams'
    | 'users'
    | 'fleet';
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  summary: string;
  tag: string;
  /** Changes something: admin role, CSRF token from a console session, audited. */
  change?: boolean;
  /** No credentials needed. */
  public?: boolean;
  /** Answers 201. */
  created?: boolean;
  params?: Param[];
  /** JSON body schema (a $ref or inline), or 'binary' for a raw file upload. */
  body?: Record<string, unknown> | 'binary';
  /** The answer's schema. */
  response: Record<string, unknown>;
  /** Statuses besides the success one that this route can answer (400, 404 …). */
  errors?: number[];
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const arrayOf = (name: string) => ({ type: 'array', items: ref(name) });
const q = (name: string, description: string, schema: Record<string, unknown> = { type: 'string' }, required = false): Param => ({
  name,
  in: 'query',
  description,
  schema,
  ...(required ? { required } : {}),
});
const TIME = { type: 'string', description: 'ISO date or time, or a span back from now: 24h, 7d' };
const range = [q('since', 'from (inclusive)', TIME), q('until', 'up to (exclusive)', TIME)];
const filters = [...range, q('user', 'only this user'), q('team', 'only this team'), q('project', 'only this project'), q('key', 'only this key id')];

export const ADMIN_ROUTES: AdminRoute[] = [
  {
    id: 'openapi',
    method: 'GET',
    path: '/admin/openapi.json',
    summary: 'The OpenAPI 3.1 document of this API',
    tag: 'meta',
    public: true,
    response: { type: 'object' },
  },
  { id: 'whoami', method: 'GET', path: '/admin/whoami', summary: 'Who the credentials are and their role', tag: 'meta', response: ref('Principal') },

  { id: 'listKeys', method: 'GET', path: '/admin/keys', summary: 'Virtual keys (never their secrets)', tag: 'keys', response: arrayOf('Key') },
  {
    id: 'createKey',
    method: 'POST',
    path: '/admin/keys',
    summary: 'Create a key; the secret is in this answer only',
    tag: 'keys',
    change: true,
    created: true,
    body: ref('KeyInput'),
    response: ref('NewKey'),
    errors: [400],
  },
  {
    id: 'revokeKey',
    method: 'POST',
    path: '/admin/keys/{id}/revoke',
    summary: 'Revoke a key (refused by every replica within a poll)',
    tag: 'keys',
    change: true,
    params: [{ name: 'id', in: 'path', required: true, description: 'key id', schema: { type: 'string' } }],
    response: ref('RevokedKey'),
    errors: [404],
  },

  {
    id: 'listBudgets',
    method: 'GET',
    path: '/admin/budgets',
    summary: 'Budgets with spend, burn rate and the date they run out at that rate',
    tag: 'budgets',
    response: arrayOf('Budget'),
  },
  {
    id: 'setBudget',
    method: 'PUT',
    path: '/admin/budgets',
    summary: 'Set (create or replace) the budget for a scope and period',
    tag: 'budgets',
    change: true,
    body: ref('BudgetInput'),
    response: ref('BudgetRecord'),
    errors: [400],
  },
  {
    id: 'removeBudget',
    method: 'DELETE',
    path: '/admin/budgets',
    summary: 'Remove budgets set from the CLI or API (config budgets live in the config file)',
    tag: 'budgets',
    change: true,
    params: [
      q('scope', 'key, user, team, project or org', { type: 'string', enum: ['key', 'user', 'team', 'project', 'org'] }, true),
      q('value', 'the key id, user, team or project (not for org)'),
      q('period', 'day, week, month or total (all periods when absent)', { type: 'string', enum: ['day', 'week', 'month', 'total'] }),
    ],
    response: { type: 'object', required: ['removed'], properties: { removed: { type: 'integer' } } },
    errors: [400, 404],
  },

  {
    id: 'audit',
    method: 'GET',
    path: '/admin/audit',
    summary: 'The audit log, newest first',
    tag: 'audit',
    params: [q('limit', 'at most this many (default 100)', { type: 'integer', minimum: 1, maximum: 10000 })],
    response: arrayOf('AuditEntry'),
    errors: [400],
  },
  {
    id: 'alerts',
    method: 'GET',
    path: '/admin/alerts',
    summary: 'Budget alerts sent, and the upstreams’ state (ready, cooling down)',
    tag: 'audit',
    params: [q('limit', 'at most this many alerts (default 100)', { type: 'integer', minimum: 1, maximum: 10000 })],
    response: ref('Alerts'),
    errors: [400],
  },

  {
    id: 'usage',
    method: 'GET',
    path: '/admin/usage',
    summary: 'Ledger lines (oldest first; with limit, the latest n). Streamed',
    tag: 'usage',
    params: [
      ...filters,
      q('limit', 'the latest n lines', { type: 'integer', minimum: 1, maximum: 100000 }),
      q('order', 'asc (oldest first, default) or desc', { type: 'string', enum: ['asc', 'desc'] }),
    ],
    response: arrayOf('LedgerLine'),
    errors: [400],
  },
  {
    id: 'line',
    method: 'GET',
    path: '/admin/usage/lines/{id}',
    summary: "One request's line: tokens, cost, attempts, timing (never prompt text)",
    tag: 'usage',
    params: [{ name: 'id', in: 'path', required: true, description: 'request id (x-tollgate-request-id)', schema: { type: 'string' } }],
    response: ref('LedgerLine'),
    errors: [404],
  },
  {
    id: 'summary',
    method: 'GET',
    path: '/admin/usage/summary',
    summary: 'Totals grouped by one dimension',
    tag: 'usage',
    params: [
      ...filters,
      q('by', SUMMARY_DIMENSIONS.join(', '), { type: 'string', enum: [...SUMMARY_DIMENSIONS] }, true),
      q('source', USAGE_SOURCES.join(', '), { type: 'string', enum: [...USAGE_SOURCES] }),
    ],
    response: { type: 'array', items: { type: 'object', required: ['requests', 'cost_usd', 'cost_nanousd'] } },
    errors: [400],
  },
  {
    id: 'report',
    method: 'GET',
    path: '/admin/report',
    summary: 'Spend and tokens grouped by any dimensions over a range (as tollgate report --json)',
    tag: 'usage',
    params: [
      ...filters,
      q('by', `comma-separated: ${REPORT_DIMENSIONS.join(', ')} (default team)`),
      q('source', USAGE_SOURCES.join(', '), { type: 'string', enum: [...USAGE_SOURCES] }),
    ],
    response: ref('Report'),
    errors: [400],
  },
  {
    id: 'reconcile',
    method: 'GET',
    path: '/admin/reconcile',
    summary: 'The ledger beside telemetry, transcripts, invocation logs, CloudTrail and the bill, per group and day',
    tag: 'usage',
    params: [
      ...range,
      q('by', 'user, team, model or day', { type: 'string', enum: ['user', 'team', 'model', 'day'] }),
      q('threshold', 'flag differences above this percentage (default 1)', { type: 'number', minimum: 0 }),
    ],
    response: ref('Reconcile'),
    errors: [400],
  },
  {
    id: 'seats',
    method: 'GET',
    path: '/admin/advice/seats',
    summary: 'Seat or metered per user, and the team hybrid',
    tag: 'usage',
    params: [...range, q('team', 'only this team'), q('individual', 'also individual plans (Pro, Max)', { type: 'string', enum: ['true', 'false'] })],
    response: ref('SeatReport'),
    errors: [400],
  },
  {
    id: 'route',
    method: 'GET',
    path: '/admin/advice/route',
    summary: 'Which billing route, from the decision questions (400 names the next question the answers leave open)',
    tag: 'usage',
    params: [
      q('cloud', 'an existing cloud contract', { type: 'string', enum: ['aws', 'gcp', 'none'] }),
      q('stage', 'still evaluating, or steady use', { type: 'string', enum: ['evaluation', 'steady'] }),
      q('usage', 'is use spread evenly across the team', { type: 'string', enum: ['even', 'uneven'] }),
      q('residency', 'a data-residency requirement (eu, eu-central-1, europe-west4)'),
      q('chargeback', 'spend must be charged back to teams or projects', { type: 'string', enum: ['true', 'false'] }),
    ],
    response: ref('RouteAdvice'),
    errors: [400],
  },
  {
    id: 'ingest',
    method: 'POST',
    path: '/admin/ingest/{kind}',
    summary: 'Import one file of usage kept outside the gateway (gzip and Parquet accepted; importing it twice changes nothing)',
    tag: 'usage',
    change: true,
    params: [
      { name: 'kind', in: 'path', required: true, description: IMPORT_KINDS.join(', '), schema: { type: 'string', enum: [...IMPORT_KINDS] } },
      q('name', "the file's name (for messages)"),
      q('user', 'claude-transcripts: whose transcripts (an external id mapped with identities)'),
    ],
    body: 'binary',
    response: ref('ImportResult'),
    errors: [400, 404, 413],
  },

  {
    id: 'listIdentities',
    method: 'GET',
    path: '/admin/identities',
    summary: 'External identities mapped to users',
    tag: 'identities',
    response: arrayOf('Identity'),
  },
  {
    id: 'setIdentity',
    method: 'PUT',
    path: '/admin/identities',
    summary: 'Map an external id (IAM ARN, email, OTel user.id) to a user and team',
    tag: 'identities',
    change: true,
    body: ref('Identity'),
    response: ref('Identity'),
    errors: [400],
  },
  {
    id: 'removeIdentity',
    method: 'DELETE',
    path: '/admin/identities/{external_id}',
    summary: 'Forget a mapping',
    tag: 'identities',
    change: true,
    params: [{ name: 'external_id', in: 'path', required: true, description: 'the external id, URL-encoded', schema: { type: 'string' } }],
    response: { type: 'object', required: ['removed'], properties: { removed: { type: 'string' } } },
    errors: [404],
  },

  {
    id: 'policies',
    method: 'GET',
    path: '/admin/policies',
    summary: 'Routes, model policy, rate limits, group mapping and config budgets in force',
    tag: 'policy',
    response: ref('Policies'),
  },
  {
    id: 'teams',
    method: 'GET',
    path: '/admin/teams',
    summary: 'Teams with their route, policy, budgets and spend this month',
    tag: 'policy',
    response: arrayOf('Team'),
  },
  {
    id: 'users',
    method: 'GET',
    path: '/admin/users',
    summary: 'Users with their team, keys, route and spend this month',
    tag: 'policy',
    response: arrayOf('User'),
  },
  {
    id: 'fleet',
    method: 'GET',
    path: '/admin/fleet',
    summary: 'Managed settings per machine: current, stale, edited or unmanaged',
    tag: 'policy',
    response: arrayOf('FleetRow'),
  },
];
