// The web console at /console: a static single-page app (built from web/console by esbuild
// into dist/console) that reads and changes things through the admin API, plus its sign-in:
// the admin token, or the identity provider for the console groups. Nothing on the page comes
// from, or goes to, another origin (the Content-Security-Policy says so to the browser).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GatewayContext } from '../server/context.js';
import { GatewayError } from '../server/errors.js';
import { readBody } from '../server/body.js';
import { adminToken } from '../admin/api.js';
import { COOKIE, cookie, FLOW_COOKIE, sameSecret, setCookie } from './session.js';

/** dist/console, beside dist/src (this file is dist/src/console/serve.js). */
const ASSETS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Failed admin-token sign-ins per address in the current minute. */
const attempts = new Map<string, { minute: number; n: number }>();

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function secure(ctx: GatewayContext): boolean {
  return Boolean(ctx.config.server.tls) || (ctx.config.server.public_url ?? '').startsWith('https:');
}

function staticFile(res: ServerResponse, rel: string, head: boolean): boolean {
  const file = normalize(join(ASSETS, rel));
  if (!file.startsWith(ASSETS + sep) || !existsSync(file)) return false;
  const ext = file.slice(file.lastIndexOf('.'));
  const type = TYPES[ext];
  if (!type) return false;
  const body = readFileSync(file);
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
  res.end(head ? undefined : body);
  return true;
}

/** Answers console paths (and / → /console); false for a path that is not the console's. */
export async function handleConsole(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, path: string, search: string): Promise<boolean> {
  if (!ctx.config.console.enabled) return false;
  const method = req.method ?? 'GET';
  const get = method === 'GET' || method === 'HEAD';
  if (path === '/') {
    if (!get) return false;
    res.writeHead(302, { location: '/console/', 'content-length': 0 });
    res.end();
    return true;
  }
  if (path === '/console') {
    res.writeHead(301, { location: '/console/', 'content-length': 0 });
    res.end();
    return true;
  }
  const sub = path.slice('/console/'.length);
  switch (sub) {
    case 'api/session':
      return session(ctx, req, res);
    case 'login':
      return login(ctx, req, res);
    case 'logout': {
      if (method !== 'POST') throw new GatewayError('TG_METHOD', `${method} ${path}: use POST`, { allow: 'POST' });
      const s = ctx.console.session(req);
      if (s && !sameSecret(String(req.headers['x-csrf-token'] ?? ''), s.csrf))
        throw new GatewayError('TG_ADMIN_FORBIDDEN', 'sign-out needs the x-csrf-token header');
      json(res, 200, { signed_in: false }, { 'set-cookie': setCookie(COOKIE, '', { maxAgeS: 0, secure: secure(ctx) }) });
      return true;
    }
    case 'auth/oidc':
      return startIdp(ctx, req, res);
    case 'auth/callback':
      return finishIdp(ctx, req, res, search);
  }
  if (!get) throw new GatewayError('TG_METHOD', `${method} ${path}: use GET`, { allow: 'GET' });
  // The app's files; any other path is a page of the app (its router reads the location).
  if (sub.startsWith('assets/') && staticFile(res, sub, method === 'HEAD')) return true;
  if (sub.startsWith('assets/')) return false;
  if (staticFile(res, 'index.html', method === 'HEAD')) return true;
  throw new GatewayError('TG_NOT_FOUND', 'the console is not built: run npm run build (it builds web/console into dist/console)');
}

function session(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): true {
  const s = ctx.console.session(req);
  const ways = { admin_token: Boolean(adminToken(ctx)), identity_provider: ctx.console.idp !== null };
  if (!s) {
    json(res, 200, { signed_in: false, ways });
    return true;
  }
  json(res, 200, { signed_in: true, actor: s.sub, role: s.role, csrf: s.csrf, expires: new Date(s.exp).toISOString(), ways });
  return true;
}

