// The admin API: everything the CLI does against a remote gateway (--url), and what the web
// console reads and changes. One table of routes; the OpenAPI document at /admin/openapi.json
// is generated from the same table (openapi.ts), so what is described is what is served, and
// a test exercises every path it lists.
//
// Who may call: the admin token as a bearer (role admin), or a console session cookie (role
// admin or read; a change also needs the session's CSRF token in x-csrf-token). Every change
// is written to the audit log with who made it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configBudgetDefs } from '../policy/budgets.js';
import { GatewayError } from '../server/errors.js';
import type { GatewayContext } from '../server/context.js';
import { readBody } from '../server/body.js';
import { budgetRows, keyView, OperationError, Operations } from './operations.js';
import { sameSecret, type Role } from '../console/session.js';
import { lineToJson, reportRows, seatReport, summaryRows, summaryToJson } from '../reports/queries.js';
import { REPORT_DIMENSIONS, SUMMARY_DIMENSIONS, type LedgerQuery, type ReportDimension, type SummaryDimension } from '../store/types.js';
import { USAGE_SOURCES, type UsageSource } from '../reports/sources.js';
import { parseTime } from '../util/time.js';
import { reconcile, type ReconcileBy } from '../reports/reconcile.js';
import { appProfiles, IMPORT_KINDS, Importer, type ImportKind } from '../ingest/importers.js';
import { fleetRows } from '../clientconfig/fleet.js';
import { adviseRoute, loadSeatPlans, missingRouteAnswer, type RouteQuestions } from '../reports/advisors.js';
import { nanoToUsd } from '../metering/prices.js';
import { periodAt } from '../policy/periods.js';
import { ADMIN_ROUTES, type AdminRoute } from './routes.js';

export interface Principal {
  actor: string;
  role: Role;
  /** Set for a console session: a change must carry it as x-csrf-token. */
  csrf: string | null;
}

/** Handed to each route's handler. */
export interface Call {
  ctx: GatewayContext;
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  q: URLSearchParams;
  who: Principal;
  ops: Operations;
  body(): Promise<Record<string, unknown>>;
}

/** Returned by a handler that wrote its own response (a stream). */
export const SENT = Symbol('sent');

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** The admin token, from the config or the environment ('' when neither sets one). */
export function adminToken(ctx: GatewayContext): string {
  return ctx.config.admin.token || process.env.TOLLGATE_ADMIN_TOKEN || '';
}

function authenticate(ctx: GatewayContext, req: IncomingMessage): Principal {
  const bearer = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1]?.trim();
  if (bearer) {
    const token = adminToken(ctx);
    if (!token) throw new GatewayError('TG_ADMIN_DISABLED', 'the admin API is off: set TOLLGATE_ADMIN_TOKEN (or admin.token in the config) and restart');
    if (!sameSecret(bearer, token)) {
      ctx.logger.warn('admin API: refused credentials', { path: (req.url ?? '').split('?')[0], remote: req.socket.remoteAddress });
      throw new GatewayError('TG_ADMIN_AUTH', 'missing or wrong admin token');
    }
    // Who made a change, as the caller says (the token proves only that it may).
    const claimed = String(req.headers['x-tollgate-actor'] ?? '')
      .replace(/[^\w.@:+-]/g, '')
      .slice(0, 100);
    return { actor: `admin-api${claimed ? `:${claimed}` : ''}`, role: 'admin', csrf: null };
  }
  const s = ctx.console.session(req);
  if (s) return { actor: `console:${s.sub}`, role: s.role, csrf: s.csrf };
  // Nothing could ever sign in: say how to turn it on rather than "wrong credentials".
  if (!adminToken(ctx) && !ctx.console.idp)
    throw new GatewayError('TG_ADMIN_DISABLED', 'the admin API is off: set TOLLGATE_ADMIN_TOKEN (or admin.token in the config) and restart');
  throw new GatewayError('TG_ADMIN_AUTH', 'missing or wrong admin token (Authorization: Bearer), and no console session');
}

