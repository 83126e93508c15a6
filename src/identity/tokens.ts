// Tokens for signed-in engineers. The access token is a JWT (Claude Code reads its exp and sub
// without verifying it) signed with a server secret; the gateway itself recognises it the way
// it recognises a virtual key, by the SHA-256 of the whole token, so checking one costs a hash
// and a map lookup on the request path. Refresh tokens are random, single-use and rotated.
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { hashKey } from '../identity/keys.js';
import type { KeyRecord, SignInSession, Store } from '../store/types.js';

export interface IssuedTokens {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  email?: string;
}

/** What a bearer token resolves to. */
export type TokenCheck = { ok: true; key: KeyRecord } | { ok: false; code: 'TG_TOKEN_EXPIRED' | 'TG_REVOKED_KEY' } | null;

/** The team a user's groups map to: the first mapped group, in the config's order. */
export function teamFor(groups: string[], map: Record<string, string>): string | null {
  for (const [group, team] of Object.entries(map)) if (groups.includes(group)) return team;
  return null;
}

/** The identity a session acts as, in the shape every endpoint already takes (a key record):
 * the user is the IdP's email (else its subject), the team from the groups. */
export function sessionIdentity(s: SignInSession): KeyRecord {
  return {
    id: s.id,
    hash: '',
    prefix: '',
    name: 'sign-in',
    user: s.email ?? s.subject,
    team: s.team,
    project: null,
    created_at: s.created_at,
    last_used_at: null,
    revoked_at: s.revoked_at,
    groups: s.groups,
    kind: 'session',
  };
}

const MAX_CACHED = 100_000;

export class SessionTokens {
  private readonly cache = new Map<string, { key: KeyRecord; expires: number; revoked: boolean }>();
  private version = -1;
  private secret: Uint8Array | null = null;

  constructor(
    private readonly store: Store,
    private readonly ttl: { access: number; refresh: number },
    private readonly issuer: string,
    private readonly billingGroupTag: string | null = null,
  ) {}

  private key(): Uint8Array {
    this.secret ??= Buffer.from(
      this.store.secret('access_token_hs256', () => randomBytes(32).toString('base64url')),
      'base64url',
    );
    return this.secret;
  }

  /** A new access and refresh token for a session. */
  async issue(s: SignInSession, now: number): Promise<IssuedTokens> {
    const user = s.email ?? s.subject;
    const access = await new SignJWT({ email: s.email ?? undefined, name: s.name ?? undefined, billing_group_tag: this.billingGroupTag ?? undefined })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(user)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + this.ttl.access)
      .sign(this.key());
    const refresh = 'tgr_' + randomBytes(32).toString('base64url');
    this.store.insertToken({
      hash: hashKey(access),
      session_id: s.id,
      kind: 'access',
      expires_at: now + this.ttl.access * 1000,
      used_at: null,
      revoked_at: null,
    });
    this.store.insertToken({
      hash: hashKey(refresh),
      session_id: s.id,
      kind: 'refresh',
      expires_at: now + this.ttl.refresh * 1000,
      used_at: null,
      revoked_at: null,
    });
    return { access_token: access, token_type: 'Bearer', expires_in: this.ttl.access, refresh_token: refresh, ...(s.email ? { email: s.email } : {}) };
  }

  /** On the gateway's poll: a revocation or a changed session (here or on another replica)
   * makes it forget what it knew. */
  poll(): void {
    const v = this.store.versions().sessions;
    if (v === this.version) return;
    this.cache.clear();
    this.version = v;
  }

  /** Forgets what it knew now (after a revocation through this gateway). */
  forget(): void {
    this.cache.clear();
  }

  /** Resolves a bearer by its hash: null when it is no access token of this gateway. */
  check(hash: string, now: number): TokenCheck {
    let hit = this.cache.get(hash);
    if (!hit) {
      const t = this.store.findToken(hash);
      if (!t || t.kind !== 'access') return null;
      const s = this.store.findSession(t.session_id);
      if (!s) return null;
      hit = { key: sessionIdentity(s), expires: t.expires_at, revoked: t.revoked_at !== null || s.revoked_at !== null };
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(hash, hit);
    }
    if (hit.revoked) return { ok: false, code: 'TG_REVOKED_KEY' };
    if (now >= hit.expires) return { ok: false, code: 'TG_TOKEN_EXPIRED' };
    return { ok: true, key: hit.key };
  }
}
