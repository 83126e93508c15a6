// The authorization server Claude Code's /login talks to (its gateway protocol): RFC 8414
// discovery, RFC 8628 device authorization and token endpoint, refresh with rotation (and a
// fresh word from the IdP each time), RFC 7009 revocation, and the browser pages where the
// engineer confirms the code and signs in at the company's identity provider.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import { hashKey } from '../identity/keys.js';
import { readBody } from '../server/body.js';
import { GatewayError } from '../server/errors.js';
import { headerValue } from '../server/headers.js';
import type { DeviceGrant, SignInSession, Store } from '../store/types.js';
import type { Logger } from '../util/log.js';
import { IdentityProvider, SignInRefused, type IdpIdentity } from './oidc.js';
import { page } from './pages.js';
import { SessionTokens, teamFor } from './tokens.js';
import { escapeHtml } from '../util/html.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8628 §6.1: a base-20 alphabet without vowels (no words) or look-alikes. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const DEVICE_CODE_TTL_S = 600;
/** A refresh token used again within this long of its first use is honoured (concurrent
 * refreshes by processes sharing it); later, it is a replay and ends the session. */
const REUSE_GRACE_MS = 60_000;
const POLL_INTERVAL_S = 5;

function userCode(): string {
  const b = randomBytes(8);
  let s = '';
  for (const x of b) s += USER_CODE_ALPHABET[x % USER_CODE_ALPHABET.length];
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

/** What a person may type for a code: any case, with or without the dash or spaces. */
function normalizeUserCode(v: string): string {
  const s = v.toUpperCase().replace(/[^A-Z]/g, '');
  return s.length === 8 ? `${s.slice(0, 4)}-${s.slice(4)}` : s;
}

function sendOAuth(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** RFC 6749 §5.2 error; 401 where Claude Code's protocol asks for it (a refused refresh). */
function oauthError(res: ServerResponse, status: number, error: string, description?: string): void {
  sendOAuth(res, status, { error, ...(description ? { error_description: description } : {}) });
}

/** An OAuth endpoint's form: POST and form-encoded, or the OAuth error answered (null). */
async function postedForm(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | null> {
  if (req.method !== 'POST') {
    oauthError(res, 405, 'invalid_request', 'use POST');
    return null;
  }
  try {
    return await readForm(req);
  } catch (err) {
    if (err instanceof OAuthInputError) {
      oauthError(res, 400, 'invalid_request', err.message);
      return null;
    }
    throw err;
  }
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (headerValue(req.headers, 'content-type') ?? '').toLowerCase();
  const body = await readBody(req, 64 * 1024);
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new OAuthInputError('send the parameters as application/x-www-form-urlencoded');
  return new URLSearchParams(body.toString('utf8'));
}

class OAuthInputError extends Error {}

export interface AuthServerOptions {
  config: Config;
  store: Store;
  logger: Logger;
  wallNow: () => number;
  publicUrl: () => string;
  tokens: SessionTokens;
}

export class AuthServer {
  private readonly idp: IdentityProvider | null;
  private readonly pageHits = new Map<string, { start: number; n: number }>();

  constructor(private readonly o: AuthServerOptions) {
    const oidc = o.config.auth.oidc;
    this.idp = oidc ? new IdentityProvider(oidc, () => `${o.publicUrl()}/device/callback`) : null;
  }

  get enabled(): boolean {
    return this.idp !== null;
  }

  private url(path: string): string {
    return `${this.o.publicUrl()}${path}`;
  }

  /** Answers the sign-in endpoints; false for any other path. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, search: string): Promise<boolean> {
    const routes: Record<string, () => Promise<void> | void> = {
      '/.well-known/oauth-authorization-server': () => this.metadata(req, res),
      '/oauth/device_authorization': () => this.deviceAuthorization(req, res),
      '/oauth/token': () => this.token(req, res),
      '/oauth/revoke': () => this.revoke(req, res),
      '/device': () => this.devicePage(req, res, search),
      '/device/callback': () => this.callback(req, res, search),
    };
    const route = routes[path];
    if (!route) return false;
    if (!this.idp) throw new GatewayError('TG_NOT_FOUND', `${path}: sign-in is not configured on this gateway (auth.oidc)`);
    await route();
    return true;
  }

  private metadata(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method}: use GET`, { allow: 'GET' });
    sendOAuth(res, 200, {
      issuer: this.o.publicUrl(),
      device_authorization_endpoint: this.url('/oauth/device_authorization'),
      token_endpoint: this.url('/oauth/token'),
      revocation_endpoint: this.url('/oauth/revoke'),
      grant_types_supported: [DEVICE_GRANT, 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      response_types_supported: [],
    });
  }

  private async deviceAuthorization(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // surface=claude_code and nothing else required (no client_id, no scope)
    if (!(await postedForm(req, res))) return;
    const now = this.o.wallNow();
    const deviceCode = randomBytes(32).toString('base64url'); // 256 bits, single use
    let code = userCode();
    for (let i = 0; i < 5 && this.o.store.findDeviceGrant({ userCode: code }); i++) code = userCode();
    this.o.store.insertDeviceGrant({
      device_hash: hashKey(deviceCode),
      user_code: code,
      created_at: now,
      expires_at: now + DEVICE_CODE_TTL_S * 1000,
      interval_s: POLL_INTERVAL_S,
      last_poll_at: null,
      status: 'pending',
      state: null,
      pkce_verifier: null,
      nonce: null,
      session_id: null,
      denied_reason: null,
    });
    const notice = this.o.config.auth.login_notice;
    sendOAuth(res, 200, {
      device_code: deviceCode,
      user_code: code,
      verification_uri: this.url('/device'),
      verification_uri_complete: `${this.url('/device')}?user_code=${encodeURIComponent(code)}`,
      expires_in: DEVICE_CODE_TTL_S,
      interval: POLL_INTERVAL_S,
      ...(notice ? { login_notice: notice } : {}),
    });
  }

  private async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await postedForm(req, res);
    if (!form) return;
    const grant = form.get('grant_type');
    if (grant === DEVICE_GRANT) return this.deviceToken(res, form.get('device_code'));
    if (grant === 'refresh_token') return this.refresh(res, form.get('refresh_token'));
    if (!grant) return oauthError(res, 400, 'invalid_request', 'grant_type is required');
    return oauthError(res, 400, 'unsupported_grant_type', `grant_type ${grant.slice(0, 80)} is not supported (device_code and refresh_token are)`);
  }

  private async deviceToken(res: ServerResponse, deviceCode: string | null): Promise<void> {
    if (!deviceCode) return oauthError(res, 400, 'invalid_request', 'device_code is required');
    const store = this.o.store;
    const g = store.findDeviceGrant({ deviceHash: hashKey(deviceCode) });
    if (!g) return oauthError(res, 400, 'invalid_grant', 'unknown device_code');
    const now = this.o.wallNow();
    if (g.status === 'used') return oauthError(res, 400, 'invalid_grant', 'this device_code was already exchanged');
    if (now >= g.expires_at) return oauthError(res, 400, 'expired_token', 'the sign-in took too long; run /login again');
    if (g.status === 'denied') return oauthError(res, 400, 'access_denied', g.denied_reason ?? 'sign-in was refused');
    if (g.status === 'pending') {
      // RFC 8628 §3.5: polling faster than the interval is answered slow_down, and the
      // interval grows by 5 seconds.
      if (g.last_poll_at !== null && now - g.last_poll_at < g.interval_s * 1000) {
        store.updateDeviceGrant(g.device_hash, { last_poll_at: now, interval_s: g.interval_s + 5 });
        return oauthError(res, 400, 'slow_down');
      }
      store.updateDeviceGrant(g.device_hash, { last_poll_at: now });
      return oauthError(res, 400, 'authorization_pending');
    }
    const session = g.session_id ? store.findSession(g.session_id) : undefined;
    if (!session || session.revoked_at !== null) return oauthError(res, 400, 'access_denied', 'the sign-in session is gone');
    store.updateDeviceGrant(g.device_hash, { status: 'used' });
    sendOAuth(res, 200, { ...(await this.o.tokens.issue(session, now)) });
  }

  private async refresh(res: ServerResponse, refreshToken: string | null): Promise<void> {
    if (!refreshToken) return oauthError(res, 400, 'invalid_request', 'refresh_token is required');
    const store = this.o.store;
    const now = this.o.wallNow();
    const hash = hashKey(refreshToken);
    const t = store.findToken(hash);
    // Claude Code's protocol: 401 invalid_grant sends the engineer back to /login.
    if (!t || t.kind !== 'refresh' || t.revoked_at !== null || now >= t.expires_at) return oauthError(res, 401, 'invalid_grant', 'sign in again (/login)');
    const session = store.findSession(t.session_id);
    if (!session || session.revoked_at !== null) return oauthError(res, 401, 'invalid_grant', 'sign in again (/login)');
    // Several Claude Code processes on one machine share a credential and may refresh at the
    // same moment: a second use within the grace period is one of those, not a theft.
    const late = t.used_at !== null && now - t.used_at > REUSE_GRACE_MS;
    if (late) return this.replayed(res, session, now);
    let fresh: IdpIdentity | null = null;
    if (session.idp_refresh_token && this.idp) {
      try {
        fresh = await this.idp.recheck(session.idp_refresh_token);
        this.idp.check(fresh);
      } catch (err) {
        if (err instanceof SignInRefused) {
          // Removed, disabled or no longer allowed at the IdP: this is where access ends.
          store.revokeSession(session.id, now);
          this.o.tokens.forget();
          this.o.logger.info('sign-in ended at refresh', { user: session.email ?? session.subject, reason: err.message });
          return oauthError(res, 401, 'invalid_grant', err.message);
        }
        this.o.logger.warn('the identity provider could not be reached to refresh a sign-in', { error: (err as Error).message });
        // The token is not spent: the client may try again with it.
        return sendOAuth(
          res,
          503,
          { error: 'temporarily_unavailable', error_description: 'the identity provider could not be reached; try again' },
          { 'retry-after': '30' },
        );
      }
    }
    // Spent now (the first use's time stays: the grace period counts from it).
    store.useToken(hash, now);
    const updated: SignInSession = fresh
      ? {
          ...session,
          email: fresh.email ?? session.email,
          name: fresh.name ?? session.name,
          groups: fresh.groups,
          team: teamFor(fresh.groups, this.o.config.teams_from_groups),
          idp_refresh_token: fresh.refreshToken,
          refreshed_at: now,
        }
      : { ...session, refreshed_at: now };
    store.updateSession(session.id, {
      email: updated.email,
      name: updated.name,
      groups: updated.groups,
      team: updated.team,
      idp_refresh_token: updated.idp_refresh_token,
      refreshed_at: now,
    });
    sendOAuth(res, 200, { ...(await this.o.tokens.issue(updated, now)) });
  }

  /** A refresh token presented twice was stolen or replayed: the whole session ends. */
  private replayed(res: ServerResponse, session: SignInSession, now: number): void {
    this.o.store.revokeSession(session.id, now);
    this.o.tokens.forget();
    this.o.logger.warn('a refresh token was used twice; the session is revoked', { session: session.id, user: session.email ?? session.subject });
    oauthError(res, 401, 'invalid_grant', 'this refresh token was already used; sign in again (/login)');
  }

  private async revoke(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = await postedForm(req, res);
    if (!form) return;
    const token = form.get('token');
    if (!token) return oauthError(res, 400, 'invalid_request', 'token is required');
    const now = this.o.wallNow();
    const t = this.o.store.findToken(hashKey(token));
    // RFC 7009 §2.2: an unknown or already revoked token is answered 200 as well.
    if (t) {
      // A refresh token stands for the sign-in: revoking it ends the session and its tokens.
      if (t.kind === 'refresh') this.o.store.revokeSession(t.session_id, now);
      else this.o.store.revokeToken(t.hash, now);
      this.o.tokens.forget();
    }
    res.writeHead(200, { 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  }

  /** Verification pages are for people: a few requests a minute per address. */
  private limited(req: IncomingMessage): boolean {
    const ip = req.socket.remoteAddress ?? '?';
    const now = Date.now();
    const h = this.pageHits.get(ip);
    if (!h || now - h.start >= 60_000) {
      if (this.pageHits.size > 10_000) this.pageHits.clear();
      this.pageHits.set(ip, { start: now, n: 1 });
      return false;
    }
    return ++h.n > this.o.config.auth.page_limit_per_minute;
  }

  private async devicePage(req: IncomingMessage, res: ServerResponse, search: string): Promise<void> {
    if (this.limited(req))
      return page(res, 429, 'Too many attempts', '<p>Too many attempts from your address. Wait a minute, then try again.</p>', { 'retry-after': '60' });
    if (req.method === 'GET') {
      // A code in the link is shown in the form, never submitted for the user: a link someone
      // else sent must not sign them in on another's behalf.
      const given = normalizeUserCode(new URLSearchParams(search).get('user_code') ?? '');
      return page(
        res,
        200,
        'Sign in to Claude Code',
        `<p>Enter the code Claude Code shows, check it matches, then sign in with your company account.</p>
<form method="post" action="/device"><label>Code <input name="user_code" value="${escapeHtml(given)}" autocomplete="off" required></label>
<button type="submit">Continue</button></form>`,
      );
    }
    if (req.method !== 'POST') throw new GatewayError('TG_METHOD', `${req.method} /device: use GET or POST`, { allow: 'GET, POST' });
    let code: string;
    try {
      code = normalizeUserCode((await readForm(req)).get('user_code') ?? '');
    } catch (err) {
      if (err instanceof OAuthInputError) return page(res, 400, 'Sign-in failed', `<p>${escapeHtml(err.message)}</p>`);
      throw err;
    }
    const g = this.o.store.findDeviceGrant({ userCode: code });
    const now = this.o.wallNow();
    if (!g || g.status !== 'pending' || now >= g.expires_at) {
      return page(
        res,
        400,
        'Code not valid',
        '<p>That code is not valid, already used or expired. Run <code>/login</code> in Claude Code again for a new one.</p><p><a href="/device">Try another code</a></p>',
      );
    }
    const start = await this.idp!.start();
    this.o.store.updateDeviceGrant(g.device_hash, { state: start.state, pkce_verifier: start.verifier, nonce: start.nonce });
    res.writeHead(303, { location: start.url, 'cache-control': 'no-store', 'content-length': 0 });
    res.end();
  }

  private async callback(req: IncomingMessage, res: ServerResponse, search: string): Promise<void> {
    if (this.limited(req))
      return page(res, 429, 'Too many attempts', '<p>Too many attempts from your address. Wait a minute, then try again.</p>', { 'retry-after': '60' });
    if (req.method !== 'GET') throw new GatewayError('TG_METHOD', `${req.method} /device/callback: use GET`, { allow: 'GET' });
    const q = new URLSearchParams(search);
    const state = q.get('state');
    const g: DeviceGrant | undefined = state ? this.o.store.findDeviceGrant({ state }) : undefined;
    if (!g || !g.pkce_verifier || !g.nonce || !state)
      return page(res, 400, 'Sign-in failed', '<p>This sign-in link is not valid (unknown state). Start again from Claude Code.</p>');
    const now = this.o.wallNow();
    const deny = (reason: string) => {
      this.o.store.updateDeviceGrant(g.device_hash, { status: 'denied', denied_reason: reason, state: null, pkce_verifier: null, nonce: null });
      return page(res, 403, 'Sign-in refused', `<p>${escapeHtml(reason)}</p>`);
    };
    if (now >= g.expires_at) return page(res, 400, 'Sign-in expired', '<p>The sign-in took too long. Run <code>/login</code> in Claude Code again.</p>');
    if (q.get('error')) return deny(`the identity provider answered ${q.get('error')}${q.get('error_description') ? `: ${q.get('error_description')}` : ''}`);
    let id: IdpIdentity;
    try {
      id = await this.idp!.finish(new URL(`${this.url('/device/callback')}${search}`), { state, verifier: g.pkce_verifier, nonce: g.nonce });
    } catch (err) {
      this.o.logger.warn('sign-in callback failed', { error: (err as Error).message });
      return deny(`sign-in could not be completed: ${(err as Error).message}`);
    }
    try {
      this.idp!.check(id);
    } catch (err) {
      return deny((err as Error).message);
    }
    const session: SignInSession = {
      id: 'ses_' + createHash('sha256').update(randomBytes(32)).digest('hex').slice(0, 24),
      subject: id.subject,
      email: id.email,
      name: id.name,
      groups: id.groups,
      team: teamFor(id.groups, this.o.config.teams_from_groups),
      idp_refresh_token: id.refreshToken,
      created_at: now,
      refreshed_at: now,
      revoked_at: null,
    };
    this.o.store.insertSession(session);
    this.o.store.updateDeviceGrant(g.device_hash, { status: 'approved', session_id: session.id, state: null, pkce_verifier: null, nonce: null });
    this.o.logger.info('signed in', { user: session.email ?? session.subject, team: session.team });
    return page(
      res,
      200,
      'Signed in',
      `<p>Signed in as <strong>${escapeHtml(session.email ?? session.subject)}</strong>${session.team ? ` (team ${escapeHtml(session.team)})` : ''}. You can close this page and return to Claude Code.</p>`,
    );
  }
}