function match(route: AdminRoute, method: string, path: string): Record<string, string> | null {
  if (route.method !== method) return null;
  const want = route.path.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith('{') && w.endsWith('}')) {
      if (!g) return null;
      try {
        params[w.slice(1, -1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) return null;
  }
  return params;
}

export async function handleAdmin(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, path: string, search: string): Promise<void> {
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  let route: AdminRoute | undefined;
  let params: Record<string, string> | null = null;
  for (const r of ADMIN_ROUTES) {
    params = match(r, method, path);
    if (params) {
      route = r;
      break;
    }
  }
  if (!route || !params) {
    const other = ADMIN_ROUTES.filter((r) => match(r, r.method, path)).map((r) => r.method);
    if (other.length) throw new GatewayError('TG_METHOD', `${method} ${path}: use ${other.join(' or ')}`, { allow: other.join(', ') });
    throw new GatewayError('TG_NOT_FOUND', `${method} ${path} is not an admin endpoint (the list: GET /admin/openapi.json)`);
  }
  const who: Principal = route.public ? { actor: 'anonymous', role: 'read', csrf: null } : authenticate(ctx, req);
  if (route.change) {
    if (who.role !== 'admin')
      throw new GatewayError('TG_ADMIN_FORBIDDEN', `${who.actor} has the read-only console role: ${method} ${route.path} changes things`);
    if (who.csrf !== null && !sameSecret(String(req.headers['x-csrf-token'] ?? ''), who.csrf))
      throw new GatewayError('TG_ADMIN_FORBIDDEN', 'a console change needs the x-csrf-token header of its session (reload the console)');
  }
  const call: Call = {
    ctx,
    req,
    res,
    params,
    q: new URLSearchParams(search),
    who,
    ops: new Operations(ctx.store, who.actor, ctx.wallNow),
    body: async () => {
      const raw = await readBody(req, 1024 * 1024);
      if (raw.length === 0) return {};
      try {
        const j: unknown = JSON.parse(raw.toString('utf8'));
        if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
        return j as Record<string, unknown>;
      } catch {
        throw new OperationError('body: expected a JSON object');
      }
    },
  };
  try {
    const out = await HANDLERS[route.id](call);
    if (out === SENT) return;
    sendJson(res, route.created ? 201 : 200, out);
  } catch (err) {
    if (err instanceof OperationError) {
      return sendJson(res, err.status, {
        type: 'error',
        error: { type: err.status === 404 ? 'not_found_error' : 'invalid_request_error', message: err.message },
      });
    }
    throw err;
  }
}

// ---- parameters -----------------------------------------------------------------------

function time(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  try {
    return parseTime(v);
  } catch (err) {
    throw new OperationError(`${name}: ${(err as Error).message}`);
  }
}

function oneOf<T extends string>(q: URLSearchParams, name: string, allowed: readonly T[], dflt: T): T {
  const v = q.get(name) ?? dflt;
  if (!(allowed as readonly string[]).includes(v)) throw new OperationError(`${name} ${v}: one of ${allowed.join(', ')}`);
  return v as T;
}

function int(q: URLSearchParams, name: string, dflt: number | undefined, max: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new OperationError(`${name} ${v}: a whole number from 1 to ${max}`);
  return n;
}

function ledgerQuery(q: URLSearchParams): LedgerQuery {
  const str = (n: string) => q.get(n) || undefined;
  return { since: time(q, 'since'), until: time(q, 'until'), user: str('user'), team: str('team'), project: str('project'), keyId: str('key') };
}

function dims(v: string | null): ReportDimension[] {
  const list = (v ?? 'team')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = list.filter((d) => !(REPORT_DIMENSIONS as readonly string[]).includes(d));
  if (bad.length) throw new OperationError(`by ${v}: one or more of ${REPORT_DIMENSIONS.join(', ')} (comma-separated)`);
  return list as ReportDimension[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

// ---- handlers ----------------------------------------------------------------------------

type Handler = (c: Call) => unknown;

const HANDLERS: Record<AdminRoute['id'], Handler> = {
  openapi: async () => (await import('./openapi.js')).openApiDocument(),
  whoami: (c) => ({ actor: c.who.actor, role: c.who.role }),

  listKeys: (c) => c.ctx.store.listKeys().map(keyView),
  createKey: async (c) => {
    const k = c.ops.createKey(await c.body());
    return { ...keyView(k.record), key: k.secret };
  },
  revokeKey: (c) => {
    const r = c.ops.revokeKey(c.params.id as string);
    // Refused by this gateway from the next request on (others pick it up at their next poll).
    c.ctx.keys.reload();
    return { ...keyView(r.record), already_revoked: r.already };
  },

  listBudgets: (c) => budgetRows(c.ctx.store, configBudgetDefs(c.ctx.config.budgets), c.ctx.config.spend.timezone, c.ctx.wallNow()).map((b) => burn(c, b)),
  setBudget: async (c) => {
    const b = c.ops.setBudget(await c.body());
    c.ctx.spend.budgets.reload();
    return { ...b, limit_usd: nanoToUsd(b.limit_nanousd) };
  },
  removeBudget: (c) => {
    const n = c.ops.removeBudget({ scope: c.q.get('scope') ?? undefined, value: c.q.get('value') ?? undefined, period: c.q.get('period') ?? undefined });
    c.ctx.spend.budgets.reload();
    return { removed: n };
  },

  audit: (c) =>
    c.ctx.store.listAudit(int(c.q, 'limit', 100, 10_000) as number).map((e) => ({ ...e, time: new Date(e.ts).toISOString(), details: e.details ?? null })),
  alerts: (c) => ({
    budget_alerts: c.ctx.store.listAlertsSent(int(c.q, 'limit', 100, 10_000) as number).map((a) => ({
      ...a,
      time: iso(a.sent_at),
      period_start: iso(a.period_start),
    })),
    upstreams: c.ctx.upstreams.map((u) => ({
      name: u.name,
      route: u.route,
      region: u.region,
      ready: u.credentialProblem() === null,
      problem: u.credentialProblem(),
      cooling: c.ctx.router.isCooling(u.name),
    })),
  }),

  usage: async (c) => {
    const q = ledgerQuery(c.q);
    const limit = int(c.q, 'limit', undefined, 100_000);
    const order = oneOf(c.q, 'order', ['asc', 'desc'] as const, 'asc');
    // The latest n (newest first, or reversed to oldest first), or every line in the range,
    // streamed: memory stays bounded however many lines the range holds.
    const lines =
      limit !== undefined
        ? (() => {
            const l = c.ctx.store.queryLedger({ ...q, limit, latest: true });
            return order === 'asc' ? l.reverse() : l;
          })()
        : c.ctx.store.iterateLedger({ ...q, latest: order === 'desc' });
    c.res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    let first = true;
    // With backpressure; a caller that goes away ends the listing (no wait for a drain that
    // cannot come).
    const write = (s: string) =>
      c.res.write(s)
        ? Promise.resolve()
        : new Promise<void>((r) => {
            const done = () => {
              c.res.off('drain', done);
              c.res.off('close', done);
              r();
            };
            c.res.once('drain', done);
            c.res.once('close', done);
          });
    await write('[');
    let buf = '';
    for (const l of lines) {
      if (c.res.destroyed) return SENT;
      buf += (first ? '\n' : ',\n') + JSON.stringify(lineToJson(l));
      first = false;
      if (buf.length > 65536) {
        await write(buf);
        buf = '';
      }
    }
    await write(buf + (first ? ']' : '\n]'));
    c.res.end();
    return SENT;
  },
  line: (c) => {
    const l = c.ctx.store.queryLedger({ id: c.params.id as string, limit: 1 })[0];
    if (!l) throw new OperationError(`no ledger line ${c.params.id}`, 404);
    return lineToJson(l);
  },
  summary: (c) => {
    const by = oneOf<SummaryDimension>(c.q, 'by', SUMMARY_DIMENSIONS, 'user');
    const source = oneOf<UsageSource>(c.q, 'source', USAGE_SOURCES, 'ledger');
    return summaryToJson(by, summaryRows(c.ctx.store, c.ctx.catalog, by, ledgerQuery(c.q), source));
  },
  report: (c) => {
    const by = dims(c.q.get('by'));
    const source = oneOf<UsageSource>(c.q, 'source', USAGE_SOURCES, 'ledger');
    return reportRows(c.ctx.store, c.ctx.catalog, by, ledgerQuery(c.q), source);
  },
  reconcile: (c) => {
    const by = oneOf<ReconcileBy>(c.q, 'by', ['user', 'team', 'model', 'day'], 'user');
    const pct = Number(c.q.get('threshold') ?? 1);
    if (!Number.isFinite(pct) || pct < 0) throw new OperationError('threshold: a percentage such as 1');
    const since = time(c.q, 'since') ?? c.ctx.wallNow() - 30 * 86_400_000;
    const until = time(c.q, 'until') ?? c.ctx.wallNow() + 60_000;
    const r = reconcile(c.ctx.store, c.ctx.catalog, by, since, until, { pct, usd: 0.01 });
    return { rows: r.rows, not_set_up: r.notSetUp };
  },
  seats: (c) => {
    const since = time(c.q, 'since') ?? c.ctx.wallNow() - 30 * 86_400_000;
    const until = time(c.q, 'until') ?? c.ctx.wallNow();
    if (until <= since) throw new OperationError('until must be after since');
    return seatReport(c.ctx.store, loadSeatPlans(), {
      since,
      until,
      team: c.q.get('team') || undefined,
      individual: c.q.get('individual') === 'true',
    });
  },
  route: (c) => {
    const pick = <T extends string>(name: string, allowed: readonly T[]): T | undefined => {
      const v = c.q.get(name);
      if (v === null || v === '') return undefined;
      if (!(allowed as readonly string[]).includes(v)) throw new OperationError(`${name} ${v}: one of ${allowed.join(', ')}`);
      return v as T;
    };
    const q: Partial<RouteQuestions> = {
      cloud: pick('cloud', ['aws', 'gcp', 'none'] as const),
      stage: pick('stage', ['evaluation', 'steady'] as const),
      usage: pick('usage', ['even', 'uneven'] as const),
      residency: c.q.get('residency') || undefined,
      chargeback: c.q.get('chargeback') === 'true',
    };
    // A residency requirement with no cloud named: Bedrock is assumed, as the CLI does.
    if (q.residency && q.cloud === undefined) q.cloud = 'none';
    const missing = missingRouteAnswer(q);
    if (missing)
      throw new OperationError(
        `${missing}: the decision needs it (${{ cloud: 'aws, gcp or none', stage: 'evaluation or steady', usage: 'even or uneven' }[missing]})`,
      );
    return adviseRoute(q as RouteQuestions);
  },
  ingest: async (c) => {
    const kind = c.params.kind as string;
    if (!(IMPORT_KINDS as readonly string[]).includes(kind)) throw new OperationError(`${kind}: one of ${IMPORT_KINDS.join(', ')}`, 404);
    const name = (c.q.get('name') ?? 'upload').replace(/[^\w.-]/g, '_').slice(0, 100) || 'upload';
    // One file per request, up to 512 MB (a CUR month, a day of invocation logs), through a
    // private temporary directory: the importers read files (gzip and Parquet need seeking).
    const raw = await readBody(c.req, 512 * 1024 * 1024);
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-upload-'));
    try {
      const file = join(dir, name);
      writeFileSync(file, raw, { mode: 0o600 });
      const importer = new Importer(c.ctx.store, c.ctx.prices, {
        principal: c.q.get('user') || undefined,
        appProfiles: appProfiles(c.ctx.config, c.ctx.catalog),
        progress: false,
      });
      const r = await importer.run(kind as ImportKind, [file]).catch((err: Error) => {
        throw new OperationError(err.message);
      });
      c.ctx.store.appendAudit({
        ts: c.ctx.wallNow(),
        actor: c.who.actor,
        action: 'ingest',
        target: kind,
        details: { name, bytes: raw.length, imported: r.imported },
      });
      // Paths on this server mean nothing to the caller: name the upload instead.
      return { ...r, problems: r.problems.map((p) => p.replaceAll(file, name)), wrongKind: r.wrongKind.map((p) => p.replaceAll(file, name)) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },

  listIdentities: (c) => c.ctx.store.listIdentities(),
  setIdentity: async (c) => {
    const b = await c.body();
    const ext = b.external_id;
    const user = b.user;
    const team = b.team ?? null;
    if (typeof ext !== 'string' || !ext || ext.length > 512) throw new OperationError('external_id: required, at most 512 characters');
    if (typeof user !== 'string' || !user || user.length > 128) throw new OperationError('user: required, at most 128 characters');
    if (team !== null && (typeof team !== 'string' || team.length > 128)) throw new OperationError('team: a string of at most 128 characters');
    const i = { external_id: ext, user, team: team as string | null };
    c.ctx.store.upsertIdentity(i);
    c.ctx.store.appendAudit({ ts: c.ctx.wallNow(), actor: c.who.actor, action: 'identity.set', target: ext, details: { user, team } });
    return i;
  },
  removeIdentity: (c) => {
    const ext = c.params.external_id as string;
    if (!c.ctx.store.removeIdentity(ext)) throw new OperationError(`no identity ${ext}`, 404);
    c.ctx.store.appendAudit({ ts: c.ctx.wallNow(), actor: c.who.actor, action: 'identity.remove', target: ext, details: null });
    return { removed: ext };
  },

  policies: (c) => {
    const cfg = c.ctx.config;
    return {
      upstreams: c.ctx.upstreams.map((u) => ({ name: u.name, route: u.route, region: u.region, ready: u.credentialProblem() === null })),
      routes: { default: c.ctx.router.listFor({ id: '', team: null }), teams: cfg.routes.teams ?? {}, keys: cfg.routes.keys ?? {} },
      policy: cfg.policy,
      rate_limits: cfg.rate_limits,
      teams_from_groups: cfg.teams_from_groups,
      budgets_in_config: configBudgetDefs(cfg.budgets).map((b) => ({
        id: b.id,
        scope: b.scope,
        value: b.value,
        period: b.period,
        limit_usd: nanoToUsd(b.limit),
        mode: b.mode,
      })),
      failover: cfg.failover,
    };
  },
  teams: (c) => people(c, 'team'),
  users: (c) => people(c, 'user'),
  fleet: (c) => fleetRows(c.ctx.store.listFleet(), c.ctx.store.servedSettings(), c.ctx.config.managed_settings).map((r) => ({ ...r, seen_at: iso(r.seen_at) })),
};

/** A budget row with its burn rate over the period so far and when it runs out at that rate. */
function burn(c: Call, b: Record<string, unknown>): Record<string, unknown> {
  const now = c.ctx.wallNow();
  const w = periodAt(b.period as 'day' | 'week' | 'month' | 'total', now, c.ctx.config.spend.timezone);
  const elapsedDays = Math.max((now - w.start) / 86_400_000, 1 / 24);
  const spent = Number(b.spent_usd);
  const perDay = b.period === 'total' ? null : spent / elapsedDays;
  const left = Number(b.remaining_usd);
  let runsOut: string | null = null;
  if (perDay !== null && perDay > 0) {
    const at = now + (left / perDay) * 86_400_000;
    // Only a date inside the period means anything: after it, the budget resets first.
    runsOut = left <= 0 ? iso(now) : Number.isFinite(w.end) && at < w.end ? iso(at) : null;
  }
  return { ...b, burn_usd_per_day: perDay === null ? null : Math.round(perDay * 100) / 100, runs_out_at: runsOut };
}

/** Users or teams: who they are, their keys, routes, policy and this month's spend. */
function people(c: Call, kind: 'user' | 'team'): Record<string, unknown>[] {
  const cfg = c.ctx.config;
  const keys = c.ctx.store.listKeys();
  const now = c.ctx.wallNow();
  const month = periodAt('month', now, cfg.spend.timezone);
  const spend = new Map(c.ctx.store.summarize(kind, { since: month.start, until: now + 1 }).map((r) => [r.group, r]));
  const names = new Set<string>();
  for (const k of keys) if (k[kind]) names.add(k[kind] as string);
  for (const g of spend.keys()) if (g) names.add(g);
  if (kind === 'team') {
    for (const t of Object.keys(cfg.routes.teams ?? {})) names.add(t);
    for (const t of Object.values(cfg.teams_from_groups)) names.add(t);
    for (const t of Object.keys(cfg.policy.teams ?? {})) names.add(t);
  }
  const budgets = budgetRows(c.ctx.store, configBudgetDefs(cfg.budgets), cfg.spend.timezone, now);
  // Who spent under which team this month (people without a key: signed in, or keys since removed).
  const pairs = c.ctx.store.report(['user', 'team'], { since: month.start, until: now + 1 });
  return [...names].sort().map((name) => {
    const mine = keys.filter((k) => k[kind] === name);
    const ledgerTeam = pairs.filter((p) => p.user === name && p.team).sort((a, b) => Number(b.cost_nanousd) - Number(a.cost_nanousd))[0]?.team;
    const team = kind === 'team' ? name : (mine.find((k) => k.team)?.team ?? (ledgerTeam as string | undefined) ?? null);
    const users = new Set([...mine.map((k) => k.user), ...pairs.filter((p) => p.team === name && p.user).map((p) => String(p.user))]);
    const s = spend.get(name);
    return {
      [kind]: name,
      ...(kind === 'user' ? { team } : { users: users.size }),
      keys: mine.length,
      active_keys: mine.filter((k) => k.revoked_at === null).length,
      route: c.ctx.router.listFor({ id: '', team }),
      policy: (team ? cfg.policy.teams?.[team] : undefined) ?? cfg.policy.default ?? null,
      budgets: budgets.filter((b) => b.scope === kind && b.value === name).map((b) => b.id),
      month_requests: s?.requests ?? 0,
      month_cost_usd: nanoToUsd(s?.cost_nanousd ?? 0),
    };
  });
}
