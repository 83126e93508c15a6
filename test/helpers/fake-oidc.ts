// A small OpenID Connect provider for tests, on loopback: discovery, JWKS, the authorization
// endpoint (the "browser" is the test; the signed-in user is whoever the test says), the token
// endpoint with the authorization-code grant (PKCE S256 checked, client secret checked) and the
// refresh grant (refused once the user is removed or disabled), ID tokens signed RS256 by jose.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';

export interface IdpUser {
  sub: string;
  email: string;
  name: string;
  groups: string[];
  disabled?: boolean;
}

export class FakeOidc {
  url = '';
  private server: Server | null = null;
  private jwk: JWK | null = null;
  private privateKey: CryptoKey | null = null;
  readonly users = new Map<string, IdpUser>();
  /** Who signs in at the next authorization request. */
  current: string | null = null;
  private readonly codes = new Map<string, { sub: string; redirectUri: string; challenge: string; nonce: string }>();
  private readonly refresh = new Map<string, string>();
  /** Test switches: a wrong nonce in the ID token; a PKCE challenge that will not match. */
  wrongNonce = false;
  breakPkce = false;
  /** Refresh grants answered (how the gateway re-checks users). */
  refreshGrants = 0;

  constructor(
    readonly clientId = 'tollgate',
    readonly clientSecret = 'idp-client-secret',
  ) {}

  async start(): Promise<this> {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    this.privateKey = privateKey;
    this.jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void this.route(req.method ?? 'GET', new URL(req.url ?? '/', this.url), Buffer.concat(chunks).toString(), req.headers.authorization)
          .then((r) => {
            res.writeHead(r.status, r.headers);
            res.end(r.body);
          })
          .catch((err: Error) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(err.message);
          });
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** An ID token as a CI system issues one to a pipeline job. */
  async ciToken(claims: Record<string, unknown>, audience: string, ttl = '10m'): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(this.url)
      .setAudience(audience)
      .setSubject(String(claims.sub ?? 'job'))
      .setIssuedAt()
      .setExpirationTime(ttl)
      .sign(this.privateKey!);
  }

  addUser(u: IdpUser): void {
    this.users.set(u.sub, u);
  }

  private json(status: number, body: unknown): { status: number; headers: Record<string, string>; body: string } {
    return { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) };
  }

  private async idToken(u: IdpUser, nonce?: string): Promise<string> {
    return new SignJWT({ email: u.email, name: u.name, groups: u.groups, ...(nonce ? { nonce } : {}) })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(this.url)
      .setAudience(this.clientId)
      .setSubject(u.sub)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(this.privateKey!);
  }

  private async route(
    method: string,
    url: URL,
    body: string,
    authorization?: string,
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    if (url.pathname === '/.well-known/openid-configuration') {
      return this.json(200, {
        issuer: this.url,
        authorization_endpoint: `${this.url}/authorize`,
        token_endpoint: `${this.url}/token`,
        jwks_uri: `${this.url}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      });
    }
    if (url.pathname === '/jwks') return this.json(200, { keys: [this.jwk] });
    if (url.pathname === '/authorize' && method === 'GET') {
      const q = url.searchParams;
      const redirect = q.get('redirect_uri') ?? '';
      if (
        q.get('client_id') !== this.clientId ||
        q.get('response_type') !== 'code' ||
        q.get('code_challenge_method') !== 'S256' ||
        !q.get('code_challenge') ||
        !q.get('state') ||
        !q.get('nonce')
      ) {
        return this.json(400, { error: 'invalid_request', seen: Object.fromEntries(q) });
      }
      const back = new URL(redirect);
      back.searchParams.set('state', q.get('state')!);
      const u = this.current ? this.users.get(this.current) : undefined;
      if (!u || u.disabled) back.searchParams.set('error', 'access_denied');
      else {
        const code = randomBytes(16).toString('hex');
        this.codes.set(code, {
          sub: u.sub,
          redirectUri: redirect,
          challenge: this.breakPkce ? 'x' : q.get('code_challenge')!,
          nonce: this.wrongNonce ? 'not-the-nonce' : q.get('nonce')!,
        });
        back.searchParams.set('code', code);
      }
      return { status: 302, headers: { location: back.href }, body: '' };
    }
    if (url.pathname === '/token' && method === 'POST') {
      const f = new URLSearchParams(body);
      let id = f.get('client_id');
      let secret = f.get('client_secret');
      if (authorization?.startsWith('Basic '))
        [id, secret] = Buffer.from(authorization.slice(6), 'base64').toString().split(':').map(decodeURIComponent) as [string, string];
      if (id !== this.clientId || secret !== this.clientSecret) return this.json(401, { error: 'invalid_client' });
      if (f.get('grant_type') === 'authorization_code') {
        const c = this.codes.get(f.get('code') ?? '');
        this.codes.delete(f.get('code') ?? '');
        if (!c || c.redirectUri !== f.get('redirect_uri')) return this.json(400, { error: 'invalid_grant' });
        const verifier = f.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== c.challenge)
          return this.json(400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
        const u = this.users.get(c.sub)!;
        const rt = randomBytes(16).toString('hex');
        this.refresh.set(rt, u.sub);
        return this.json(200, {
          access_token: randomBytes(16).toString('hex'),
          token_type: 'Bearer',
          expires_in: 600,
          refresh_token: rt,
          id_token: await this.idToken(u, c.nonce),
        });
      }
      if (f.get('grant_type') === 'refresh_token') {
        this.refreshGrants++;
        const sub = this.refresh.get(f.get('refresh_token') ?? '');
        const u = sub ? this.users.get(sub) : undefined;
        if (!u || u.disabled) return this.json(400, { error: 'invalid_grant', error_description: 'user is not active' });
        this.refresh.delete(f.get('refresh_token')!);
        const rt = randomBytes(16).toString('hex');
        this.refresh.set(rt, u.sub);
        return this.json(200, {
          access_token: randomBytes(16).toString('hex'),
          token_type: 'Bearer',
          expires_in: 600,
          refresh_token: rt,
          id_token: await this.idToken(u),
        });
      }
      return this.json(400, { error: 'unsupported_grant_type' });
    }
    return this.json(404, { error: 'not_found' });
  }
}
