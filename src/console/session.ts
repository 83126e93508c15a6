// Console sessions: a signed cookie (HMAC-SHA256), so any replica holding the same secret can
// check it without a table. It names who signed in, their role and a CSRF token, and expires.
// HttpOnly (page scripts cannot read it), SameSite=Strict (other sites' forms do not carry it),
// and a change needs the CSRF token as a header too, which only the console's own page has.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type Role = 'admin' | 'read';

export interface ConsoleSession {
  /** Who: an email or subject from the IdP, or "admin-token". */
  sub: string;
  role: Role;
  /** Expiry, epoch ms. */
  exp: number;
  csrf: string;
}

export const COOKIE = 'tg_console';
/** The short-lived cookie carrying the IdP round trip's state, PKCE verifier and nonce. */
export const FLOW_COOKIE = 'tg_console_flow';

export class SessionSigner {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = createHash('sha256').update(`tollgate console sessions\0${secret}`).digest();
  }

  /** A random key when no secret is configured: sessions end with the process. */
  static random(): SessionSigner {
    return new SessionSigner(randomBytes(32).toString('hex'));
  }

  sign(payload: object): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${createHmac('sha256', this.key).update(body).digest('base64url')}`;
  }

  /** The payload if the signature holds, else null. */
  verify(value: string): Record<string, unknown> | null {
    const dot = value.lastIndexOf('.');
    if (dot <= 0) return null;
    const body = value.slice(0, dot);
    const mac = Buffer.from(value.slice(dot + 1), 'base64url');
    const want = createHmac('sha256', this.key).update(body).digest();
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null;
    try {
      const p: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }

  newSession(sub: string, role: Role, ttlMs: number, now: number): { session: ConsoleSession; value: string } {
    const session: ConsoleSession = { sub, role, exp: now + ttlMs, csrf: randomBytes(18).toString('base64url') };
    return { session, value: this.sign(session) };
  }

  session(req: IncomingMessage, now: number): ConsoleSession | null {
    const raw = cookie(req, COOKIE);
    if (!raw) return null;
    const p = this.verify(raw);
    if (!p || typeof p.sub !== 'string' || (p.role !== 'admin' && p.role !== 'read') || typeof p.exp !== 'number' || typeof p.csrf !== 'string') return null;
    if (p.exp <= now) return null;
    return { sub: p.sub, role: p.role, exp: p.exp, csrf: p.csrf };
  }
}

export function cookie(req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export function setCookie(name: string, value: string, o: { maxAgeS: number; secure: boolean; path?: string }): string {
  return `${name}=${value}; Path=${o.path ?? '/'}; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(o.maxAgeS))}${o.secure ? '; Secure' : ''}`;
}

export function sameSecret(a: string, b: string): boolean {
  // Compare digests so the comparison takes the same time whatever the lengths.
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}
