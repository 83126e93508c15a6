// Workload identity for CI: a pipeline's OIDC ID token (GitHub Actions, GitLab CI…) used as the
// bearer, so pipelines need no long-lived key. Verified with jose against the issuer's published
// keys (issuer, audience, expiry), then by the configured claim rules; a verified token is
// remembered by its hash until it expires, so only its first use pays for the check.
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config/schema.js';
import type { KeyRecord } from '../store/types.js';

type CiRule = Config['auth']['ci'][number];

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
  return re.test(value);
}

function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

const MAX_REMEMBERED = 10_000;

export class CiIdentities {
  private readonly jwks = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
  private readonly verified = new Map<string, { key: KeyRecord; exp: number }>();

  constructor(private readonly rules: CiRule[]) {}

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  /** A CI token already verified and unexpired, by its hash (the request path's sync check). */
  known(hash: string, now: number): KeyRecord | null {
    const v = this.verified.get(hash);
    if (!v) return null;
    if (now >= v.exp) {
      this.verified.delete(hash);
      return null;
    }
    return v.key;
  }

  /** Verifies a bearer that may be a CI token: the identity, or null (not one of ours, or refused). */
  async verify(token: string, hash: string): Promise<KeyRecord | null> {
    if (!looksLikeJwt(token)) return null;
    let iss: string | undefined;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return null;
    }
    const candidates = this.rules.filter((r) => r.issuer.replace(/\/+$/, '') === iss?.replace(/\/+$/, ''));
    for (const rule of candidates) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, await this.keys(rule.issuer), { issuer: iss, audience: rule.audience }));
      } catch {
        continue;
      }
      const claims = payload as Record<string, unknown>;
      if (!Object.entries(rule.claims).every(([k, pattern]) => typeof claims[k] === 'string' && glob(pattern, claims[k] as string))) continue;
      const user = rule.user.replace(/\{([^}]+)\}/g, (_, k: string) => (typeof claims[k] === 'string' ? (claims[k] as string) : ''));
      const key: KeyRecord = {
        id: `ci:${user}`,
        hash: '',
        prefix: '',
        name: 'ci token',
        user,
        team: rule.team ?? null,
        project: rule.project ?? null,
        created_at: 0,
        last_used_at: null,
        revoked_at: null,
        kind: 'ci',
      };
      if (this.verified.size >= MAX_REMEMBERED) this.verified.clear();
      this.verified.set(hash, { key, exp: (payload.exp ?? 0) * 1000 });
      return key;
    }
    return null;
  }

  /** The issuer's signing keys, found through its OIDC discovery document (cached by jose). */
  private async keys(issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    let set = this.jwks.get(issuer);
    if (!set) {
      const res = await fetch(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
      if (!res.ok) throw new Error(`${issuer}: discovery answered ${res.status}`);
      const doc = (await res.json()) as { jwks_uri?: string };
      if (!doc.jwks_uri) throw new Error(`${issuer}: no jwks_uri in its discovery document`);
      set = createRemoteJWKSet(new URL(doc.jwks_uri));
      this.jwks.set(issuer, set);
    }
    return set;
  }
}