async function login(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): Promise<true> {
  if (req.method !== 'POST') throw new GatewayError('TG_METHOD', `${req.method} /console/login: use POST`, { allow: 'POST' });
  const token = adminToken(ctx);
  if (!token) throw new GatewayError('TG_ADMIN_DISABLED', 'signing in with the admin token needs one: set TOLLGATE_ADMIN_TOKEN (or admin.token)');
  const addr = req.socket.remoteAddress ?? '';
  const minute = Math.floor(ctx.wallNow() / 60_000);
  const a = attempts.get(addr);
  if (a && a.minute === minute && a.n >= 10) {
    json(
      res,
      429,
      { type: 'error', error: { type: 'rate_limit_error', message: 'too many failed sign-ins from this address; wait a minute' } },
      { 'retry-after': '60' },
    );
    return true;
  }
  let given = '';
  try {
    const b: unknown = JSON.parse((await readBody(req, 16 * 1024)).toString('utf8'));
    given = typeof (b as { token?: unknown }).token === 'string' ? (b as { token: string }).token : '';
  } catch {
    throw new GatewayError('TG_BAD_JSON', 'expected {"token": "<admin token>"}');
  }
  if (!given || !sameSecret(given, token)) {
    attempts.set(addr, { minute, n: a && a.minute === minute ? a.n + 1 : 1 });
    if (attempts.size > 10_000) attempts.clear();
    ctx.logger.warn('console: refused admin-token sign-in', { remote: addr });
    throw new GatewayError('TG_ADMIN_AUTH', 'wrong admin token');
  }
  const { session: s, value } = ctx.console.signer.newSession('admin-token', 'admin', ctx.console.ttlMs, ctx.wallNow());
  ctx.store.appendAudit({
    ts: ctx.wallNow(),
    actor: 'console:admin-token',
    action: 'console.sign_in',
    target: null,
    details: { role: 'admin', via: 'admin token' },
  });
  json(
    res,
    200,
    { signed_in: true, actor: s.sub, role: s.role, csrf: s.csrf },
    { 'set-cookie': setCookie(COOKIE, value, { maxAgeS: ctx.console.ttlMs / 1000, secure: secure(ctx) }) },
  );
  return true;
}

async function startIdp(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse): Promise<true> {
  if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} /console/auth/oidc: use GET`, { allow: 'GET' });
  const idp = ctx.console.idp;
  if (!idp)
    throw new GatewayError('TG_NOT_FOUND', 'console sign-in through the identity provider needs auth.oidc and console.admin_groups or console.read_groups');
  const start = await idp.start();
  // The round trip's secrets ride in a signed, short-lived cookie: any replica can finish it.
  // SameSite=Lax: the IdP's redirect back is a top-level navigation from another site.
  const flow = ctx.console.signer.sign({ state: start.state, verifier: start.verifier, nonce: start.nonce, exp: ctx.wallNow() + 600_000 });
  res.writeHead(303, {
    location: start.url,
    'content-length': 0,
    'cache-control': 'no-store',
    'set-cookie': `${FLOW_COOKIE}=${flow}; Path=/console/auth; HttpOnly; SameSite=Lax; Max-Age=600${secure(ctx) ? '; Secure' : ''}`,
  });
  res.end();
  return true;
}

function page(res: ServerResponse, status: number, message: string): true {
  const text = `<!doctype html><meta charset="utf-8"><title>tollgate console</title><p>${message.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`)}</p><p><a href="/console/">Back to the console</a></p>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end(text);
  return true;
}

async function finishIdp(ctx: GatewayContext, req: IncomingMessage, res: ServerResponse, search: string): Promise<true> {
  const idp = ctx.console.idp;
  if (!idp) throw new GatewayError('TG_NOT_FOUND', 'console sign-in through the identity provider is not configured');
  const raw = cookie(req, FLOW_COOKIE);
  const flow = raw ? ctx.console.signer.verify(raw) : null;
  if (!flow || typeof flow.state !== 'string' || typeof flow.verifier !== 'string' || typeof flow.nonce !== 'string' || Number(flow.exp) < ctx.wallNow())
    return page(res, 400, 'This sign-in is not valid or took too long. Start again from the console.');
  const q = new URLSearchParams(search);
  if (q.get('error')) return page(res, 403, `The identity provider answered ${q.get('error')}.`);
  let role;
  let who;
  try {
    const id = await idp.finish(new URL(`${ctx.console.publicUrl()}/console/auth/callback${search}`), {
      state: flow.state,
      verifier: flow.verifier,
      nonce: flow.nonce,
    });
    who = id.email ?? id.subject;
    role = ctx.console.roleOf(id);
  } catch (err) {
    ctx.logger.warn('console sign-in failed', { error: (err as Error).message });
    return page(res, 403, `Sign-in could not be completed: ${(err as Error).message}`);
  }
  if (!role) {
    ctx.store.appendAudit({
      ts: ctx.wallNow(),
      actor: `console:${who}`,
      action: 'console.sign_in_refused',
      target: null,
      details: { reason: 'not in a console group' },
    });
    return page(res, 403, `${who} is not in a console group (console.admin_groups, console.read_groups). Ask your platform team.`);
  }
  const { value } = ctx.console.signer.newSession(who, role, ctx.console.ttlMs, ctx.wallNow());
  ctx.store.appendAudit({ ts: ctx.wallNow(), actor: `console:${who}`, action: 'console.sign_in', target: null, details: { role, via: 'identity provider' } });
  res.writeHead(303, {
    location: '/console/',
    'content-length': 0,
    'cache-control': 'no-store',
    'set-cookie': [
      setCookie(COOKIE, value, { maxAgeS: ctx.console.ttlMs / 1000, secure: secure(ctx) }),
      `${FLOW_COOKIE}=; Path=/console/auth; HttpOnly; SameSite=Lax; Max-Age=0`,
    ],
  });
  res.end();
  return true;
}
