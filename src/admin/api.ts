// The admin API: keys, budgets and the audit log over HTTP, for a CLI pointed at a remote
// gateway (--url) or for automation. Protected by one bearer token; every change is audited.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual, createHash } from 'node:crypto';
import { configBudgetDefs } from '../policy/budgets.js';
import { GatewayError } from '../server/errors.js';
import type { GatewayContext } from '../server/context.js';
import { readBody } from '../server/body.js';
import { budgetRows, keyView, OperationError, Operations } from './operations.js';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests so the comparison takes the same time whatever the lengths.
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export async function handleAdmin(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, path: string, search: string): Promise<void> {
  const token = ctx.config.admin.token || process.env.TOLLGATE_ADMIN_TOKEN || '';
  if (!token) throw new GatewayError('TG_ADMIN_DISABLED', 'the admin API is off: set TOLLGATE_ADMIN_TOKEN (or admin.token in the config) and restart');
  const auth = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1]?.trim();
  if (!auth || !sameSecret(auth, token)) {
    ctx.logger.warn('admin API: refused credentials', { path, remote: req.socket.remoteAddress });
    throw new GatewayError('TG_ADMIN_AUTH', 'missing or wrong admin token');
  }
  // Who made a change, as the caller says (the token proves only that it may).
  const claimed = String(req.headers['x-tollgate-actor'] ?? '')
    .replace(/[^\w.@:+-]/g, '')
    .slice(0, 100);
  const ops = new Operations(ctx.store, `admin-api${claimed ? `:${claimed}` : ''}`, ctx.wallNow);
  const method = req.method ?? 'GET';
  const body = async (): Promise<Record<string, unknown>> => {
    const raw = await readBody(req, 1024 * 1024);
    if (raw.length === 0) return {};
    try {
      const j: unknown = JSON.parse(raw.toString('utf8'));
      if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('not an object');
      return j as Record<string, unknown>;
    } catch {
      throw new OperationError('body: expected a JSON object');
    }
  };
  const q = new URLSearchParams(search);
  try {
    if (path === '/admin/keys' && method === 'GET') return sendJson(res, 200, ctx.store.listKeys().map(keyView));
    if (path === '/admin/keys' && method === 'POST') {
      const k = ops.createKey(await body());
      return sendJson(res, 201, { ...keyView(k.record), key: k.secret });
    }
    const revoke = /^\/admin\/keys\/([^/]+)\/revoke$/.exec(path);
    if (revoke && method === 'POST') {
      const r = ops.revokeKey(decodeURIComponent(revoke[1] as string));
      // Refused by this gateway from the next request on (others pick it up at their next poll).
      ctx.keys.reload();
      return sendJson(res, 200, { ...keyView(r.record), already_revoked: r.already });
    }
    if (path === '/admin/budgets' && method === 'GET') {
      return sendJson(res, 200, budgetRows(ctx.store, configBudgetDefs(ctx.config.budgets), ctx.config.spend.timezone, ctx.wallNow()));
    }
    if (path === '/admin/budgets' && (method === 'PUT' || method === 'POST')) {
      const b = ops.setBudget(await body());
      ctx.spend.budgets.reload();
      return sendJson(res, 200, b);
    }
    if (path === '/admin/budgets' && method === 'DELETE') {
      const n = ops.removeBudget({ scope: q.get('scope') ?? undefined, value: q.get('value') ?? undefined, period: q.get('period') ?? undefined });
      ctx.spend.budgets.reload();
      return sendJson(res, 200, { removed: n });
    }
    if (path === '/admin/audit' && method === 'GET') {
      const limit = Math.min(10_000, Math.max(1, Number(q.get('limit') ?? 100) || 100));
      return sendJson(
        res,
        200,
        ctx.store.listAudit(limit).map((e) => ({ ...e, time: new Date(e.ts).toISOString() })),
      );
    }
  } catch (err) {
    if (err instanceof OperationError) {
      return sendJson(res, err.status, {
        type: 'error',
        error: { type: err.status === 404 ? 'not_found_error' : 'invalid_request_error', message: err.message },
      });
    }
    throw err;
  }
  throw new GatewayError('TG_NOT_FOUND', `${method} ${path} is not an admin endpoint (see docs/admin-api.md)`);
}
