// Sign-in state on SQLite: device grants, sessions and their tokens (hashes only).
import type Database from 'better-sqlite3';
import { DEVICE_GRANT_FIELDS, SESSION_FIELDS, type DeviceGrant, type SignInSession, type TokenRecord } from '../types.js';

type Row = Record<string, unknown>;

function setClause(patch: Record<string, unknown>, allowed: readonly string[]): { sql: string; values: unknown[] } {
  const keys = Object.keys(patch).filter((k) => allowed.includes(k));
  return { sql: keys.map((k) => `${k} = ?`).join(', '), values: keys.map((k) => patch[k]) };
}

function toSession(r: Row | undefined): SignInSession | undefined {
  return r ? ({ ...r, groups: JSON.parse(String(r.groups)) as string[] } as SignInSession) : undefined;
}

export class SignInTables {
  constructor(
    private readonly db: Database.Database,
    private readonly bump: () => void,
  ) {}

  insertGrant(g: DeviceGrant): void {
    this.db
      .prepare(
        `INSERT INTO device_grants (device_hash, ${DEVICE_GRANT_FIELDS.join(', ')}) VALUES (@device_hash, ${DEVICE_GRANT_FIELDS.map((f) => '@' + f).join(', ')})`,
      )
      .run(g);
  }

  findGrant(by: { deviceHash?: string; userCode?: string; state?: string }): DeviceGrant | undefined {
    const [col, v] =
      by.deviceHash !== undefined ? ['device_hash', by.deviceHash] : by.userCode !== undefined ? ['user_code', by.userCode] : ['state', by.state];
    if (v === undefined) return undefined;
    return this.db.prepare(`SELECT * FROM device_grants WHERE ${col} = ?`).get(v) as DeviceGrant | undefined;
  }

  updateGrant(deviceHash: string, patch: Partial<DeviceGrant>): void {
    const { sql, values } = setClause(patch, DEVICE_GRANT_FIELDS);
    if (sql) this.db.prepare(`UPDATE device_grants SET ${sql} WHERE device_hash = ?`).run(...values, deviceHash);
  }

  insertSession(s: SignInSession): void {
    this.db
      .prepare(`INSERT INTO sessions (id, ${SESSION_FIELDS.join(', ')}) VALUES (@id, ${SESSION_FIELDS.map((f) => '@' + f).join(', ')})`)
      .run({ ...s, groups: JSON.stringify(s.groups) });
  }

  findSession(id: string): SignInSession | undefined {
    return toSession(this.db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as Row | undefined);
  }

  updateSession(id: string, patch: Partial<SignInSession>): void {
    const p: Record<string, unknown> = { ...patch };
    if (patch.groups) p.groups = JSON.stringify(patch.groups);
    const { sql, values } = setClause(p, SESSION_FIELDS);
    if (!sql) return;
    this.db.transaction(() => {
      this.db.prepare(`UPDATE sessions SET ${sql} WHERE id = ?`).run(...values, id);
      this.bump();
    })();
  }

  insertToken(t: TokenRecord): void {
    this.db
      .prepare(
        'INSERT INTO tokens (hash, session_id, kind, expires_at, used_at, revoked_at) VALUES (@hash, @session_id, @kind, @expires_at, @used_at, @revoked_at)',
      )
      .run(t);
  }

  findToken(hash: string): TokenRecord | undefined {
    return this.db.prepare('SELECT * FROM tokens WHERE hash = ?').get(hash) as TokenRecord | undefined;
  }

  useToken(hash: string, at: number): boolean {
    return this.db.prepare('UPDATE tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL').run(at, hash).changes > 0;
  }

  revokeSession(id: string, at: number): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(at, id);
      this.db.prepare('UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE session_id = ?').run(at, id);
      this.bump();
    })();
  }

  revokeToken(hash: string, at: number): void {
    this.db.transaction(() => {
      if (this.db.prepare('UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE hash = ?').run(at, hash).changes) this.bump();
    })();
  }
}
