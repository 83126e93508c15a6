// Virtual keys. A key is 32 random bytes; only its SHA-256 is stored. A fast hash is right
// here (unlike passwords): a 256-bit random secret cannot be brute-forced, and a slow hash
// would cost milliseconds on every request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyRecord, Store } from '../store/types.js';

export const KEY_PREFIX = 'tg_';

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newKeyId(): string {
  return `key_${randomBytes(8).toString('hex')}`;
}

export interface NewKey {
  secret: string;
  record: KeyRecord;
}

export function mintKey(
  input: { user: string; team?: string | null; project?: string | null; name?: string | null; expiresAt?: number | null },
  now: number,
): NewKey {
  const secret = KEY_PREFIX + randomBytes(32).toString('base64url');
  return {
    secret,
    record: {
      id: newKeyId(),
      hash: hashKey(secret),
      prefix: secret.slice(0, KEY_PREFIX.length + 6),
      name: input.name ?? null,
      user: input.user,
      team: input.team ?? null,
      project: input.project ?? null,
      created_at: now,
      last_used_at: null,
      revoked_at: null,
      expires_at: input.expiresAt ?? null,
    },
  };
}

/** Reads the credential Claude Code sends: ANTHROPIC_AUTH_TOKEN as a Bearer token,
 * ANTHROPIC_API_KEY as x-api-key, apiKeyHelper as both. */
export function credentialsFrom(headers: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m?.[1]) out.push(m[1].trim());
  }
  const xk = headers['x-api-key'];
  if (typeof xk === 'string' && xk.trim() && !out.includes(xk.trim())) out.push(xk.trim());
  return out;
}

export type AuthResult =
  { ok: true; key: KeyRecord } | { ok: false; code: 'TG_NO_KEY' | 'TG_UNKNOWN_KEY' | 'TG_REVOKED_KEY' | 'TG_TOKEN_EXPIRED' | 'TG_KEY_EXPIRED' };

/** Bearer tokens other than virtual keys (sign-in sessions): resolved by the token's hash. */
export interface TokenAuthority {
  check(hash: string, now: number): { ok: true; key: KeyRecord } | { ok: false; code: 'TG_TOKEN_EXPIRED' | 'TG_REVOKED_KEY' } | null;
  poll(): void;
}

/** Tokens verified against someone else's keys (CI ID tokens): a sync look at those already
 * verified, and an async verification for a new one. */
export interface WorkloadAuthority {
  readonly enabled: boolean;
  known(hash: string, now: number): KeyRecord | null;
  verify(token: string, hash: string): Promise<KeyRecord | null>;
}

/** In-memory view of the key table, refreshed when another process (the CLI, the admin API
 * of another replica) changes the store, so a revocation takes effect within one poll. */
export class KeyRing {
  private byHash = new Map<string, KeyRecord>();
  private token = -1;

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenAuthority | null = null,
    private readonly now: () => number = Date.now,
    private readonly workloads: WorkloadAuthority | null = null,
  ) {
    this.reload();
  }

  reload(): void {
    // The counter first: a change that lands while the keys are read is seen at the next poll.
    this.token = this.store.versions().keys;
    const m = new Map<string, KeyRecord>();
    for (const k of this.store.listKeys()) m.set(k.hash, k);
    this.byHash = m;
  }

  /** Cheap check (one counter read); reloads only when keys changed underneath. */
  poll(): void {
    if (this.store.versions().keys !== this.token) this.reload();
    this.tokens?.poll();
  }

  /** Who a request is: a virtual key, a signed-in engineer's token, or a CI token. Keys and
   * sign-in tokens resolve from memory; only a CI token not seen before waits (for its issuer's
   * keys). */
  async authenticate(headers: Record<string, string | string[] | undefined>): Promise<AuthResult> {
    const r = this.authenticateKnown(headers);
    if (r.ok || !this.workloads?.enabled || r.code !== 'TG_UNKNOWN_KEY') return r;
    for (const c of credentialsFrom(headers)) {
      const key = await this.workloads.verify(c, hashKey(c));
      if (key) return { ok: true, key };
    }
    return r;
  }

  private authenticateKnown(headers: Record<string, string | string[] | undefined>): AuthResult {
    const creds = credentialsFrom(headers);
    if (creds.length === 0) return { ok: false, code: 'TG_NO_KEY' };
    let revoked = false;
    let expired = false;
    let keyExpired = false;
    for (const c of creds) {
      const h = hashKey(c);
      let k = this.byHash.get(h);
      if (!k) {
        // A key minted since the last poll: one indexed lookup, then cached.
        k = this.store.findKeyByHash(h);
        if (k) this.byHash.set(h, k);
      }
      if (!k) {
        // Not a virtual key: a signed-in engineer's access token?
        const t = this.tokens?.check(h, this.now()) ?? null;
        if (t?.ok) return t;
        const ci = this.workloads?.known(h, this.now());
        if (ci) return { ok: true, key: ci };
        if (t?.code === 'TG_TOKEN_EXPIRED') expired = true;
        if (t?.code === 'TG_REVOKED_KEY') revoked = true;
        continue;
      }
      // Map lookup already matched the hash; compare in constant time anyway as defence in depth.
      if (!timingSafeEqual(Buffer.from(k.hash, 'hex'), Buffer.from(h, 'hex'))) continue;
      if (k.revoked_at !== null) {
        revoked = true;
        continue;
      }
      if (k.expires_at !== null && k.expires_at !== undefined && this.now() >= k.expires_at) {
        keyExpired = true;
        continue;
      }
      return { ok: true, key: k };
    }
    return { ok: false, code: expired ? 'TG_TOKEN_EXPIRED' : revoked ? 'TG_REVOKED_KEY' : keyExpired ? 'TG_KEY_EXPIRED' : 'TG_UNKNOWN_KEY' };
  }
}
